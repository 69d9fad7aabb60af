"""What every room of the house shares: the threshold τ's defaults, the contract of a long job,
the one learning-rate schedule, the one way to write a file (atomically) and the one way to hash
one. Light imports only (the CLI's parser reads τ from here)."""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# τ on the predicted invertibility (§3.2): the official default for cars and the slider range of the official sweep
TAU_DEFAULT = 0.225
TAU_MIN = 0.10
TAU_MAX = 0.40

_CHUNK = 1 << 20

# ---- the contract of every long core job ---------------------------------------------------------
# Inversion, PTI, StyleCLIP, GANSpace, invertibility targets, demo training: each takes
#   on_step(step, total, info, preview)  after every step (info: losses or counts; preview: a
#                                        function rendering the current result, or None), and
#   should_stop()                        polled between steps.
# A stopped job returns what it has: the best result so far, marked cancelled (inversion,
# StyleCLIP), what it finished (targets, training), or None where a partial result means
# nothing (GANSpace's PCA). Jobs print nothing; progress bars live in the CLI (`StepBar`).
PreviewFn = Callable[..., Any]  # () → the current result; inversions also take (delta_w) → it edited
OnStep = Callable[[int, int, Mapping[str, Any], "PreviewFn | None"], None]
ShouldStop = Callable[[], bool]


class StepBar:
    """A tqdm bar on stderr driven by a job's `on_step`; `postfix` names an info key to show.
    tqdm is imported when the first step arrives. Use as a context manager (closes the bar)."""

    def __init__(self, desc: str, unit: str = "step", postfix: str | None = None, leave: bool = False) -> None:
        self.desc, self.unit, self.postfix, self.leave = desc, unit, postfix, leave
        self.bar: Any = None

    def __call__(self, step: int, total: int, info: Mapping[str, Any] | None = None, _preview: PreviewFn | None = None) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, leave=self.leave)
        self.bar.update(step - self.bar.n)
        if self.postfix and info and self.postfix in info:
            self.bar.set_postfix({self.postfix: f"{info[self.postfix]:.4g}"}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> StepBar:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def ramped_lr(t: float, peak: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """The learning-rate schedule of the StyleGAN2 projector, which the official SAM inversion and
    StyleCLIP's latent optimisation share: at progress t = step / steps, a linear ramp from 0 over
    the first `rampup` of the run, flat at `peak`, then a half cosine down to 0 over the last
    `rampdown`. Note lr = 0 at t = 0 (the official quirk)."""
    up = min(1.0, t / rampup) if rampup > 0 else 1.0
    down = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    return peak * up * (0.5 - 0.5 * math.cos(math.pi * down))


def atomic_write(path: str | os.PathLike, data: bytes | str | Callable[[Path], object]) -> Path:
    """Write `path` through a temporary file in the same folder and rename it into place, so a
    crash, a cancel or a full disk never leaves a half-written file under the final name.

    `data` is the bytes (or text, UTF-8) to write, or a function that writes the temporary path it
    is given (``lambda p: torch.save(obj, p)``); the temporary name keeps the final suffix, so
    writers that add one (``np.savez``) leave it alone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, name = tempfile.mkstemp(prefix=f"{_temp_head(path)}{os.getpid()}.", suffix=path.suffix, dir=path.parent)
    tmp = Path(name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are plain data files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _remove_stale_temps(path: Path) -> None:
    """Temporary files a killed writer of `path` left behind (kill -9, power cut): they carry
    the writer's pid (`.<stem>.<pid>.<random><suffix>`) and are removed once that process is
    gone, so the folder holds no litter after the next save of the same file."""
    head = _temp_head(path)
    try:
        siblings = [p for p in path.parent.iterdir() if p.name.startswith(head) and p.name.endswith(path.suffix)]
    except OSError:
        return
    for p in siblings:
        pid = p.name[len(head) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            p.unlink(missing_ok=True)


def _temp_head(path: Path) -> str:
    """'.<stem>.' with the stem cut to 100 bytes: a temporary name stays within the file
    system's 255 bytes even when the final name nearly fills them."""
    stem = path.stem.encode()[:100].decode("utf-8", errors="ignore")
    return f".{stem}."


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def sha256_file(path: str | os.PathLike, h: hashlib._Hash | None = None) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks; `h` continues an existing hasher."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------- torch files
UNSAFE_FILE = "this file is not a checkpoint SAM Editor can read safely; it may contain code"


class UnreadableFile(ValueError):
    """A file handed to us that cannot be read; the message is for the user as is."""


def safe_torch_load(source: str | os.PathLike | bytes, what: str = "checkpoint", allow: tuple[type, ...] = ()) -> object:
    """torch.load with `weights_only=True` (plus the classes in `allow`) and our own words on
    refusal: a pickle asking for anything else is `UNSAFE_FILE` — never torch's advice to rerun
    with weights_only=False, which is exactly the wrong thing to do with that file — and a
    damaged file says so. `source` is a path or the file's bytes; `what` names it."""
    import io
    import pickle
    import warnings

    import torch

    name = f"“{Path(source).name}”" if not isinstance(source, bytes) else f"the {what}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.serialization.safe_globals(list(allow)):
                return torch.load(io.BytesIO(source) if isinstance(source, bytes) else source, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise UnreadableFile(f"{name}: no such file") from exc
    except IsADirectoryError as exc:
        raise UnreadableFile(f"{name} is a folder, not a {what}") from exc
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if any(w in text for w in ("GLOBAL", "global", "Unsupported class", "REDUCE", "BUILD", "persistent_load")):
            raise UnreadableFile(f"{name}: {UNSAFE_FILE}") from exc
        raise UnreadableFile(f"{name} is not a readable {what} (damaged, or not a PyTorch file)") from exc
    except MemoryError as exc:
        raise UnreadableFile(f"{name} claims more memory than this machine has; it is not a usable {what}") from exc
    except Exception as exc:  # torch raises many types for truncated or foreign files
        first = next((ln for ln in str(exc).splitlines() if ln.strip() and "weights_only" not in ln), "").split(". ")[0][:160]
        raise UnreadableFile(f"{name} is not a readable {what} (damaged or truncated: {type(exc).__name__}{': ' + first if first else ''})") from exc

