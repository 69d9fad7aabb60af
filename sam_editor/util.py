"""What every room of the house shares: the threshold τ's defaults, the one way to write a file
(atomically) and the one way to hash one. Light imports only (the CLI's parser reads τ from here)."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# τ on the predicted invertibility (§3.2): the official default for cars and the slider range of the official sweep
TAU_DEFAULT = 0.225
TAU_MIN = 0.10
TAU_MAX = 0.40

_CHUNK = 1 << 20


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
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
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


def sha256_file(path: str | os.PathLike, h: hashlib._Hash | None = None) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks; `h` continues an existing hasher."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
