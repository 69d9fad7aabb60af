"""What the session reads and writes (Qt-free): photos, PNG exports, project files.

Every reader returns a value or a `Problem` the window can show as is: photos from the wild
are corrupt, enormous, 16-bit, CMYK, grey, transparent or behind a non-ASCII path, and none of
that may reach the user as a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
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


def read_project(path: str | os.PathLike) -> tuple[dict[str, Any], np.ndarray, Any | None, dict[str, torch.Tensor]] | Problem:
    """→ (state, photo RGB, φ or None, tensors) or a Problem."""
    import io
    import zipfile

    from ..inversion.phi import Phi

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            state = json.loads(z.read("project.json"))
            if state.get("format") != PROJECT_FORMAT:
                return Problem("Not a project", f"“{path.name}” is not a SAM Editor project.")
            if int(state.get("version", 0)) > PROJECT_VERSION:
                return Problem("Newer project", f"“{path.name}” was written by a newer SAM Editor.")
            bgr = cv2.imdecode(np.frombuffer(z.read("source.png"), np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                return Problem("Damaged project", f"The photo inside “{path.name}” cannot be decoded.")
            phi = None
            if "phi.pt" in z.namelist():
                with tempfile.TemporaryDirectory() as tmp:
                    phi = Phi.load(Path(z.extract("phi.pt", tmp)))
            tensors = {}
            if "tensors.pt" in z.namelist():
                tensors = torch.load(io.BytesIO(z.read("tensors.pt")), map_location="cpu", weights_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RuntimeError) as exc:
        return Problem("Could not open the project", f"“{path.name}” is damaged or not a project ({exc}).")
    return state, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), phi, tensors
