"""What the session reads and writes (Qt-free): photos, PNG exports, project files.

Every reader returns a value or a `Problem` the window can show as is: photos from the wild
are corrupt, enormous, 16-bit, CMYK, grey, transparent or behind a non-ASCII path, and none of
that may reach the user as a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPO_ROOT / "resources" / "samples"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_PIXELS = 64_000_000  # decoded at full size up to this (8000 × 8000); JPEGs above it load reduced


@dataclasses.dataclass(frozen=True)
class Problem:
    """An error as a value: a short title and a sentence for the user."""

    title: str
    message: str

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


# ----------------------------------------------------------------------------------- photos
@dataclasses.dataclass(frozen=True)
class SourceImage:
    """A decoded photo. rgb: (H, W, 3) uint8 (possibly reduced on load); size: the file's (W, H)."""

    rgb: np.ndarray
    path: Path | None
    size: tuple[int, int]
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "untitled"


def read_image(path: str | os.PathLike) -> SourceImage | Problem:
    """Decode any common photo to 8-bit RGB, saying what was converted on the way."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    name = path.name
    if not path.is_file():
        return Problem("File not found", f"“{name}” does not exist or is not a file.")
    notes: list[str] = []
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                if im.format != "JPEG":
                    return Problem(
                        "Image too large",
                        f"“{name}” is {w} × {h} pixels ({w * h / 1e6:.0f} Mpx); the limit is "
                        f"{MAX_PIXELS / 1e6:.0f} Mpx. Scale it down in another program first.",
                    )
                im.draft("RGB", (w // 8, h // 8))  # JPEG decodes at 1/2…1/8 size directly
                notes.append(f"reduced to {im.size[0]} × {im.size[1]} while loading")
            raw = str(im.tile[0][3]) if im.tile else ""  # the file's pixel layout, e.g. 'RGB;16B'
            im.load()
            if "16" in raw and im.mode in ("RGB", "RGBA"):
                notes.append("16-bit image reduced to 8 bits")
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb8(im, notes)
    except Image.DecompressionBombError:
        return Problem("Image too large", f"“{name}” claims a size over {MAX_PIXELS / 1e6:.0f} Mpx and was not opened.")
    except UnidentifiedImageError:
        return Problem("Not an image", f"“{name}” is not an image file this app can read (PNG, JPEG, TIFF, BMP, WebP).")
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        return Problem("Could not read the image", f"“{name}” is damaged or truncated ({exc}).")
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        return Problem("Image too small", f"“{name}” is only {rgb.shape[1]} × {rgb.shape[0]} pixels.")
    return SourceImage(np.ascontiguousarray(rgb), path, (w, h), tuple(notes))


def _to_rgb8(im: Any, notes: list[str]) -> np.ndarray:
    """PIL image of any mode → (H, W, 3) uint8."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if (mode.startswith("I;16") or a.max() > 255) else 255.0
        notes.append("16-bit image reduced to 8 bits" if top > 255 else "converted from integer grey")
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        return np.asarray(im.convert("RGB"))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        notes.append("transparency flattened onto white")
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3:] / 255.0
        return (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    if mode in ("L", "1"):
        notes.append("greyscale shown as RGB")
    return np.asarray(im.convert("RGB"))


def fit_to_frame(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Centre-crop to the generator's aspect ratio and resize to `size` = (H, W).
    → (image (H, W, 3) uint8, crop (top, left, height, width) in the input's pixels)."""
    fh, fw = size
    h, w = rgb.shape[:2]
    if w * fh > h * fw:  # too wide
        cw, ch = max(1, round(h * fw / fh)), h
    else:
        cw, ch = w, max(1, round(w * fh / fw))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = rgb[top : top + ch, left : left + cw]
    interp = cv2.INTER_AREA if ch > fh else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(crop, (fw, fh), interpolation=interp)), (top, left, ch, cw)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """A generator image (3, H, W) in [-1, 1] → (H, W, 3) uint8."""
    x = (img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    return np.ascontiguousarray(x.round().to(torch.uint8).permute(1, 2, 0).numpy())


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> Path | Problem:
    """Write RGB uint8 as PNG (atomic, any path, non-ASCII included)."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        return Problem("Export failed", "The image could not be encoded as PNG.")
    try:
        _atomic_write(path, buf.tobytes())
    except OSError as exc:
        return Problem("Export failed", f"Could not write “{path.name}”: {exc.strerror or exc}.")
    return path


def export_images(path: str | os.PathLike, names: list[str], images: list[np.ndarray], source_crop: np.ndarray | None) -> Path | Problem:
    """One PNG of `images` side by side (one image: just it). With `source_crop` (the photo's
    crop at full size) everything is brought to that size and the photo itself replaces the
    generator-sized source."""
    if source_crop is not None:
        h, w = source_crop.shape[:2]
        images = [source_crop if n == "source" else cv2.resize(im, (w, h), interpolation=cv2.INTER_CUBIC) for n, im in zip(names, images, strict=True)]
    if len(images) > 1:
        gap = np.full((images[0].shape[0], max(4, images[0].shape[1] // 64), 3), 255, np.uint8)
        parts: list[np.ndarray] = []
        for im in images:
            parts += [im, gap]
        out = np.concatenate(parts[:-1], axis=1)
    else:
        out = images[0]
    return write_png(path, out)


def sample_images() -> list[Path]:
    return sorted(SAMPLES_DIR.glob("*.png"))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
        _atomic_write(path, buf.getvalue())
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


def encode_png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
