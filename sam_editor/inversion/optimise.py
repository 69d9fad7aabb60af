"""Optimisation-based inversion: `invert(G, images, method=…)` → `InversionResult`.

Methods (Table 4.1 and Fig. 3.2 of the thesis):

* ``'sam'``   — φ = {w+, Δf_4, Δf_6, Δf_8, Δf_10}, Δf_i only where the latent map assigns F_i
  (masks m_i of eq. 3.3), objective eq. 3.8;
* ``'w'``     — one w broadcast to all style rows (StyleGAN2 W inversion);
* ``'wplus'`` — w+ only (identical to 'sam' with an all-W+ latent map);
* ``'f4' | 'f6' | 'f8' | 'f10'`` — the whole image in F_i: w+ and an *unmasked* Δf_i are both
  optimised, as the official `single_latent_inv.py` (Fig. 3.2) does;
* ``'gaussian'`` — w+ with the Gaussian prior of eq. 3.6 weighted to matter (Wulff & Torralba);
* ``'pti'``   — W inversion, then pivotal tuning of a *copy* of G (see `pti.py`).

All images of the batch are optimised together; every image keeps its own best φ (lowest
eq. 3.8 objective seen), which is what a cancel returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..gan.layers import LayerSpace
from ..gan.networks import Generator
from ..perceptual import Perceptual, default_perceptual
from ..util import OnStep, ShouldStop  # the one job contract (util's module docstring)
from . import latent_maps as lm
from .losses import WPriorStats, loss_f, loss_rec, loss_w, objective, w_prior_stats
from .phi import Phi
from .settings import METHODS, SINGLE_FEATURE_METHODS, InversionSettings, learning_rate


@dataclasses.dataclass
class InversionResult:
    """phi: the best φ per image; reconstruction: its x̂ (N, 3, H_out, W_out) in [-1, 1] (CPU);
    losses: one dict of batch-mean loss values per step; best_steps: per image, the step whose
    parameters φ holds (`steps` = after the last update, −1 = the initialisation);
    generators: PTI's tuned copies of G (one per image), else None."""

    phi: Phi
    reconstruction: torch.Tensor
    losses: list[dict[str, float]]
    best_steps: list[int]
    cancelled: bool
    seconds: float
    generators: list[Generator] | None = None

    @property
    def best_step(self) -> int:
        """The best step (the latest one over the batch when N > 1)."""
        return max(self.best_steps)


@contextlib.contextmanager
def frozen(G: Generator) -> Iterator[Generator]:
    """Run with G's parameters not requiring grad (restored afterwards): the caller's G never
    accumulates gradients."""
    flags = [(p, p.requires_grad) for p in G.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield G
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def prepare_images(G: Generator, images: torch.Tensor) -> torch.Tensor:
    """images (N, 3, H_out, W_out) or (3, H_out, W_out) in [-1, 1] → float32 on G's device."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
    if tuple(images.shape[-2:]) != tuple(G.cfg.output_size):
        raise ValueError(
            f"images are {tuple(images.shape[-2:])}, the generator makes {G.cfg.output_size} "
            "(fit them first, e.g. sam_editor.imageio.letterbox)"
        )
    return images.to(G.mapping.w_avg.device, torch.float32)


def photo_weights(valid: torch.Tensor | np.ndarray | None, shape: torch.Size, device: torch.device) -> torch.Tensor | None:
    """`valid` → (N | 1, 1, H, W) float32 on `device`, or None when every pixel is photo (then
    the losses are exactly the unmasked ones)."""
    if valid is None:
        return None
    v = torch.as_tensor(np.asarray(valid) if isinstance(valid, np.ndarray) else valid).to(device, torch.float32)
    while v.ndim < 4:
        v = v.unsqueeze(0)
    if v.ndim != 4 or tuple(v.shape[-2:]) != tuple(shape[-2:]) or v.shape[1] != 1 or v.shape[0] not in (1, shape[0]):
        raise ValueError(f"valid mask {tuple(v.shape)} does not fit images {tuple(shape)}")
    if bool((v >= 1).all()):
        return None
    if not bool((v > 0).any()):
        raise ValueError("the valid mask excludes every pixel")
    return v


def to_loss_size(x: torch.Tensor, size: tuple[int, int] | None, clamp: bool) -> torch.Tensor:
    """Area-downsample to the optimisation size (official: `F.interpolate(mode='area')`), then clamp."""
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="area")
    return x.clamp(-1, 1) if clamp else x


class LatentProblem:
    """Parameters and per-image objective (eq. 3.8) of one latent-space method."""

    def __init__(
        self,
        G: Generator,
        target: torch.Tensor,  # (N, 3, H_out, W_out)
        method: str,
        settings: InversionSettings,
        perceptual: Perceptual | None,
        stats: WPriorStats | None,
        masks: dict[int, torch.Tensor],
        init_w_plus: torch.Tensor | None,
        valid: torch.Tensor | None = None,  # (N | 1, 1, H_out, W_out) in [0, 1]: the photo's pixels
        init_delta_f: dict[int, torch.Tensor] | None = None,  # start Δf_i (e.g. an encoder's); else 0
    ) -> None:
        self.G, self.method, self.settings, self.perceptual, self.stats = G, method, settings, perceptual, stats
        n = target.shape[0]
        dev = target.device
        self.loss_size = settings.loss_size(G.cfg.output_size, G.cfg.resolution)
        self.target = to_loss_size(target, self.loss_size, clamp=False)
        self.valid = None if valid is None else to_loss_size(valid.to(dev, torch.float32), self.loss_size, clamp=False)
        use_perceptual = perceptual is not None and settings.lambda_lpips != 0
        self.prepared = perceptual.prepare_target(self.target) if use_perceptual else None
        self.masks = masks
        w0 = G.mean_w_plus(n) if init_w_plus is None else init_w_plus.to(dev, torch.float32).expand(n, -1, -1)
        if tuple(w0.shape[1:]) != (G.num_ws, G.w_dim):
            raise ValueError(f"init_w_plus must be (N, {G.num_ws}, {G.w_dim}), got {tuple(w0.shape)}")
        w0 = w0.mean(dim=1, keepdim=True) if method in ("w", "pti") else w0
        self.w = w0.detach().clone().contiguous().requires_grad_(True)  # (N, 1 | num_ws, w_dim)
        self.delta_f = {}
        for i in sorted(masks):
            shape = (n, *G.feature_shape(i))
            start = (init_delta_f or {}).get(i)
            if start is not None and tuple(start.shape[1:]) != shape[1:]:
                raise ValueError(f"init Δf{i} must be (N, {', '.join(map(str, shape[1:]))}), got {tuple(start.shape)}")
            d0 = torch.zeros(shape, device=dev) if start is None else start.to(dev, torch.float32).expand(shape)
            self.delta_f[i] = d0.detach().clone().contiguous().requires_grad_(True)
        self.lambda_prior = settings.lambda_w_prior
        if method == "gaussian":
            self.lambda_prior = settings.gaussian_prior_strength / (G.num_ws * G.w_dim)

    def params(self) -> list[torch.Tensor]:
        return [self.w, *self.delta_f.values()]

    def w_plus(self, w: torch.Tensor | None = None) -> torch.Tensor:
        w = self.w if w is None else w
        return w.expand(-1, self.G.num_ws, -1)

    def render(self) -> torch.Tensor:
        return self.G.synthesize(self.w_plus(), self.delta_f, self.masks, noise_mode=self.settings.noise_mode)

    def evaluate(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """→ (objective per image (N,), parts {name: (N,)})."""
        s = self.settings
        x_hat = to_loss_size(self.render(), self.loss_size, s.clamp)
        rec, parts = loss_rec(self.target, x_hat, self.perceptual, s.lambda_lpips, s.lambda_mse, self.prepared, self.valid)
        lw, wparts = loss_w(self.w, self.stats, self.lambda_prior, s.lambda_w_spread, s.w_spread_squared)
        lf = loss_f(self.delta_f, n=self.w.shape[0]).to(rec.device)
        total = objective(rec, lw, lf, s.lambda_f)
        return total, {"rec": rec, **parts, **wparts, "f": lf}

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {"w": self.w.detach().clone(), **{f"f{i}": d.detach().clone() for i, d in self.delta_f.items()}}

    def current(self) -> dict[str, torch.Tensor]:
        return {"w": self.w.detach(), **{f"f{i}": d.detach() for i, d in self.delta_f.items()}}


def keep_best(best: dict[str, torch.Tensor], current: dict[str, torch.Tensor], improved: torch.Tensor) -> None:
    """best[k][n] ← current[k][n] where improved[n] (per-image best φ)."""
    for k, v in current.items():
        sel = improved.view(-1, *([1] * (v.ndim - 1)))
        best[k] = torch.where(sel, v, best[k])


def run_latent_optimisation(
    problem: LatentProblem,
    on_step: OnStep | None,
    should_stop: ShouldStop | None,
    step_offset: int = 0,
    total_steps: int | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]], list[int], bool]:
    """Adam with the official lr schedule. → (best params, history, best step per image, cancelled)."""
    s = problem.settings
    n = problem.w.shape[0]
    total_steps = s.steps if total_steps is None else total_steps
    opt = torch.optim.Adam(problem.params(), lr=s.lr, betas=s.betas)
    best = problem.snapshot()
    best_total = torch.full((n,), float("inf"), device=problem.w.device)
    best_steps = [-1] * n
    history: list[dict[str, float]] = []
    cancelled = False

    def preview(delta_w: torch.Tensor | None = None) -> torch.Tensor:
        """The current φ rendered; with `delta_w` (1, num_ws, w_dim) an edit on it, gated as
        in §3.4 (what the window shows as "Edited" while the inversion runs)."""
        with torch.no_grad():
            if delta_w is None:
                return problem.render().clamp(-1, 1).cpu()
            d = delta_w.to(device=problem.w.device, dtype=problem.w.dtype)
            image = problem.G.synthesize(problem.w_plus(), problem.delta_f, problem.masks, delta_w=d, noise_mode=s.noise_mode)
            return image.clamp(-1, 1).cpu()

    def record(step: int, total: torch.Tensor) -> None:
        improved = total.detach() < best_total
        if bool(improved.any()):
            keep_best(best, problem.current(), improved)
            best_total.copy_(torch.where(improved, total.detach(), best_total))
            for idx in improved.nonzero().flatten().tolist():
                best_steps[idx] = step

    for step in range(s.steps):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        lr = learning_rate(step, s.steps, s)
        for group in opt.param_groups:
            group["lr"] = lr
        total, parts = problem.evaluate()
        record(step, total)
        opt.zero_grad(set_to_none=True)
        total.mean().backward()
        opt.step()
        entry = {"step": float(step), "lr": lr, "total": float(total.detach().mean())}
        entry.update({k: float(v.detach().float().mean()) for k, v in parts.items()})
        history.append(entry)
        if on_step is not None:
            on_step(step_offset + step + 1, total_steps, dict(entry), preview)
    if not cancelled and s.steps > 0:
        with torch.no_grad():  # the parameters after the last update
            total, _ = problem.evaluate()
        record(s.steps, total)
    return best, history, best_steps, cancelled


def _resolve_perceptual(
    perceptual: Perceptual | None, settings: InversionSettings, device: torch.device
) -> Perceptual | None:
    needs = settings.lambda_lpips != 0 or settings.pti_lambda_lpips != 0
    if perceptual is None and needs:
        perceptual = default_perceptual(device)
    if perceptual is not None:
        perceptual = perceptual.to(device)
    return perceptual


def invert(
    G: Generator,
    images: torch.Tensor,
    method: str = "sam",
    latent_map: Any = None,
    settings: InversionSettings | None = None,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    seed: int = 0,
    perceptual: Perceptual | None = None,
    *,
    init_w_plus: torch.Tensor | None = None,
    init_name: str = "e4e",
    init_phi: Phi | None = None,
    w_stats: WPriorStats | None = None,
    generator_id: str | None = None,
    valid: torch.Tensor | np.ndarray | None = None,
) -> InversionResult:
    """Invert `images` (N, 3, H_out, W_out) in [-1, 1] into G by minimising eq. 3.8.

    latent_map: for 'sam' — one map for all images or a sequence of N (see `latent_maps`).
    on_step(step, total, losses, preview_fn): after every step (step = steps done, 1…total);
        `preview_fn()` renders the current
        x̂ (N, 3, H_out, W_out) on demand. should_stop(): polled before every step; when it
        returns True the best φ so far is returned with `cancelled=True`.
    init_w_plus: (N | 1, num_ws, w_dim) start point (e.g. from an e4e encoder; recorded in the
        metadata as `init_name`), else the mean w. init_phi: start from a whole φ (w+ and Δf_i,
        e.g. `encoder.encode(...)`; the hybrid regime), recorded as `init_phi.metadata["init"]`.
        w_stats: μ, Σ of eq. 3.6 (else computed and
        cached per generator, key `generator_id` or a hash of G's weights).
    valid: where the images are photo, (H_out, W_out) bool or (N | 1, 1, H_out, W_out) in [0, 1]
        (`sam_editor.imageio.letterbox`); eq. 3.5 is then computed over those pixels only.
    Deterministic for a given seed; the caller's G is never modified.
    """
    t0 = time.perf_counter()
    settings = settings or InversionSettings()
    method = method.lower().replace("+", "plus")
    if method not in METHODS:
        raise ValueError(f"unknown inversion method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "sam" and latent_map is None:
        raise ValueError("method 'sam' needs a latent map (dict of masks, rank map, or an object with .masks())")
    if method != "sam" and latent_map is not None:
        raise ValueError(f"method {method!r} inverts the whole image in one space; a latent map is for 'sam'")
    target = prepare_images(G, images)
    dev = target.device
    init_delta_f = None
    if init_phi is not None:
        init_w_plus, init_delta_f = init_phi.w_plus, init_phi.delta_f
        init_name = str(init_phi.metadata.get("init", "encoder"))
    n = target.shape[0]
    valid_t = photo_weights(valid, target.shape, dev)
    perceptual = _resolve_perceptual(perceptual, settings, dev)
    needs_prior = settings.lambda_w_prior != 0 or method == "gaussian"
    if needs_prior and w_stats is None:
        w_stats = w_prior_stats(G, generator_id=generator_id, samples=settings.prior_samples)
    stats = None if w_stats is None else w_stats.to(dev)

    ranks: np.ndarray | None = None
    masks: dict[int, torch.Tensor] = {}
    if method == "sam":
        ranks = lm.rank_maps(latent_map, n, G.cfg.output_size)
        masks = lm.feature_masks(G, ranks, dev)
    elif method in SINGLE_FEATURE_METHODS:
        i = SINGLE_FEATURE_METHODS[method]
        masks = {i: lm.full_feature_mask(G, i, dev)}
        ranks = np.full((n, *G.cfg.output_size), LayerSpace.from_index(i).rank, np.uint8)

    meta: dict[str, Any] = {
        "method": method,
        "init": "mean_w" if init_w_plus is None else init_name,
        "steps": settings.steps,
        "seed": seed,
        "generator_id": generator_id,
        "perceptual": None if perceptual is None else perceptual.name,
        "settings": settings.to_dict(),
    }
    cuda_devices = [dev.index or 0] if dev.type == "cuda" else []
    with frozen(G), torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        if method == "pti":
            from .pti import invert_pti

            return invert_pti(G, target, settings, perceptual, stats, on_step, should_stop, seed, init_w_plus, meta, t0, valid_t)
        problem = LatentProblem(G, target, method, settings, perceptual, stats, masks, init_w_plus, valid_t, init_delta_f)
        best, history, best_steps, cancelled = run_latent_optimisation(problem, on_step, should_stop)
        phi = Phi(
            w_plus=problem.w_plus(best["w"]).detach().clone(),
            delta_f={i: best[f"f{i}"] for i in problem.delta_f},
            masks={i: m.detach().clone() for i, m in masks.items()},
            rank_map=None if ranks is None else torch.from_numpy(ranks),
            metadata=meta,
        )
        meta.update(steps_run=len(history), best_steps=best_steps, cancelled=cancelled, loss_size=problem.loss_size)
        with torch.no_grad():
            recon = phi.render(G, noise_mode=settings.noise_mode).clamp(-1, 1).cpu()
    return InversionResult(phi, recon, history, best_steps, cancelled, time.perf_counter() - t0)
