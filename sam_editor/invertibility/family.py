"""The invertibility predictor S_l and the latent map for a generator family other than StyleGAN2
(paper §3.1–3.2 with BigGAN-deep's Φ = {Z+, F2}, Fig. 4.4).

Nothing here is a second predictor: the network, its training data and its training are
StyleGAN2's (`predictor.TinyInvertibilityNet`, `data.generate_targets`, `train.train_predictor`)
with one head per space of the family, named after `G.spaces`. What this module adds:

* the target e_l of a family: the per-pixel squared error of inverting in l (`squared_error_map`,
  mean over RGB of (x̂_l − x)² on [-1, 1] pixels) — the same quantity the measured fallback
  thresholds (`inversion.family.rows_space_error`), so τ means one thing on both paths
  (`MSE_TAU`, default 0.02 ≈ 23 dB PSNR inside a segment). The paper's e_l is LPIPS (eq. 3.1);
  at BigGAN's 8×8 F2 grid and without the VGG file on this machine a squared error is the map we
  can measure and check here;
* the generator the predictor belongs to: its family, spaces and a fingerprint of its weights
  are saved in the predictor's metadata and checked on load (`load_family_predictor`) — a map
  predicted for other weights says nothing about these;
* refinement and selection (§3.1–3.2) for the family's spaces, through `latent_map`'s
  `segment_means` / `select_spaces` and `pipeline.refine_in_box` (letterbox padding left out):
  `latent_map_from_errors` turns predicted (or measured) maps into {feature space: mask}.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .latent_map import TauScale, segment_means, select_spaces
from .pipeline import refine_in_box
from .predictor import InvertibilityPredictor, load_predictor, predict

__all__ = [
    "PREDICTOR_FILE",
    "MSE_TAU",
    "space_names",
    "generator_fingerprint",
    "squared_error_map",
    "predictor_meta",
    "load_family_predictor",
    "predictor_beside",
    "predicted_errors",
    "latent_map_from_errors",
    "predicted_latent_map",
]

PREDICTOR_FILE = "invertibility.pt"  # beside the generator's config.json + pytorch_model.bin
MSE_TAU = TauScale("MSE", 0.02, 0.0, 0.25, "per-pixel squared error of an inversion on [-1, 1] pixels")
_SAMPLES_PER_TENSOR = 1024  # weights hashed per parameter tensor (strided), for the fingerprint


def space_names(G: Any) -> tuple[str, ...]:
    """The names of G's spaces Φ, most editable first ('Z+', 'F2'): the predictor's heads."""
    return tuple(s.name for s in G.spaces)


@torch.no_grad()
def generator_fingerprint(G: torch.nn.Module) -> str:
    """A short hash of G's weights (every parameter's name, shape and a strided sample of its
    values; the buffers — the bound class, batch-norm statistics — are left out, so one predictor
    serves every class of one network). Exact bytes: the same file gives the same print on any device."""
    h = hashlib.sha256()
    for name, p in G.named_parameters():
        flat = p.detach().reshape(-1)
        h.update(f"{name}:{tuple(p.shape)};".encode())
        h.update(flat[:: max(1, flat.numel() // _SAMPLES_PER_TENSOR)].to("cpu", torch.float32).numpy().tobytes())
    return h.hexdigest()[:16]


def squared_error_map(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """e_l of a family: (N, 3, H, W) × 2 in [-1, 1] → (N, 1, H, W) mean over RGB of (x̂ − x)²."""
    return (x_hat - x.clamp(-1, 1)).pow(2).mean(dim=1, keepdim=True)


def predictor_meta(G: Any, generator: str = "", class_index: int | None = None) -> dict[str, Any]:
    """What a family predictor records of its generator (checked by `load_family_predictor`)."""
    return {
        "family": G.family,
        "generator": str(generator),
        "generator_fingerprint": generator_fingerprint(G),
        "class_index": class_index,
        "spaces": list(space_names(G)),
        "metric": MSE_TAU.metric,
        "tau": MSE_TAU.to_json(),
    }


def load_family_predictor(path: str | Path, G: Any, device: str | torch.device = "cpu") -> InvertibilityPredictor:
    """The predictor at `path`, refused (ValueError, one line) unless it was trained for G: the
    same spaces (a StyleGAN2 predictor predicts W+ … F10), the same family and the same weights."""
    path = Path(path)
    model = load_predictor(path, device, spaces=space_names(G))
    meta: dict[str, Any] = dict(getattr(model, "meta", {}) or {})
    family = meta.get("family")
    if family != G.family:
        raise ValueError(f"{path.name} was not trained for a {G.family} generator (it records family {family!r})")
    if meta.get("generator_fingerprint") != generator_fingerprint(G):
        raise ValueError(
            f"{path.name} was trained for another {G.family} generator ({meta.get('generator') or 'unnamed'}); "
            f"its predictions say nothing about this one — train one with `sam-editor train-predictor --generator …`"
        )
    return model


def predictor_beside(weights_path: str | Path) -> Path:
    """Where a generator's predictor lives: `invertibility.pt` in the folder of its weights."""
    p = Path(weights_path)
    return (p if p.is_dir() else p.parent) / PREDICTOR_FILE


def predicted_errors(predictor: InvertibilityPredictor, images: torch.Tensor) -> np.ndarray:
    """S_l(x) for images (N, 3, H, W) in [-1, 1] → (N, S, H, W) float32, through `predictor.predict`
    (the uint8 RGB the predictor was trained on, resized to its input size and back)."""
    rgb = ((images.detach().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return np.stack([predict(predictor, im) for im in rgb])


def _photo_box(valid: torch.Tensor | np.ndarray | None, n: int) -> tuple[int, int, int, int] | None:
    """(top, left, h, w) of image n's photo inside the frame, from the letterbox's valid mask
    (N | 1, 1, H, W); None when every pixel is photo."""
    if valid is None:
        return None
    v = np.asarray(valid, dtype=np.float32)
    v = v.reshape(-1, *v.shape[-2:])
    m = v[n if v.shape[0] > 1 else 0] > 0.5
    if m.all():
        return None
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    if rows.size == 0:
        raise ValueError("the valid mask excludes every pixel")
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def latent_map_from_errors(
    G: Any,
    errors: np.ndarray,  # (N, S, H, W): e_l per space of G, predicted or measured
    segments: np.ndarray,  # (N | 1, H, W) int segment ids
    tau: float,
    valid: torch.Tensor | np.ndarray | None = None,  # (N | 1, 1, H, W) letterbox mask, 1 = photo
) -> tuple[dict[str, torch.Tensor], list[np.ndarray]]:
    """Refinement (§3.1: each segment's mean e_l, over the photo's pixels only) and selection (§3.2:
    the most editable space whose mean is ≤ τ, else the least editable) for G's spaces →
    ({feature space name: bool mask (N, 1, H, W)}, per image the segment means (K, S))."""
    errors = np.asarray(errors, dtype=np.float32)
    spaces = tuple(G.spaces)
    if errors.ndim != 4 or errors.shape[1] != len(spaces):
        raise ValueError(f"expected error maps (N, {len(spaces)}, H, W) for {', '.join(space_names(G))}, got {errors.shape}")
    n, _, h, w = errors.shape
    labels = np.asarray(segments)
    if labels.ndim != 3 or labels.shape[0] not in (1, n) or labels.shape[1:] != (h, w):
        raise ValueError(f"segments {labels.shape} do not fit the error maps {errors.shape}")
    masks = {s.name: np.zeros((n, 1, h, w), bool) for s in spaces if s.is_feature}
    means_all: list[np.ndarray] = []
    for i in range(n):
        lab = labels[i if labels.shape[0] > 1 else 0]
        box = _photo_box(valid, i)
        if box is None:
            means = segment_means(errors[i], lab)
        else:
            lab, means = refine_in_box(errors[i], lab, box)
        ranks = select_spaces(means, tau)[lab]  # (H, W) index into spaces
        for j, s in enumerate(spaces):
            if s.is_feature:
                masks[s.name][i, 0] = ranks == j
        means_all.append(means)
    return {k: torch.from_numpy(v) for k, v in masks.items()}, means_all


def predicted_latent_map(
    G: Any,
    predictor: InvertibilityPredictor,
    images: torch.Tensor,  # (N, 3, H, W) in [-1, 1]
    segments: np.ndarray,  # (N | 1, H, W)
    tau: float,
    valid: torch.Tensor | np.ndarray | None = None,
) -> tuple[dict[str, torch.Tensor], list[np.ndarray]]:
    """The latent map of §3.1–3.2 from the family predictor: S_l(x), refined, thresholded at τ."""
    names: Sequence[str] = getattr(predictor, "space_names", ())
    if tuple(names) != space_names(G):
        raise ValueError(f"the predictor's heads are {', '.join(names)}; {G.family} inverts in {', '.join(space_names(G))}")
    return latent_map_from_errors(G, predicted_errors(predictor, images), segments, tau, valid)
