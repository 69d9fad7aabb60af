"""Pivotal tuning inversion (Roich et al. 2021), the PTI baseline of Table 4.1.

1. Invert into W (one w per image, the "pivot") with the latent optimiser.
2. Per image, fine-tune a *copy* of G's synthesis weights so that G'(pivot) ≈ x, with
   λ_ℓ2 ℓ2 + λ_LPIPS LPIPS and PTI's locality regulariser: w_r = pivot + α (w_z − pivot)/‖w_z − pivot‖
   for w_z = mapping(z) (truncation 0.5), penalising 0.1 ℓ2 + 0.1 LPIPS between G'(w_r) and G(w_r).

PTI's defaults: 350 tuning steps, Adam lr 3e-4, α = 30, early stop at LPIPS ≤ 0.07. PTI uses
LPIPS-AlexNet; we use the project's LPIPS-VGG (the thesis evaluates everything with VGG).
The caller's G is never modified.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch

from ..gan.networks import Generator
from ..perceptual import Perceptual
from .losses import WPriorStats, loss_rec
from .optimise import InversionResult, LatentProblem, OnStep, ShouldStop, run_latent_optimisation, to_loss_size
from .phi import Phi
from .settings import InversionSettings


def _tune_one(
    G: Generator,
    pivot: torch.Tensor,  # (1, num_ws, w_dim)
    target: torch.Tensor,  # (1, 3, h, w) at the loss size
    settings: InversionSettings,
    perceptual: Perceptual | None,
    loss_size: tuple[int, int] | None,
    on_step: OnStep | None,
    should_stop: ShouldStop | None,
    gen: torch.Generator,
    step_offset: int,
    total_steps: int,
    valid: torch.Tensor | None = None,  # (1, 1, h, w) at the loss size: the photo's pixels
) -> tuple[Generator, list[dict[str, float]], int, bool]:
    """→ (tuned copy of G holding the best weights seen, history, best step, cancelled)."""
    s = settings
    Gt = copy.deepcopy(G)
    params = [p for p in Gt.synthesis.parameters()]
    for p in Gt.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=s.pti_lr)
    history: list[dict[str, float]] = []
    best_loss, best_step, cancelled = float("inf"), -1, False
    best_state = {k: v.detach().clone() for k, v in Gt.synthesis.state_dict().items()}
    prepared = perceptual.prepare_target(target) if perceptual is not None and s.pti_lambda_lpips != 0 else None

    def evaluate() -> tuple[torch.Tensor, dict[str, float]]:
        x_hat = to_loss_size(Gt.synthesize(pivot, noise_mode=s.noise_mode), loss_size, s.clamp)
        rec, parts = loss_rec(target, x_hat, perceptual, s.pti_lambda_lpips, s.pti_lambda_mse, prepared, valid)
        total = rec.mean()
        info = {"mse": float(parts["mse"].detach().mean()), "perceptual": float(parts["perceptual"].detach().mean())}
        if s.pti_locality and torch.is_grad_enabled():
            z = torch.randn(1, G.z_dim, generator=gen).to(pivot.device)
            with torch.no_grad():
                wz = G.map(z, truncation_psi=s.pti_locality_truncation)
                d = wz - pivot
                w_r = pivot + s.pti_locality_alpha * d / d.norm().clamp_min(1e-12)
                old = to_loss_size(G.synthesize(w_r, noise_mode=s.noise_mode), loss_size, s.clamp)
            new = to_loss_size(Gt.synthesize(w_r, noise_mode=s.noise_mode), loss_size, s.clamp)
            loc, _ = loss_rec(old, new, perceptual, s.pti_locality_lambda_lpips, s.pti_locality_lambda_mse)
            total = total + loc.mean()
            info["locality"] = float(loc.detach().mean())
        return total, info

    def preview(delta_w: torch.Tensor | None = None) -> torch.Tensor:  # with δw+: an edit on it (W+ only)
        with torch.no_grad():
            d = None if delta_w is None else delta_w.to(device=pivot.device, dtype=pivot.dtype)
            return Gt.synthesize(pivot, delta_w=d, noise_mode=s.noise_mode).clamp(-1, 1).cpu()

    def keep(step: int, rec_value: float) -> None:
        nonlocal best_loss, best_step
        if rec_value < best_loss:
            best_loss, best_step = rec_value, step
            for k, v in Gt.synthesis.state_dict().items():
                best_state[k].copy_(v)

    steps = s.tune_steps
    for step in range(steps):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        total, info = evaluate()
        # Best = lowest reconstruction loss (the locality term is stochastic).
        rec_value = s.pti_lambda_mse * info["mse"] + s.pti_lambda_lpips * info["perceptual"]
        keep(step, rec_value)
        entry = {"step": float(step), "lr": s.pti_lr, "total": float(total.detach()), **info}
        history.append(entry)
        if perceptual is not None and perceptual.is_lpips and info["perceptual"] <= s.pti_lpips_stop:
            break  # PTI's early stop, before the update
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if on_step is not None:
            on_step(step_offset + step + 1, total_steps, dict(entry), preview)
    else:
        if steps > 0:
            with torch.no_grad():
                _, info = evaluate()
            keep(steps, s.pti_lambda_mse * info["mse"] + s.pti_lambda_lpips * info["perceptual"])
    Gt.synthesis.load_state_dict(best_state)
    Gt.requires_grad_(False).eval()
    return Gt, history, best_step, cancelled


def invert_pti(
    G: Generator,
    target: torch.Tensor,  # (N, 3, H_out, W_out) on G's device
    settings: InversionSettings,
    perceptual: Perceptual | None,
    stats: WPriorStats | None,
    on_step: OnStep | None,
    should_stop: ShouldStop | None,
    seed: int,
    init_w_plus: torch.Tensor | None,
    meta: dict[str, Any],
    t0: float,
    valid: torch.Tensor | None = None,
) -> InversionResult:
    """Both PTI phases; progress counts steps + N · tune steps."""
    n = target.shape[0]
    total_steps = settings.steps + n * settings.tune_steps
    problem = LatentProblem(G, target, "pti", settings, perceptual, stats, {}, init_w_plus, valid)
    best, history, best_steps, cancelled = run_latent_optimisation(problem, on_step, should_stop, 0, total_steps)
    pivots = problem.w_plus(best["w"]).detach().clone()
    generators: list[Generator] | None = None
    if not cancelled:
        generators = []
        gen = torch.Generator().manual_seed(seed)
        for i in range(n):
            offset = settings.steps + i * settings.tune_steps
            Gt, hist, step, cancelled = _tune_one(
                G, pivots[i : i + 1], problem.target[i : i + 1], settings, perceptual, problem.loss_size,
                on_step, should_stop, gen, offset, total_steps,
                None if problem.valid is None else problem.valid[i : i + 1] if problem.valid.shape[0] > 1 else problem.valid,
            )  # fmt: skip
            generators.append(Gt)
            history += [{**h, "image": float(i), "phase": 1.0} for h in hist]
            best_steps[i] = settings.steps + step if step >= 0 else best_steps[i]
            if cancelled:
                break
    phi = Phi(w_plus=pivots, metadata=meta)
    meta.update(steps_run=len(history), best_steps=best_steps, cancelled=cancelled, loss_size=problem.loss_size)
    meta["tuned_images"] = 0 if generators is None else len(generators)
    with torch.no_grad():
        recs = []
        for i in range(n):
            Gi = generators[i] if generators is not None and i < len(generators) else G
            recs.append(Gi.synthesize(pivots[i : i + 1], noise_mode=settings.noise_mode).clamp(-1, 1).cpu())
    return InversionResult(phi, torch.cat(recs), history, best_steps, cancelled, time.perf_counter() - t0, generators)
