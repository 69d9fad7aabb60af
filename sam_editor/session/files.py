"""What the session reads and writes (Qt-free): photos, PNG exports, project files.

Every reader returns a value or a `Problem` the window can show as is: photos from the wild
are corrupt, enormous, 16-bit, CMYK, grey, transparent or behind a non-ASCII path, and none of
that may reach the user as a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..imageio import (  # noqa: F401  (re-exported for the session's callers)
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    Placement,
    Problem,
    SourceImage,
    atomic_write,
    encode_png,
    letterbox,
    read_image,
    write_png,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPO_ROOT / "resources" / "samples"


# ----------------------------------------------------------------------------------- photos
# One reader and one writer for the whole app live in `sam_editor.imageio`; the session's
# callers keep importing them from here.


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """A generator image (3, H, W) in [-1, 1] → (H, W, 3) uint8."""
    x = (img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    return np.ascontiguousarray(x.round().to(torch.uint8).permute(1, 2, 0).numpy())


def sample_images() -> list[Path]:
    return sorted(SAMPLES_DIR.glob("*.png"))


# ----------------------------------------------------------------------------------- projects
PROJECT_FORMAT = "sam-editor-project"
PROJECT_VERSION = 1


def write_project(path: str | os.PathLike, state: dict[str, Any], source_png: bytes, phi: Any | None, tensors: dict[str, torch.Tensor]) -> Path | Problem:
    """A project is one zip: project.json, source.png (the photo, lossless), phi.pt (φ) and
    tensors.pt (StyleCLIP directions) — all loadable without executing anything."""
    import io
    import zipfile

    path = Path(path)
    buf = io.BytesIO()
    try:
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("project.json", json.dumps({"format": PROJECT_FORMAT, "version": PROJECT_VERSION, **state}, indent=1))
            z.writestr("source.png", source_png)
            if phi is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    z.write(phi.save(Path(tmp) / "phi.pt"), "phi.pt")
            if tensors:
                tb = io.BytesIO()
                torch.save({k: v.detach().cpu() for k, v in tensors.items()}, tb)
                z.writestr("tensors.pt", tb.getvalue())
        atomic_write(path, buf.getvalue())
    except OSError as exc:
        return Problem("Could not save the project", f"“{path.name}”: {exc.strerror or exc}.")
    return path


MAX_MEMBER_BYTES = 2 * 1024**3  # no member of a project may unpack to more (a zip bomb)


def read_project(path: str | os.PathLike) -> tuple[Any, np.ndarray, Any | None, dict[str, torch.Tensor]] | Problem:
    """→ (state as a `schema.ProjectModel`, photo RGB, φ or None, tensors) or a Problem.

    Everything is read and checked here before the caller changes anything: the JSON against
    the typed schema (`sam_editor.schema`), the photo's size before it is decoded, φ and the
    tensors through `weights_only` loading (a pickle that wants to run code is refused)."""
    import zipfile

    from ..inversion.phi import Phi
    from ..schema import FileFormatError, ProjectModel, check_format, load_json, parse

    path = Path(path)
    name = path.name
    damaged = lambda why: Problem("Could not open the project", f"“{name}” is damaged or not a SAM Editor project: {why}.")  # noqa: E731
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename: i for i in z.infolist()}
            for need in ("project.json", "source.png"):
                if need not in members:
                    return damaged(f"it has no {need}")
            big = [i.filename for i in members.values() if i.file_size > MAX_MEMBER_BYTES]
            if big:
                return damaged(f"{big[0]} would unpack to {members[big[0]].file_size / 1e9:.1f} GB")
            text = z.read("project.json")
            data = load_json(text, "project.json")
            try:
                check_format(data, PROJECT_FORMAT, PROJECT_VERSION, f"“{name}”", "project")
            except FileFormatError as exc:
                title = "Newer project" if "newer" in str(exc) else "Not a project"
                return Problem(title, str(exc) + ".")
            state = parse(ProjectModel, text, "project.json")
            png = z.read("source.png")
            size = _png_size(png)
            if size is None:
                return Problem("Damaged project", f"The photo inside “{name}” is not a PNG.")
            if size[0] * size[1] > MAX_PIXELS or min(size) < 1:
                return Problem("Damaged project", f"The photo inside “{name}” claims {size[0]} × {size[1]} pixels.")
            bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                return Problem("Damaged project", f"The photo inside “{name}” cannot be decoded.")
            phi = None
            if "phi.pt" in members:
                with tempfile.TemporaryDirectory() as tmp:
                    phi = Phi.load(Path(z.extract("phi.pt", tmp)))
            tensors: dict[str, torch.Tensor] = {}
            if "tensors.pt" in members:
                tensors = _load_tensors(z.read("tensors.pt"))
    except FileFormatError as exc:
        return damaged(str(exc))
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, RuntimeError, cv2.error) as exc:
        return damaged(f"{type(exc).__name__}: {str(exc)[:200]}")
    return state, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), phi, tensors


def check_labels_header(labels_png: str, width: int, height: int) -> None:
    """A latent map's label image (base64 PNG) must claim the map's own size before it is
    decoded: a header claiming 60 000² pixels would otherwise be allocated. ValueError if not."""
    import base64
    import binascii

    try:
        head = base64.b64decode(labels_png[:32], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("its latent map's label image is not base64") from exc
    if _png_size(head) != (width, height):
        raise ValueError(f"its latent map's label image is not the {width} × {height} PNG the map says")


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(W, H) from a PNG's IHDR, without decoding it; None when it is not a PNG."""
    import struct

    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def _load_tensors(blob: bytes) -> dict[str, torch.Tensor]:
    """tensors.pt of a project: a flat {name: tensor} read with `weights_only=True`; anything
    else (a pickle that wants to run code included) is a ValueError in our own words."""
    from ..util import safe_torch_load

    d = safe_torch_load(blob, "tensors.pt")  # UnreadableFile (a ValueError) in our words
    if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items()):
        raise ValueError("its tensors file does not hold named tensors")
    return d
