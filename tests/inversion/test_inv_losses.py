"""Eq. 3.5–3.8, the w-prior statistics and their cache, settings and the lr schedule."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

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
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = torch.rand(2, 3, 16, 16) * 2 - 1
    mse = torch.stack([F.mse_loss(y[i], x[i]) for i in range(2)])
    # the fallback metric written out: per-pixel squared error (channel mean) + 1 − SSIM, averaged
    from sam_editor.perceptual.perceptual import ssim_map

    perc = ((y - x).pow(2).mean(1, keepdim=True) + 1 - ssim_map(y, x)).mean(dim=(1, 2, 3))
    rec, parts = L.loss_rec(x, y, fallback_perceptual, lambda_lpips=0.5)
    torch.testing.assert_close(parts["mse"], mse)
    torch.testing.assert_close(parts["perceptual"], perc)
    torch.testing.assert_close(rec, mse + 0.5 * perc)
    # eq. 3.5's weights, the official ones by default (1, 1); PTI's λ_mse = 0.1 scales ℓ2 alone
    torch.testing.assert_close(L.loss_rec(x, y, fallback_perceptual)[0], mse + perc)
    torch.testing.assert_close(L.loss_rec(x, y, fallback_perceptual, 1.0, 0.1)[0], 0.1 * mse + perc)
    torch.testing.assert_close(L.loss_rec(x, y, fallback_perceptual, 2.0, 0.0)[0], 2 * perc)
    rec0, parts0 = L.loss_rec(x, y, None)
    torch.testing.assert_close(rec0, mse)
    assert torch.equal(parts0["perceptual"], torch.zeros(2))
    # a prepared target is what x̂ is compared with (its VGG pass is not redone from x)
    other = torch.rand(2, 3, 16, 16) * 2 - 1
    _, parts_p = L.loss_rec(x, y, fallback_perceptual, prepared=fallback_perceptual.prepare_target(other))
    torch.testing.assert_close(parts_p["perceptual"], fallback_perceptual.distance(y, other))


def _hand_prior(w, stats):
    """Σ_rows (ŵ − μ)ᵀ Σ⁻¹ (ŵ − μ), ŵ = LeakyReLU(w, 5), row by row with Σ inverted here."""
    v = torch.where(w.double() >= 0, w.double(), 5.0 * w.double())
    inv = torch.linalg.inv(stats.cov)
    return torch.stack([sum((v[n, r] - stats.mean) @ inv @ (v[n, r] - stats.mean) for r in range(w.shape[1]))
                        for n in range(w.shape[0])]).float()


def _hand_spread(w, squared=False):
    """Σ_{r≥1} ‖w_r − w_0‖ (or its square), image by image."""
    out = []
    for n in range(w.shape[0]):
        terms = [float(((w[n, r] - w[n, 0]) ** 2).sum()) for r in range(1, w.shape[1])]
        out.append(sum(terms) if squared else sum(math.sqrt(t) for t in terms))
    return torch.tensor(out)


def test_loss_w_uses_inverse_covariance_and_official_spread(stats):
    torch.manual_seed(0)
    w = torch.randn(2, 5, stats.mean.shape[0])
    prior, spread = _hand_prior(w, stats), _hand_spread(w)
    torch.testing.assert_close(L.w_prior_term(w, stats), prior, rtol=1e-4, atol=0)
    torch.testing.assert_close(L.w_spread_term(w), spread)
    torch.testing.assert_close(L.w_spread_term(w, squared=True), _hand_spread(w, squared=True))
    # eq. 3.6 with its own weights, against the terms computed above (not loss_w's parts)
    total, parts = L.loss_w(w, stats, lambda_prior=2.0, lambda_spread=3.0)
    torch.testing.assert_close(total, 2 * prior + 3 * spread, rtol=1e-4, atol=0)
    torch.testing.assert_close(parts["w_prior"], prior, rtol=1e-4, atol=0)
    torch.testing.assert_close(parts["w_spread"], spread)
    # the official weights by default: 1e-8 on the prior, 1e-3 on the plain (unsquared) spread
    torch.testing.assert_close(L.loss_w(w, stats)[0], 1e-8 * prior + 1e-3 * spread, rtol=1e-5, atol=0)
    torch.testing.assert_close(L.loss_w(w, stats, 1.0, 1.0)[0], prior + spread, rtol=1e-4, atol=0)
    squared = L.loss_w(w, stats, 0.0, 1.0, squared_spread=True)
    torch.testing.assert_close(squared[0], _hand_spread(w, squared=True))
    # A broadcast w (identical rows) has no spread; its gradient there is finite (zero).
    w1 = w[:, :1].expand(-1, 5, -1).clone().requires_grad_(True)
    L.w_spread_term(w1).sum().backward()
    assert torch.isfinite(w1.grad).all()


def test_each_w_term_switches_off_alone(stats):
    """λ = 0 (or no statistics, or one row) skips a term: it is exactly zero, in the total and in
    the parts the history shows, and the other term is untouched."""
    torch.manual_seed(1)
    w = torch.randn(3, 2, stats.mean.shape[0])  # 3 images of 2 rows: N ≠ rows
    prior, spread = _hand_prior(w, stats), _hand_spread(w)
    total, parts = L.loss_w(w, stats, lambda_prior=0.0, lambda_spread=1.0)
    torch.testing.assert_close(total, spread)
    assert torch.equal(parts["w_prior"], torch.zeros(3))
    total, parts = L.loss_w(w, stats, lambda_prior=1.0, lambda_spread=0.0)  # W+ spread of eq. 3.6 off
    torch.testing.assert_close(total, prior, rtol=1e-4, atol=0)
    assert torch.equal(parts["w_spread"], torch.zeros(3))
    total, parts = L.loss_w(w, None, lambda_prior=1.0, lambda_spread=1.0)  # no statistics: spread only
    torch.testing.assert_close(total, spread)
    assert torch.equal(parts["w_prior"], torch.zeros(3))
    one_row = w[:, :1]
    total, parts = L.loss_w(one_row, None, 1.0, 1.0)
    assert torch.equal(total, torch.zeros(3)) and torch.equal(parts["w_spread"], torch.zeros(3))
    # the spread counts rows, not the width of w: w_dim = 1 still has a spread
    narrow = torch.tensor([[[0.0], [2.0], [-1.0]]])
    torch.testing.assert_close(L.loss_w(narrow, None, 0.0, 1.0)[0], torch.tensor([3.0]))


def test_loss_f_and_objective():
    a, b = torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)
    lf = L.loss_f({4: a, 6: b})
    assert torch.allclose(lf, a.pow(2).mean((1, 2, 3)) + b.pow(2).mean((1, 2, 3)))
    assert torch.equal(L.loss_f({}, n=3), torch.zeros(3))
    with pytest.raises(ValueError, match="^loss_f of no feature spaces needs the batch size n$"):
        L.loss_f({})
    rec, lw = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.25])
    assert torch.allclose(L.objective(rec, lw, lf, 2.0), rec + lw + 2 * lf)
    assert torch.allclose(L.objective(rec, lw, lf), rec + lw + 5 * lf)  # the official λ_F = 5


def test_prior_statistics_are_those_of_leaky_relu5_w(G):
    n = 200
    st = L.estimate_w_prior(G, samples=n, seed=3)
    assert st.samples == n
    with torch.no_grad():  # the same seeded z ~ N(0, I), mapped and passed through LeakyReLU(·, 5)
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(3))
        w = G.mapping(z)
    v = F.leaky_relu(w.double(), 5.0).numpy()
    import numpy as np

    # numpy's unbiased covariance (ddof = 1) plus the official 1e-8·I: a biased (1/n) Σ is 0.5 % off
    np.testing.assert_allclose(st.mean.numpy(), v.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(st.cov.numpy(), np.cov(v, rowvar=False) + 1e-8 * np.eye(G.w_dim), rtol=1e-9, atol=1e-12)
    assert torch.allclose(st.inv_cov @ st.cov, torch.eye(G.w_dim, dtype=torch.float64), atol=1e-5)
    # Σ_i d_iᵀ S⁻¹ d_i = (n − 1)·tr(I) over the samples S was estimated from: mean (n − 1)/n · w_dim
    mahalanobis = L.w_prior_term(w[:, None], st)
    assert float(mahalanobis.double().mean()) == pytest.approx((n - 1) / n * G.w_dim, rel=2e-4)
    assert not torch.equal(L.estimate_w_prior(G, samples=n, seed=4).mean, st.mean)  # the seed matters


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


class _MakesDir:
    """Unpickling this runs os.mkdir(path): a stand-in for a cache file that runs code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_prior_statistics_cache_file_name_contents_and_reuse(G, tmp_path, monkeypatch):
    a = L.w_prior_stats(G, generator_id="../car v1.pkl", cache_dir=tmp_path, samples=300, seed=2)
    # the id becomes a file name: letters, digits and "-_." kept, anything else (a "/" too) is "_"
    path = tmp_path / ".._car_v1.pkl_300_s2.pt"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    meta = json.loads(torch.load(path, weights_only=True)["meta"])
    assert meta == {"version": 1, "samples": 300, "seed": 2, "key": "../car v1.pkl"}
    assert (a.samples, a.key) == (300, "../car v1.pkl")
    torch.testing.assert_close(a.cov, L.estimate_w_prior(G, samples=300, seed=2).cov, rtol=0, atol=0)
    calls = []
    monkeypatch.setattr(L, "estimate_w_prior", lambda *args, **kw: calls.append(kw))
    b = L.w_prior_stats(G, generator_id="../car v1.pkl", cache_dir=tmp_path, samples=300, seed=2)
    assert not calls and (b.samples, b.key) == (300, "../car v1.pkl") and torch.equal(b.inv_cov, a.inv_cov)


def test_prior_statistics_defaults_and_stale_or_hostile_cache_files(G, tmp_path):
    st = L.w_prior_stats(G, generator_id="g", cache_dir=tmp_path)  # the official 5000 samples, seed 0
    assert st.samples == 5000 and (tmp_path / "g_5000_s0.pt").is_file()
    # the same id for a generator of another width: the cached file does not fit, so it is recomputed
    G8 = Generator(GeneratorConfig(resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8))
    assert L.w_prior_stats(G8, generator_id="g", cache_dir=tmp_path).mean.shape == (8,)
    # a cache file that would run code when unpickled is never unpickled: recomputed instead
    marker = tmp_path / "code-ran"
    torch.save({"meta": _MakesDir(str(marker))}, tmp_path / "h_300_s0.pt")
    st = L.w_prior_stats(G, generator_id="h", cache_dir=tmp_path, samples=300)
    assert not marker.exists() and st.mean.shape == (G.w_dim,)
    assert torch.load(tmp_path / "h_300_s0.pt", weights_only=True)["mean"].shape == (G.w_dim,)  # overwritten


def test_statistics_and_terms_follow_the_device_of_their_inputs(G, tmp_path, monkeypatch):
    """A second device without a GPU: "meta" tensors (shapes only), which refuse to mix with CPU ones."""
    st = L.w_prior_stats(G, generator_id="dev", cache_dir=tmp_path, samples=300)
    moved = st.to("meta")
    assert [t.device.type for t in (moved.mean, moved.cov, moved.inv_cov)] == ["meta"] * 3
    assert (moved.samples, moved.key) == (300, "dev") and st.mean.device.type == "cpu"
    G_meta = copy.deepcopy(G).to("meta")
    assert L.w_prior_stats(G_meta, generator_id="dev", cache_dir=tmp_path, samples=300).inv_cov.device.type == "meta"
    monkeypatch.setattr(L, "estimate_w_prior", lambda *args, **kw: st)  # computed on the CPU, as it is
    assert L.w_prior_stats(G_meta, generator_id="new", cache_dir=tmp_path, samples=300).mean.device.type == "meta"
    assert L.w_prior_term(torch.zeros(2, 3, G.w_dim, device="meta"), st).device.type == "meta"
    rec = torch.zeros(2, device="meta")
    assert L.objective(rec, rec, torch.zeros(2)).device.type == "meta"


def test_cache_folder_and_fingerprints(G, tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_EDITOR_CACHE", str(tmp_path / "c"))
    assert L.default_cache_dir() == tmp_path / "c" / "w_prior"
    monkeypatch.delenv("SAM_EDITOR_CACHE")
    import platformdirs

    assert L.default_cache_dir() == Path(platformdirs.user_cache_dir("sam-editor")) / "w_prior"
    f = tmp_path / "g.pkl"
    f.write_bytes(b"generator bytes")
    assert L.file_fingerprint(f) == hashlib.sha256(b"generator bytes").hexdigest()[:16]
    fp = L.generator_fingerprint(G)
    assert len(fp) == 16 and int(fp, 16) >= 0
    # weights are hashed as float32 values: the same G held in float64 has the same key
    assert L.generator_fingerprint(copy.deepcopy(G).double()) == fp


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


def test_masked_loss_is_a_mean_over_the_photo_not_the_frame(fallback_perceptual):
    torch.manual_seed(2)
    x = torch.rand(1, 3, 24, 32) * 2 - 1
    x_hat = torch.rand(1, 3, 24, 32) * 2 - 1
    mask = torch.zeros(1, 1, 24, 32)
    mask[..., 6:18, :] = 1  # the photo: half the frame's rows
    _, parts = L.loss_rec(x, x_hat, fallback_perceptual, mask=mask)
    emap = fallback_perceptual.error_map(torch.where(mask.bool(), x_hat, x), x)  # x̂ taken as x outside
    torch.testing.assert_close(parts["perceptual"], emap[..., 6:18, :].mean(dim=(1, 2, 3)))
    assert float(parts["perceptual"]) > 1.5 * float(emap.mean())  # the frame's mean is diluted by the padding
    # a bool mask (the letterbox's valid pixels) means the same as its float form
    rec_b, parts_b = L.loss_rec(x, x_hat, fallback_perceptual, mask=mask.bool())
    torch.testing.assert_close(parts_b["perceptual"], parts["perceptual"])
    assert rec_b.dtype == torch.float32
    # a soft mask weighs pixels: one pixel at weight ½ → ¼ of its squared error over ½ pixel × 3 channels
    soft = torch.zeros(1, 1, 24, 32)
    soft[0, 0, 5, 7] = 0.5
    _, parts_s = L.loss_rec(x, x_hat, None, mask=soft)
    expected = 0.25 * (x_hat - x)[0, :, 5, 7].pow(2).sum() / (0.5 * 3)
    torch.testing.assert_close(parts_s["mse"], expected.reshape(1))


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
