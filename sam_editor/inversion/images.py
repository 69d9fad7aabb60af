"""Image files ↔ generator-sized tensors in [-1, 1], and the metrics of Table 4.1."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageLoadError(ValueError):
    """An image file is missing, unreadable or of an unsupported layout."""


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Any OpenCV-readable file → float32 RGB (H, W, 3) in [0, 1].

    8- and 16-bit, grayscale, gray+alpha and RGBA are handled; alpha is composited over white."""
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: no such image file")
    data = np.fromfile(str(path), dtype=np.uint8)  # also works for non-ASCII paths
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageLoadError(f"{path}: not an image OpenCV can read")
    if img.dtype == np.uint8:
        f = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        f = img.astype(np.float32) / 65535.0
    elif img.dtype in (np.float32, np.float64):
        f = np.clip(img.astype(np.float32), 0.0, 1.0)
    else:
        raise ImageLoadError(f"{path}: unsupported pixel type {img.dtype}")
    if f.ndim == 2:
        f = f[:, :, None]
    channels = f.shape[2]
    if channels in (2, 4):  # gray+alpha or BGRA: composite over white
        alpha = f[:, :, -1:]
        f = f[:, :, :-1] * alpha + (1.0 - alpha)
        channels -= 1
    if channels == 1:
        f = np.repeat(f, 3, axis=2)
    elif channels == 3:
        f = f[:, :, ::-1]  # BGR → RGB
    else:
        raise ImageLoadError(f"{path}: unsupported channel count {channels}")
    return np.ascontiguousarray(f)


def fit_rgb(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale (H, W, 3) to cover `size` (H, W) keeping the aspect ratio, then centre-crop.
    INTER_AREA when shrinking, INTER_CUBIC when enlarging."""
    h, w = img.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return img
    s = max(th / h, tw / w)
    nh, nw = max(th, round(h * s)), max(tw, round(w * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    img = cv2.resize(img, (nw, nh), interpolation=interp)
    top, left = (nh - th) // 2, (nw - tw) // 2
    return np.clip(img[top : top + th, left : left + tw], 0.0, 1.0)


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


def load_image(path: str | os.PathLike, size: tuple[int, int]) -> torch.Tensor:
    """Image file → (3, H, W) in [-1, 1] at the generator's output `size` (H, W)."""
    return rgb_to_tensor(fit_rgb(read_rgb(path), size))


def fit_to_generator(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Tensors (N, 3, H, W) in [-1, 1] → cover-resized and centre-cropped to `size`."""
    out = []
    for x in images:
        rgb = ((x.detach().float().cpu().permute(1, 2, 0).numpy() + 1) / 2).astype(np.float32)
        out.append(rgb_to_tensor(fit_rgb(rgb, size)))
    return torch.stack(out)


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
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
