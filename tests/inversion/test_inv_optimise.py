"""`invert`: measured behaviour of every method on tiny generators (CPU, one thread)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sam_editor.gan.layers import LayerSpace
from sam_editor.inversion import InversionSettings, invert
from sam_editor.inversion.images import psnr
from sam_editor.inversion.losses import estimate_w_prior, w_prior_term
from sam_editor.inversion.optimise import LatentProblem

from .conftest import TINY, make_tiny_generator, sample_image

FAST = InversionSettings(steps=30)


def _run(G, x, method, stats, perceptual, **kw):
    settings = kw.pop("settings", FAST)
    return invert(G, x, method, settings=settings, w_stats=stats, perceptual=perceptual, **kw)


def test_losses_decrease_and_history(G, stats, fallback_perceptual):
    x = sample_image(G, 21)
    calls = []
    res = _run(
        G, x, "wplus", stats, fallback_perceptual, on_step=lambda s, t, losses, p: calls.append((s, t, losses, p))
    )
    totals = [h["total"] for h in res.losses]
    assert len(totals) == 30 and totals[-1] < 0.5 * totals[0]
    assert [c[0] for c in calls] == list(range(1, 31)) and all(c[1] == 30 for c in calls)  # steps done
    assert set(calls[5][2]) >= {"total", "mse", "perceptual", "w_prior", "w_spread", "f", "lr"}
    preview = calls[-1][3]()
    assert preview.shape == (1, 3, 32, 32) and preview.abs().max() <= 1
    assert res.phi.metadata["perceptual"] == fallback_perceptual.name and res.phi.metadata["init"] == "mean_w"
    assert res.reconstruction.shape == (1, 3, 32, 32) and res.seconds > 0 and not res.cancelled


def test_wplus_only_latent_map_reproduces_the_wplus_baseline(G, stats, fallback_perceptual):
    x = sample_image(G, 22)
    base = _run(G, x, "wplus", stats, fallback_perceptual, seed=4)
    maps = [np.zeros((32, 32), np.uint8), {LayerSpace.W_PLUS: np.ones((32, 32), bool)}]
    for lmap in maps:
        sam = _run(G, x, "sam", stats, fallback_perceptual, seed=4, latent_map=lmap)
        assert sam.phi.delta_f == {} and sam.phi.masks == {}
        assert torch.equal(sam.phi.w_plus, base.phi.w_plus)
        assert torch.equal(sam.reconstruction, base.reconstruction)


def test_cancel_returns_within_one_step_with_the_best_phi(G, stats, fallback_perceptual):
    x = sample_image(G, 23)
    seen = []
    res = _run(G, x, "sam", stats, fallback_perceptual, latent_map={LayerSpace.F4: np.eye(32, dtype=bool)},
               on_step=lambda s, t, losses, p: seen.append(s), should_stop=lambda: len(seen) >= 7)  # fmt: skip
    assert res.cancelled and seen == list(range(1, 8)) and len(res.losses) == 7
    totals = [h["total"] for h in res.losses]
    assert res.best_step == int(np.argmin(totals))
    # φ holds the parameters evaluated at the best step: re-evaluating it gives that step's loss.
    problem = LatentProblem(G, x.clone(), "sam", FAST, fallback_perceptual, stats, res.phi.masks, None)
    with torch.no_grad():
        problem.w.copy_(res.phi.w_plus)
        problem.delta_f[4].copy_(res.phi.delta_f[4])
        total, _ = problem.evaluate()
    assert float(total) == pytest.approx(totals[res.best_step], rel=1e-5)
    assert res.best_step > 0 and not torch.equal(res.phi.w_plus, G.mean_w_plus(1))
    assert res.phi.metadata["cancelled"] is True
    stop_now = _run(G, x, "wplus", stats, fallback_perceptual, should_stop=lambda: True)
    assert stop_now.cancelled and stop_now.losses == [] and torch.equal(stop_now.phi.w_plus, G.mean_w_plus(1))


def test_seeds_reproduce(G, stats, fallback_perceptual):
    x = sample_image(G, 24)
    lmap = {LayerSpace.F4: np.tri(32, dtype=bool)}
    s = InversionSettings(steps=8, pti_tune_steps=4)
    a = _run(G, x, "sam", stats, fallback_perceptual, latent_map=lmap, settings=s, seed=1)
    b = _run(G, x, "sam", stats, fallback_perceptual, latent_map=lmap, settings=s, seed=1)
    assert torch.equal(a.phi.delta_f[4], b.phi.delta_f[4]) and torch.equal(a.reconstruction, b.reconstruction)
    # PTI samples z for its locality regulariser: same seed → same tuned G, another seed → another.
    p1 = _run(G, x, "pti", stats, fallback_perceptual, settings=s, seed=1)
    p2 = _run(G, x, "pti", stats, fallback_perceptual, settings=s, seed=1)
    p3 = _run(G, x, "pti", stats, fallback_perceptual, settings=s, seed=2)
    assert torch.equal(p1.reconstruction, p2.reconstruction)
    assert not torch.equal(p1.reconstruction, p3.reconstruction)


def test_generated_image_inverts_in_wplus_to_high_psnr(G, stats, fallback_perceptual):
    """Measured (100 steps, seeds 11–13): 47–54 dB from 28 dB at the mean w. Bar: 40 dB."""
    x = sample_image(G, 11)
    res = _run(G, x, "wplus", stats, fallback_perceptual, settings=InversionSettings(steps=100))
    assert float(psnr(res.reconstruction, x)) > 40.0


def test_foreign_patch_is_reconstructed_better_by_sam_than_by_wplus(stats, fallback_perceptual):
    """A smooth colour ramp pasted into a G image. Official weights (λ_F = 5), 100 steps, on a
    32-px G with 32-channel blocks; measured: patch PSNR W+ 24.3 dB, SAM (patch in F4) 28.7 dB,
    and outside the patch 33.8 → 36.8 dB (W+ no longer compromises for the patch)."""
    G = make_tiny_generator(cfg=dataclasses.replace(TINY, channel_base=1024))
    st = estimate_w_prior(G, samples=2000)
    x = sample_image(G, 11).clone()
    patch = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    patch[..., 8:20, 12:24] = True
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    ramp = torch.stack([xx / 32 * 1.6 - 0.8, 0.8 - yy / 32 * 1.6, torch.full_like(xx, 0.6)])[None]
    x = torch.where(patch, ramp, x)
    s = InversionSettings(steps=100)
    w = _run(G, x, "wplus", st, fallback_perceptual, settings=s)
    sam = _run(G, x, "sam", st, fallback_perceptual, settings=s, latent_map={LayerSpace.F4: patch[0, 0].numpy()})
    w_in, sam_in = float(psnr(w.reconstruction, x, patch)), float(psnr(sam.reconstruction, x, patch))
    assert sam_in > w_in + 2.5, (w_in, sam_in)
    assert float(psnr(sam.reconstruction, x, ~patch)) > float(psnr(w.reconstruction, x, ~patch)) - 0.5


def test_method_shapes_and_gaussian_prior(G, stats, fallback_perceptual):
    x = sample_image(G, 25)
    w = _run(G, x, "w", stats, fallback_perceptual)
    assert torch.equal(w.phi.w_plus, w.phi.w_plus[:, :1].expand_as(w.phi.w_plus))  # one w, broadcast
    f4 = _run(G, x, "f4", stats, fallback_perceptual)
    assert set(f4.phi.delta_f) == {4} and torch.all(f4.phi.masks[4] == 1)  # whole image in F4
    assert f4.phi.rank_map is not None and int(f4.phi.rank_map.max()) == LayerSpace.F4.rank
    assert not torch.equal(f4.phi.w_plus, G.mean_w_plus(1))  # w+ is optimised too
    with pytest.raises(ValueError, match="F8"):
        _run(G, x, "f8", stats, fallback_perceptual)
    f6 = _run(G, x, "f6", stats, fallback_perceptual)  # the last block: Δf_6 acts through its toRGB
    assert float(f6.phi.delta_f[6].abs().max()) > 0
    with pytest.raises(ValueError, match="latent map"):
        _run(G, x, "sam", stats, fallback_perceptual)
    # Gaussian prior: a far-from-typical target pulls W+ away; the prior keeps it closer to μ.
    far = sample_image(G, 26, truncation=2.0)
    s = InversionSettings(steps=40)
    plain = _run(G, far, "wplus", stats, fallback_perceptual, settings=s)
    gauss = _run(G, far, "gaussian", stats, fallback_perceptual, settings=s)
    assert float(w_prior_term(gauss.phi.w_plus, stats)) < 0.7 * float(w_prior_term(plain.phi.w_plus, stats))


def test_batch_matches_single_images_and_init(G, stats, fallback_perceptual):
    x = torch.cat([sample_image(G, 27), sample_image(G, 28)])
    s = InversionSettings(steps=12)
    both = _run(G, x, "wplus", stats, fallback_perceptual, settings=s)
    one = _run(G, x[1:], "wplus", stats, fallback_perceptual, settings=s)
    assert len(both.best_steps) == 2 and both.phi.w_plus.shape == (2, G.num_ws, G.w_dim)
    assert torch.allclose(both.phi.w_plus[1:], one.phi.w_plus, atol=1e-4)
    init = G.mean_w_plus(1) + 0.05
    e4e = _run(G, x[:1], "wplus", stats, fallback_perceptual, settings=InversionSettings(steps=0), init_w_plus=init)
    assert e4e.phi.metadata["init"] == "e4e" and torch.equal(e4e.phi.w_plus, init)


def test_callers_generator_is_untouched(G, stats, fallback_perceptual):
    G.synthesis.b32.conv1.weight.requires_grad_(True)  # a caller mid-training, say
    before = {k: v.clone() for k, v in G.state_dict().items()}
    try:
        x = sample_image(G, 29)
        s = InversionSettings(steps=6, pti_tune_steps=6)
        _run(G, x, "sam", stats, fallback_perceptual, settings=s, latent_map={LayerSpace.F4: np.eye(32, dtype=bool)})
        pti = _run(G, x, "pti", stats, fallback_perceptual, settings=s)
        assert G.synthesis.b32.conv1.weight.grad is None and G.synthesis.b32.conv1.weight.requires_grad
        assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
        assert pti.generators is not None and pti.generators[0] is not G
    finally:
        G.synthesis.b32.conv1.weight.requires_grad_(False)


def test_pti_tuning_improves_on_its_pivot(G, stats, fallback_perceptual):
    x = torch.flip(sample_image(G, 30), dims=[3])
    x[..., 4:12, 4:12] = 0.7  # something W cannot make
    s = InversionSettings(steps=40, pti_tune_steps=40)
    pti = _run(G, x, "pti", stats, fallback_perceptual, settings=s)
    pivot = G.synthesize(pti.phi.w_plus).clamp(-1, 1)
    assert float(psnr(pti.reconstruction, x)) > float(psnr(pivot, x)) + 1.0
    assert len(pti.losses) > 40 and pti.phi.metadata["method"] == "pti"


# ---- the objective of eq. 3.8 as the optimiser sees it, term by term (issue 36) ------------------
def _hand_objective(G, target, w, delta_f, masks, stats, perceptual, s, lambda_prior, valid=None):
    """Eq. 3.5-3.8 written out: λ_mse·MSE + λ_lpips·perceptual + λ_prior·Mahalanobis² + λ_spread·Σ‖w_r − w_0‖
    + λ_F·Σ mean(Δf²), with x̂ clamped to [-1, 1] and, with a valid mask, means over the photo only."""
    import torch.nn.functional as F

    w_plus = w.expand(-1, G.num_ws, -1)  # the W method optimises one row, shared by every layer
    x_hat = G.synthesize(w_plus, delta_f, masks, noise_mode=s.noise_mode).clamp(-1, 1)
    if valid is not None:
        x_hat = valid * x_hat + (1 - valid) * target
        mse = ((x_hat - target) ** 2).sum(dim=(1, 2, 3)) / (3 * valid.sum())
        perc = perceptual.masked_distance(x_hat, target, valid)
    else:
        mse = torch.stack([F.mse_loss(x_hat[i], target[i]) for i in range(target.shape[0])])
        perc = perceptual.distance(x_hat, target)
    v = F.leaky_relu(w.double(), 5.0) - stats.mean  # the prior and spread of the rows optimised
    prior = torch.einsum("nri,ij,nrj->n", v, torch.linalg.inv(stats.cov), v).float()
    spread = sum(((w[:, r] - w[:, 0]) ** 2).sum(-1) ** (1.0 if s.w_spread_squared else 0.5) for r in range(1, w.shape[1]))
    lf = sum(d.pow(2).mean(dim=(1, 2, 3)) for d in delta_f.values()) if delta_f else torch.zeros(target.shape[0])
    return s.lambda_mse * mse + s.lambda_lpips * perc + lambda_prior * prior + s.lambda_w_spread * spread + s.lambda_f * lf


@pytest.mark.parametrize("method", ["sam", "gaussian", "w"])
def test_problem_objective_is_eq_3_8_with_every_weight(G, stats, fallback_perceptual, method):
    torch.manual_seed(11)
    x = sample_image(G, 31)
    s = InversionSettings(lambda_mse=0.1, lambda_lpips=0.5, lambda_f=3.0, lambda_w_spread=0.2, lambda_w_prior=1e-3,
                          w_spread_squared=method == "gaussian", gaussian_prior_strength=0.5)
    init = G.mean_w_plus(1) + 0.3 * torch.randn(1, G.num_ws, G.w_dim)
    masks = {2: torch.rand(1, 1, *G.feature_shape(2)[1:])} if method == "sam" else {}
    init_df = {2: torch.randn(1, *G.feature_shape(2))} if method == "sam" else None
    valid = torch.ones(1, 1, *x.shape[-2:])
    valid[..., :5, :] = 0
    p = LatentProblem(G, x, method, s, fallback_perceptual, stats, masks, init, valid, init_df)
    total, parts = p.evaluate()
    w = init.mean(dim=1, keepdim=True) if method == "w" else init
    lambda_prior = 0.5 / (G.num_ws * G.w_dim) if method == "gaussian" else 1e-3
    expected = _hand_objective(G, x, w, init_df or {}, masks, stats, fallback_perceptual, s, lambda_prior, valid)
    torch.testing.assert_close(total.detach(), expected.detach(), rtol=1e-4, atol=1e-6)
    assert set(parts) == {"rec", "mse", "perceptual", "w_prior", "w_spread", "f"}
    assert [t.requires_grad for t in p.params()] == [True] * (2 if method == "sam" else 1)
    assert p.w.shape == ((1, 1, G.w_dim) if method == "w" else (1, G.num_ws, G.w_dim))
