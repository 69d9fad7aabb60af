"""Training data for the invertibility predictor (paper §3.1, Fig. 3.1 left).

Every training image x is inverted into each latent space l ∈ Φ, giving x̂_l, and the LPIPS
spatial error map e_l = L_LPIPS(x, x̂_l) (eq. 3.1) is the regression target of S_l (eq. 3.2).
:func:`generate_targets` does this with two injected callables — ``reconstruct(x, space)`` (the
inversion engine) and ``error_map(x, x̂)`` (the spatial LPIPS) — and writes one ``.npz`` per image:
``image`` uint8 (H, W, 3), ``errors`` float16 (S, H, W) in the order of ``spaces``, their names.
The spaces are StyleGAN2's Φ (W+, F4 … F10) unless a caller passes a generator family's own
(BigGAN-deep: Z+, F2; `invertibility.family`).
Generation is resumable: images whose ``.npz`` already exists (and loads) are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sam_editor.gan.layers import LayerSpace

from ..util import OnStep, ShouldStop, atomic_write

__all__ = [
    "IMAGE_EXTENSIONS",
    "ReconstructFn",
    "ErrorMapFn",
    "GenerationReport",
    "list_images",
    "load_image",
    "to_tensor",
    "target_path",
    "space_label",
    "target_spaces",
    "generate_targets",
    "list_targets",
    "split_files",
    "ErrorMapDataset",
]

SPACES: tuple[LayerSpace, ...] = tuple(LayerSpace)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

#: ``reconstruct(images (N,3,H,W) in [-1,1], space) -> reconstructions (N,3,H,W) in [-1,1]``; the
#: space is a LayerSpace (StyleGAN2) or a family's `gan.family.LatentSpaceInfo`
ReconstructFn = Callable[[torch.Tensor, Any], torch.Tensor]
#: ``error_map(x, x_hat) -> (N,1,H,W)`` spatial LPIPS map (eq. 3.1)
ErrorMapFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def load_image(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image as RGB uint8 with the app's one reader (`sam_editor.imageio.read_image`:
    EXIF orientation applied), optionally letterboxed into ``size`` = (H, W)."""
    from sam_editor.imageio import Problem, letterbox, read_image

    image = read_image(path)
    if isinstance(image, Problem):
        raise ValueError(f"cannot read image {path}: {image.message}")
    rgb = image.rgb
    if size is not None and rgb.shape[:2] != tuple(size):
        rgb = letterbox(rgb, tuple(size))[0]
    return rgb


def to_tensor(images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """RGB uint8 image(s) (H, W, 3) → float tensor (N, 3, H, W) in [-1, 1]."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def target_path(out_dir: str | Path, image_path: str | Path) -> Path:
    """Where the targets of ``image_path`` are written: ``out_dir/<stem>.npz``."""
    return Path(out_dir) / (Path(image_path).stem + ".npz")


def space_label(space: Any) -> str:
    """The paper's name of a space: 'W+' for LayerSpace.W_PLUS, 'Z+' for a family's LatentSpaceInfo."""
    return space.value if isinstance(space, LayerSpace) else str(getattr(space, "name", space))


def target_spaces(path: str | Path) -> tuple[str, ...]:
    """The space names a target file's error maps belong to (files without the list: StyleGAN2's)."""
    with np.load(path) as data:
        return tuple(str(s) for s in data["spaces"]) if "spaces" in data else tuple(s.value for s in SPACES)


def _is_valid_target(path: Path, spaces: Sequence[Any] = SPACES) -> bool:
    names = tuple(space_label(s) for s in spaces)
    try:
        with np.load(path) as data:
            ok = "image" in data and "errors" in data and data["errors"].shape[0] == len(names)
        return ok and target_spaces(path) == names
    except Exception:
        return False


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def target_errors(
    imgs: Sequence[np.ndarray],
    reconstruct: ReconstructFn,
    error_map: ErrorMapFn,
    device: str | torch.device = "cpu",
    spaces: Sequence[Any] = SPACES,
) -> np.ndarray:
    """e_l (eq. 3.1) of RGB uint8 images of one size, for every space l → (N, S, H, W) float16."""
    x = to_tensor(np.stack(imgs)).to(device)
    errors = []
    for space in spaces:
        x_hat = reconstruct(x, space).detach()  # may optimise with autograd inside
        with torch.no_grad():
            e = error_map(x, x_hat).detach().float()
        if e.ndim != 4 or e.shape[1] != 1 or e.shape[0] != x.shape[0]:
            raise ValueError(f"error_map must return (N, 1, H, W), got {tuple(e.shape)}")
        if e.shape[-2:] != x.shape[-2:]:
            e = torch.nn.functional.interpolate(e, size=x.shape[-2:], mode="bilinear", align_corners=False)
        errors.append(e[:, 0].cpu().numpy())
    return np.stack(errors, 1).astype(np.float16)


def write_target(
    out_dir: str | Path, image_path: str | Path, image: np.ndarray, errors: np.ndarray, spaces: Sequence[Any] = SPACES
) -> Path:
    """One image's training pair (the image as the predictor sees it, its e_l), atomically."""
    names = [space_label(s) for s in spaces]
    if errors.shape[0] != len(names):
        raise ValueError(f"{len(errors)} error maps for the {len(names)} spaces {', '.join(names)}")
    dst = target_path(out_dir, image_path)
    _write_npz(dst, image=image, errors=errors, spaces=np.array(names), source=np.array(str(image_path)))
    return dst


def target_done(out_dir: str | Path, image_path: str | Path, spaces: Sequence[Any] = SPACES) -> bool:
    dst = target_path(out_dir, image_path)
    return dst.exists() and _is_valid_target(dst, spaces)


@dataclass
class GenerationReport:
    """Outcome of :func:`generate_targets`."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    @property
    def targets(self) -> list[Path]:
        return sorted(self.skipped + self.written)


def generate_targets(
    images: str | Path | Iterable[str | Path],
    out_dir: str | Path,
    reconstruct: ReconstructFn,
    error_map: ErrorMapFn,
    *,
    size: tuple[int, int] | None = (192, 256),
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    spaces: Sequence[Any] = SPACES,
) -> GenerationReport:
    """Write e_l (eq. 3.1) for every image and every space l ∈ Φ (``spaces``) beside a resized copy of it.

    ``images`` is a folder or a list of image files; each is resized to ``size`` (H, W) (None:
    keep, then all images of a batch must share a size).  Images whose target file exists and
    loads are skipped, so an interrupted run resumes where it stopped.  Autograd stays enabled
    while ``reconstruct`` runs (optimisation-based inversion needs it). ``on_step(done, total,
    {"image": name}, None)`` follows every batch; a stop (``should_stop()``, polled between
    batches) returns the report of what was written, and a rerun goes on from there.
    """
    if isinstance(images, (str, Path)):
        paths = list_images(images)
    else:
        paths = [Path(p) for p in images]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [target_path(out_dir, p).name for p in paths]
    if len(set(stems)) != len(stems):
        raise ValueError("two input images share a file stem; their targets would collide")
    report = GenerationReport()
    todo = []
    for p in paths:
        dst = target_path(out_dir, p)
        if dst.exists() and _is_valid_target(dst, spaces):
            report.skipped.append(dst)
        else:
            todo.append(p)
    done = len(report.skipped)
    for start in range(0, len(todo), max(1, batch_size)):
        if should_stop is not None and should_stop():
            break
        batch_paths = todo[start : start + max(1, batch_size)]
        imgs = [load_image(p, size) for p in batch_paths]
        stacked = target_errors(imgs, reconstruct, error_map, device, spaces)
        for i, p in enumerate(batch_paths):
            report.written.append(write_target(out_dir, p, imgs[i], stacked[i], spaces))
        done += len(batch_paths)
        if on_step is not None:
            on_step(done, len(paths), {"image": batch_paths[-1].name}, None)
    return report


def list_targets(data_dir: str | Path) -> list[Path]:
    """All target files (``*.npz``) in ``data_dir``, sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise NotADirectoryError(f"not a folder: {data_dir}")
    return sorted(data_dir.glob("*.npz"))


def split_files(files: Sequence[Path], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """Deterministic train / held-out split (at least one held-out file when ≥ 2 files)."""
    files = sorted(Path(f) for f in files)
    if len(files) < 2 or val_fraction <= 0:
        return list(files), []
    n_val = min(len(files) - 1, max(1, int(round(val_fraction * len(files)))))
    order = np.random.default_rng(seed).permutation(len(files))
    val = sorted(files[i] for i in order[:n_val])
    train = sorted(files[i] for i in order[n_val:])
    return train, val


class ErrorMapDataset(Dataset):
    """(image in [-1,1] (3,H,W), targets e_l (S,H,W) float32) pairs from target files.

    ``size`` (H, W) resizes both (image with area/cubic, maps bilinearly); ``cache`` keeps the
    decoded arrays in memory (the data sets here are small).
    """

    def __init__(self, files: Sequence[str | Path], size: tuple[int, int] | None = None, cache: bool = True) -> None:
        self.files = [Path(f) for f in files]
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.cache = cache

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        with np.load(self.files[index]) as data:
            image = data["image"]
            errors = data["errors"].astype(np.float32)
        if self.size is not None and image.shape[:2] != self.size:
            h, w = self.size
            shrink = h * w < image.shape[0] * image.shape[1]
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            errors = np.stack(
                [cv2.resize(e, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR) for e in errors]
            )
        return to_tensor(image)[0], torch.from_numpy(np.ascontiguousarray(errors))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.cache:
            return self._load(index)
        if index not in self._cache:
            self._cache[index] = self._load(index)
        return self._cache[index]

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the given items into (N,3,H,W), (N,S,H,W)."""
        items = [self[int(i)] for i in indices]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])
