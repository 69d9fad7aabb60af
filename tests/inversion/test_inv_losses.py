"""Eq. 3.5–3.8, the w-prior statistics and their cache, settings and the lr schedule."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from sam_editor.gan.networks import Generator, GeneratorConfig
from sam_editor.inversion import losses as L
from sam_editor.inversion.settings import InversionSettings, learning_rate


def test_defaults_are_the_official_ones():
    s = InversionSettings()
    assert (s.steps, s.lr, s.lr_rampup, s.lr_rampdown, s.betas) == (1001, 0.05, 0.05, 0.25, (0.9, 0.999))
    assert (s.lambda_mse, s.lambda_lpips, s.lambda_f, s.lambda_w_spread, s.lambda_w_prior) == (1, 1, 5, 1e-3, 1e-8)
    assert s.prior_samples == 5000
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 3  # type: ignore[misc]
    # Cars: the 512-frame, 384×512 output is optimised at 192×256; small generators at full size.
    assert s.loss_size((384, 512), 512) == (192, 256)
    assert s.loss_size((32, 32), 32) is None
    assert s.replace(optimise_size=None).loss_size((384, 512), 512) is None
    assert s.replace(optimise_size=(96, 128)).loss_size((384, 512), 512) == (96, 128)


def test_learning_rate_schedule():
    s = InversionSettings()
    assert learning_rate(0, 1001, s) == 0.0  # official quirk: the first step has lr 0
    t = 25 / 1001
    assert learning_rate(25, 1001, s) == pytest.approx(0.05 * t / 0.05)
    assert learning_rate(500, 1001, s) == pytest.approx(0.05)
    t = 900 / 1001
    expected = 0.05 * (0.5 - 0.5 * math.cos(min(1, (1 - t) / 0.25) * math.pi))
    assert learning_rate(900, 1001, s) == pytest.approx(expected)
    assert learning_rate(1000, 1001, s) < 1e-4


def test_loss_rec_is_mse_plus_weighted_perceptual(fallback_perceptual):
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = torch.rand(2, 3, 16, 16) * 2 - 1
    rec, parts = L.loss_rec(x, y, fallback_perceptual, lambda_lpips=0.5)
    mse = torch.stack([F.mse_loss(y[i], x[i]) for i in range(2)])
    assert torch.allclose(parts["mse"], mse)
    assert torch.allclose(rec, mse + 0.5 * fallback_perceptual.distance(y, x))
    rec0, _ = L.loss_rec(x, y, None)
    assert torch.allclose(rec0, mse)


def test_loss_w_uses_inverse_covariance_and_official_spread(stats):
    torch.manual_seed(0)
    w = torch.randn(2, 5, stats.mean.shape[0])
    v = F.leaky_relu(w.double(), 5.0)
    d = v - stats.mean
    manual = torch.stack([sum(d[n, r] @ torch.linalg.inv(stats.cov) @ d[n, r] for r in range(5)) for n in range(2)])
    assert torch.allclose(L.w_prior_term(w, stats).double(), manual, rtol=1e-4)
    spread = sum(torch.linalg.vector_norm(w[:, r] - w[:, 0], dim=1) for r in range(1, 5))
    assert torch.allclose(L.w_spread_term(w), spread, rtol=1e-5)
    assert torch.allclose(L.w_spread_term(w, squared=True), sum((w[:, r] - w[:, 0]).pow(2).sum(1) for r in range(1, 5)))
    total, parts = L.loss_w(w, stats, lambda_prior=2.0, lambda_spread=3.0)
    assert torch.allclose(total, 2 * parts["w_prior"] + 3 * parts["w_spread"])
    # A broadcast w (identical rows) has no spread; its gradient there is finite (zero).
    w1 = w[:, :1].expand(-1, 5, -1).clone().requires_grad_(True)
    L.w_spread_term(w1).sum().backward()
    assert torch.isfinite(w1.grad).all()


def test_loss_f_and_objective():
    a, b = torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)
    lf = L.loss_f({4: a, 6: b})
    assert torch.allclose(lf, a.pow(2).mean((1, 2, 3)) + b.pow(2).mean((1, 2, 3)))
    assert torch.equal(L.loss_f({}, n=3), torch.zeros(3))
    rec, lw = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.25])
    assert torch.allclose(L.objective(rec, lw, lf, 5.0), rec + lw + 5 * lf)


def test_prior_statistics_are_those_of_leaky_relu5_w(G):
    st = L.estimate_w_prior(G, samples=3000, seed=3)
    with torch.no_grad():
        v = F.leaky_relu(G.mapping(torch.randn(3000, G.z_dim)).double(), 5.0)
    assert torch.allclose(st.mean, v.mean(0), atol=0.15)
    assert torch.allclose(st.inv_cov @ st.cov, torch.eye(G.w_dim, dtype=torch.float64), atol=1e-5)
    # A typical sample has Mahalanobis² ≈ w_dim per row.
    w = G.mapping(torch.randn(200, G.z_dim))[:, None]
    assert 0.7 * G.w_dim < float(L.w_prior_term(w, st).mean()) < 1.3 * G.w_dim


def test_prior_statistics_are_cached_on_disk(G, tmp_path, monkeypatch):
    calls = []
    real = L.estimate_w_prior
    monkeypatch.setattr(L, "estimate_w_prior", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = L.w_prior_stats(G, generator_id="file-abc", cache_dir=tmp_path, samples=500)
    b = L.w_prior_stats(G, generator_id="file-abc", cache_dir=tmp_path, samples=500)
    assert len(calls) == 1 and torch.equal(a.inv_cov, b.inv_cov)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("file-abc")
    torch.load(files[0], weights_only=True)  # plain tensors + JSON
    L.w_prior_stats(G, generator_id="file-other", cache_dir=tmp_path, samples=500)
    assert len(calls) == 2
    # Without an id the key is a hash of the weights: a different G gets different statistics.
    L.w_prior_stats(G, cache_dir=tmp_path, samples=500)
    G2 = Generator(GeneratorConfig(resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8))
    assert L.generator_fingerprint(G2) != L.generator_fingerprint(G)
    assert len(calls) == 3


# ---- a photo letterboxed into the frame: no loss outside it -------------------------------------
def test_masked_rec_loss_ignores_the_padding_entirely():
    from sam_editor.perceptual import Perceptual

    torch.manual_seed(0)
    x = torch.rand(2, 3, 24, 32) * 2 - 1
    mask = torch.zeros(1, 1, 24, 32)
    mask[..., 3:21, :] = 1  # a 4:3 photo in the middle rows
    perceptual = Perceptual(backbone_file="/nonexistent")  # the l2+ssim stand-in: a spatial metric too
    x_hat = torch.rand(2, 3, 24, 32, requires_grad=True)
    rec, parts = L.loss_rec(x, x_hat, perceptual, 1.0, 1.0, mask=mask)
    rec.sum().backward()
    assert x_hat.grad[..., :3, :].abs().max() == 0 and x_hat.grad[..., 21:, :].abs().max() == 0
    assert x_hat.grad[..., 3:21, :].abs().max() > 0
    # anything drawn in the padding leaves the loss exactly as it was
    other = x_hat.detach().clone()
    other[..., :3, :] = -1.0
    other[..., 21:, :] = 1.0
    rec2, _ = L.loss_rec(x, other, perceptual, 1.0, 1.0, mask=mask)
    torch.testing.assert_close(rec2, rec.detach(), rtol=0, atol=0)
    # the ℓ2 term is the mean over the photo's pixels, not diluted by the padding
    expected = (x_hat.detach() - x)[..., 3:21, :].pow(2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(parts["mse"].detach(), expected)


def test_inversion_of_a_letterboxed_photo_does_not_see_the_padding(G):
    from sam_editor.inversion.optimise import invert

    from .conftest import sample_image

    x = sample_image(G, 7)
    valid = torch.zeros(x.shape[-2:], dtype=torch.bool)
    valid[4:28] = True
    a, b = x.clone(), x.clone()
    a[..., :4, :], b[..., :4, :] = 1.0, -1.0  # two different paddings around the same photo
    s = InversionSettings(steps=6, lambda_lpips=0.0, prior_samples=500)
    ra = invert(G, a, "wplus", settings=s, valid=valid.numpy())
    rb = invert(G, b, "wplus", settings=s, valid=valid.numpy())
    torch.testing.assert_close(ra.phi.w_plus, rb.phi.w_plus, rtol=0, atol=0)
    rc = invert(G, a, "wplus", settings=s)  # without the mask the padding does pull on w+
    assert not torch.equal(rc.phi.w_plus, ra.phi.w_plus)
