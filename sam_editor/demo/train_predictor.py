"""Train the demo bundle's invertibility predictor S (paper §3.1) for the demo generator.

1. Render cluttered car-world images (the clutter is what the generator cannot make).
2. Invert each one into every space l ∈ Φ = {W+, F4, F6, F8, F10} with the inversion engine
   and store the spatial error map e_l = LPIPS(x, x̂_l) (eq. 3.1; the l2+SSIM fallback map
   when the LPIPS-VGG backbone is not installed — recorded in the predictor's metadata).
3. Regress S_l(x) → e_l with ℓ2 (eq. 3.2).
Every step is resumable: finished images are skipped, training resumes from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..gan.layers import LayerSpace
from ..gan.networks import Generator

SPACE_METHOD = {
    LayerSpace.W_PLUS: "wplus",
    LayerSpace.F4: "f4",
    LayerSpace.F6: "f6",
    LayerSpace.F8: "f8",
    LayerSpace.F10: "f10",
}


def make_cluttered_images(out_dir: str | Path, n: int, seed: int, size: int, photo_paths: Sequence[str] = ()) -> Path:
    """Cluttered car-world renders as PNGs (resumable: an existing set of ≥ n images is kept)."""
    from .clutter import write_samples

    out_dir = Path(out_dir)
    if len(list(out_dir.glob("img_*.png"))) < n:
        write_samples(out_dir, n, seed, size=size, clutter=True, photo_paths=tuple(photo_paths))
    return out_dir


def inversion_reconstructor(
    G: Generator, steps: int, perceptual, seed: int = 0
) -> Callable[[torch.Tensor, LayerSpace], torch.Tensor]:
    """reconstruct(x (N,3,H,W) in [-1,1], space) → x̂_l: a single-space inversion of `steps` steps."""
    from ..inversion import InversionSettings, invert

    settings = InversionSettings(steps=steps, optimise_size=None)

    def reconstruct(x: torch.Tensor, space: LayerSpace) -> torch.Tensor:
        result = invert(G, x, method=SPACE_METHOD[space], settings=settings, seed=seed, perceptual=perceptual)
        return result.reconstruction

    return reconstruct


def build_targets(
    G: Generator, images_dir: str | Path, targets_dir: str | Path, steps: int, perceptual, batch_size: int = 4, on_step=None
):
    """e_l for every image and space, written as `.npz` beside a copy of the image (eq. 3.1)."""
    from ..invertibility.data import generate_targets

    size = G.cfg.output_size
    return generate_targets(
        images_dir,
        targets_dir,
        inversion_reconstructor(G, steps, perceptual),
        perceptual.error_map,
        size=size,
        batch_size=batch_size,
        on_step=on_step,
    )
