"""Inversion of any generator family (`gan.family.GeneratorFamily`) by the machinery of `optimise`:
the same `LatentProblem` (eq. 3.5, eq. 3.6's spread term, eq. 3.7, eq. 3.8), the same Adam loop
with its schedule, per-image best φ, progress and cancel (`run_latent_optimisation`).

What differs per family is asked of the generator, not branched on: its spaces Φ (rows space
first, then the feature spaces it offers), and eq. 3.6's prior, `G.latent_prior(rows)` — for
BigGAN-deep the truncated normal of z in place of StyleGAN2's Gaussian of ŵ — weighted by
`lambda_prior` as a per-coordinate mean (the scale of the 'gaussian' method's prior).

Methods, named by the family's spaces (BigGAN-deep: Z+, F2):

* ``'z'`` (the rows space without '+') — one row broadcast to every layer (BigGAN's Z, StyleGAN2's W);
* ``'z+'`` — the rows space alone;
* ``'f2'`` (any offered feature space) — the whole image in F_k: rows and an unmasked Δf_k;
* ``'sam'`` — rows everywhere plus Δf_k inside each segment the latent map assigns to F_k.

For the latent map (§3.1–3.2) this module supplies the inversions only: `family_reconstructor`
(x̂_l in every space, the family predictor's training targets) and `rows_space_error` (the measured
fallback where no predictor exists); refinement and τ are `invertibility.family`'s, and
`session.family_invertibility` chooses between predicted and measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..gan.family import GeneratorFamily, LatentSpaceInfo, space_named
from ..perceptual import Perceptual
from ..util import OnStep, ShouldStop
from .optimise import (
    InversionResult,
    LatentProblem,
    _resolve_perceptual,
    frozen,
    photo_weights,
    run_latent_optimisation,
)
from .phi import Phi
from .settings import InversionSettings

PRIOR_WEIGHT = 0.05  # λ of the family prior (a per-coordinate mean, ≈ 0.77 for a typical BigGAN z)


class FamilyProblem(LatentProblem):
    """`LatentProblem` with the family's prior in place of eq. 3.6's ŵ Gaussian (its spread term stays)."""

    def __init__(self, G: GeneratorFamily, *args: Any, lambda_prior: float = PRIOR_WEIGHT, **kw: Any) -> None:
        super().__init__(G, *args, **kw)  # type: ignore[arg-type]
        self.lambda_prior = 0.0  # no ŵ statistics: LatentProblem's prior term is zero
        self.lambda_family_prior = lambda_prior

    def evaluate(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, parts = super().evaluate()
        prior = self.G.latent_prior(self.w_plus())  # type: ignore[attr-defined]
        return total + self.lambda_family_prior * prior, {**parts, "latent_prior": prior}


def methods_of(G: GeneratorFamily) -> tuple[str, ...]:
    """The methods G offers: its rows space without '+', the rows space, each feature space, 'sam'."""
    rows = G.spaces[0].name.lower()
    return (rows.rstrip("+"), rows, *(s.name.lower() for s in G.spaces[1:]), "sam")


def _feature_space(G: GeneratorFamily, key: str | LatentSpaceInfo) -> LatentSpaceInfo:
    space = key if isinstance(key, LatentSpaceInfo) else space_named(G, str(key))
    if not space.is_feature:
        raise ValueError(f"{space.name} is {G.family}'s rows space; a latent map lists only its feature spaces")
    return space


def sam_masks(
    G: GeneratorFamily,
    latent_map: Mapping[str | LatentSpaceInfo, Any],  # {'F2': bool (H, W) | (N, 1, H, W)}; the rest is rows space
    n: int,
    device: torch.device,
) -> dict[int, torch.Tensor]:
    """{feature space: mask at output size} → {k: m_k (N | 1, 1, H_k, W_k)} via `G.mask_to_feature`;
    a pixel may belong to one feature space at most."""
    out: dict[int, torch.Tensor] = {}
    covered: torch.Tensor | None = None
    for key, mask in latent_map.items():
        space = _feature_space(G, key)
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).to(device, torch.float32)
        while m.ndim < 4:
            m = m.unsqueeze(0)
        if tuple(m.shape[-2:]) != tuple(G.cfg.output_size) or m.shape[1] != 1 or m.shape[0] not in (1, n):
            raise ValueError(f"the mask of {space.name} is {tuple(m.shape)}, expected (H, W) = {G.cfg.output_size}")
        binary = m > 0.5
        if covered is not None and bool((covered & binary).any()):
            raise ValueError(f"the latent map assigns some pixels to {space.name} and to another feature space")
        covered = binary if covered is None else covered | binary
        assert space.feature_index is not None
        out[space.feature_index] = G.mask_to_feature(binary.float(), space.feature_index)
    return out


def invert_family(
    G: GeneratorFamily,
    images: torch.Tensor,  # (N, 3, H_out, W_out) in [-1, 1]
    method: str = "sam",
    latent_map: Mapping[str | LatentSpaceInfo, Any] | None = None,
    settings: InversionSettings | None = None,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    seed: int = 0,
    perceptual: Perceptual | None = None,
    *,
    lambda_prior: float = PRIOR_WEIGHT,
    init_rows: torch.Tensor | None = None,  # (N | 1, num_ws, w_dim); else the prior's centre
    valid: torch.Tensor | np.ndarray | None = None,
) -> InversionResult:
    """Invert `images` into G by eq. 3.8 in the space(s) `method` names (see the module doc)."""
    t0 = time.perf_counter()
    settings = settings or InversionSettings()
    key = method.strip().lower().replace("plus", "+")
    offered = methods_of(G)
    if key not in offered:
        raise ValueError(f"{G.family} inverts with {', '.join(offered)}; got {method!r}")
    if (key == "sam") != (latent_map is not None):
        raise ValueError("method 'sam' needs a latent map" if key == "sam" else f"method {method!r} takes no latent map")
    device = G.mean_w_plus(1).device
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != tuple(G.cfg.output_size):
        raise ValueError(f"images must be (N, 3, {G.cfg.output_size[0]}, {G.cfg.output_size[1]}), got {tuple(images.shape)}")
    target = images.to(device, torch.float32)
    n = target.shape[0]
    valid_t = photo_weights(valid, target.shape, device)
    perceptual = _resolve_perceptual(perceptual, settings, device) if settings.lambda_lpips != 0 else None
    if key == "sam":
        assert latent_map is not None
        masks = sam_masks(G, latent_map, n, device)
    elif key in offered[2:]:
        index = _feature_space(G, key).feature_index
        assert index is not None
        masks = {index: torch.ones(1, 1, *G.feature_shape(index)[1:], device=device)}
    else:
        masks = {}
    base = "w" if key == offered[0] else "wplus"  # LatentProblem's one-row / all-rows parameterisation
    meta: dict[str, Any] = {"family": G.family, "method": key, "steps": settings.steps, "seed": seed,
                            "lambda_prior": lambda_prior, "settings": settings.to_dict()}  # fmt: skip
    cuda = [device.index or 0] if device.type == "cuda" else []
    with frozen(G), torch.random.fork_rng(devices=cuda):  # type: ignore[arg-type]
        torch.manual_seed(seed)
        problem = FamilyProblem(G, target, base, settings, perceptual, None, masks, init_rows, valid_t,
                                lambda_prior=lambda_prior)  # fmt: skip
        best, history, best_steps, cancelled = run_latent_optimisation(problem, on_step, should_stop)
        phi = Phi(
            w_plus=problem.w_plus(best["w"]).detach().clone(),
            delta_f={i: best[f"f{i}"] for i in problem.delta_f},
            masks={i: m.detach().clone() for i, m in masks.items()},
            metadata=meta,
        )
        meta.update(steps_run=len(history), best_steps=best_steps, cancelled=cancelled)
        with torch.no_grad():
            recon = G.synthesize(phi.w_plus, phi.delta_f, phi.masks).clamp(-1, 1).cpu()
    return InversionResult(phi, recon, history, best_steps, cancelled, time.perf_counter() - t0)


def family_reconstructor(
    G: GeneratorFamily, settings: InversionSettings, seed: int = 0, perceptual: Perceptual | None = None
) -> Callable[[torch.Tensor, LatentSpaceInfo], torch.Tensor]:
    """reconstruct(x (N, 3, H, W) in [-1, 1], space) → x̂_l: the single-space inversion of G in `space`
    (its rows space or a feature space F_k over the whole image), the inversion engine that
    `invertibility.data.generate_targets` asks for the training targets e_l of the family's predictor."""

    def reconstruct(x: torch.Tensor, space: LatentSpaceInfo) -> torch.Tensor:
        return invert_family(G, x, space.name.lower(), settings=settings, seed=seed, perceptual=perceptual).reconstruction

    return reconstruct


def rows_space_error(
    G: GeneratorFamily,
    images: torch.Tensor,  # (N, 3, H_out, W_out) in [-1, 1]
    settings: InversionSettings,
    *,
    valid: torch.Tensor | np.ndarray | None = None,
    seed: int = 0,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[torch.Tensor, InversionResult]:
    """The *measured* invertibility of the rows space (Z+ for BigGAN-deep), where a family has no
    trained predictor: invert there and keep the per-pixel squared error, (N, 1, H, W) on the CPU
    (0 in the letterbox's padding, nobody's error) — the quantity the family predictor learns.
    `on_step` / `should_stop` are the inversion's (a stop measures with the best rows so far)."""
    res = invert_family(G, images, G.spaces[0].name.lower(), settings=settings, on_step=on_step,
                        should_stop=should_stop, seed=seed, valid=valid)  # fmt: skip
    x = images if images.ndim == 4 else images.unsqueeze(0)
    err = (res.reconstruction - x.cpu().clamp(-1, 1)).pow(2).mean(dim=1, keepdim=True)  # (N, 1, H, W)
    v = photo_weights(valid, x.shape, torch.device("cpu"))
    return (err if v is None else err * v), res
