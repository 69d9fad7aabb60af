"""Image files ↔ generator-sized tensors in [-1, 1], and the metrics of Table 4.1."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from ..imageio import IMAGE_SUFFIXES, Placement, Problem, SourceImage, letterbox, read_image

IMAGE_EXTENSIONS = IMAGE_SUFFIXES


class ImageLoadError(ValueError):
    """An image file is missing, unreadable or of an unsupported layout."""


def read_photo(path: str | os.PathLike) -> SourceImage:
    """The app's one photo reader (`sam_editor.imageio.read_image`: EXIF orientation, 16-bit,
    CMYK, alpha, huge JPEGs), raising `ImageLoadError` with its message instead of a Problem."""
    image = read_image(path)
    if isinstance(image, Problem):
        raise ImageLoadError(f"{Path(path)}: {image.message}")
    return image


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Image file → float32 RGB (H, W, 3) in [0, 1], upright (EXIF orientation applied)."""
    return read_photo(path).rgb.astype(np.float32) / 255.0


def rgb_to_tensor(img: np.ndarray) -> torch.Tensor:
    """float RGB (H, W, 3) in [0, 1] or uint8 → (3, H, W) float32 in [-1, 1]."""
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float() * 2 - 1


def tensor_to_rgb8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) in [-1, 1] → uint8 RGB (H, W, 3)."""
    if x.ndim == 4:
        x = x[0]
    a = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return a.permute(1, 2, 0).numpy()


def load_photo(path: str | os.PathLike, size: tuple[int, int]) -> tuple[torch.Tensor, Placement]:
    """Image file → ((3, H, W) in [-1, 1] at the generator's output `size` (H, W), where the
    photo went). The whole photo is letterboxed into the frame, never cropped."""
    work, placement = letterbox(read_photo(path).rgb, size)
    return rgb_to_tensor(work), placement


def load_image(path: str | os.PathLike, size: tuple[int, int]) -> torch.Tensor:
    """Image file → (3, H, W) in [-1, 1] at `size`, letterboxed (see `load_photo`)."""
    return load_photo(path, size)[0]


def save_png(path: str | os.PathLike, x: torch.Tensor) -> Path:
    """Write (3, H, W) in [-1, 1] as an 8-bit RGB PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(tensor_to_rgb8(x), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    buf.tofile(str(path))
    return path


def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR in dB per image of x, y (N, 3, H, W) in [-1, 1] (peak = the [0, 1] range), optionally
    only where `mask` (N | 1, 1, H, W) is true → (N,)."""
    x01 = (x.float().clamp(-1, 1) + 1) / 2
    y01 = (y.float().clamp(-1, 1) + 1) / 2
    se = (x01 - y01).pow(2)
    if mask is None:
        mse = se.mean(dim=(1, 2, 3))
    else:
        m = mask.float().expand(x.shape[0], 1, *x.shape[-2:])
        mse = (se * m).sum(dim=(1, 2, 3)) / (m.sum(dim=(1, 2, 3)) * x.shape[1]).clamp_min(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageLoadError(f"{folder}: not a folder")
    from ..imageio import list_images as listed

    return listed(folder)
