"""The SAM encoder E(x, m) → φ̂ and the hybrid regime (encoder start + optimisation)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sam_editor.demo.train_encoder import EncoderTraining, Pool, train_encoder
from sam_editor.inversion import InversionSettings, invert
from sam_editor.inversion.encoder import (
    EncoderConfig,
    EncoderError,
    SAMEncoder,
    encode,
    load_encoder,
    save_encoder,
)

from .conftest import TINY, make_tiny_generator

STEPS = 150


def _split_map(n: int, size: tuple[int, int], rank: int = 2) -> np.ndarray:
    """Left half W+, right half rank `rank` (F6 at rank 2)."""
    ranks = np.zeros((n, *size), np.uint8)
    ranks[:, :, size[1] // 2 :] = rank
    return ranks


def _samples(G, n: int, seed: int) -> torch.Tensor:
    with torch.no_grad():
        w = G.map(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)))
        return G.synthesize(w, {}, {}, noise_mode="const").clamp(-1, 1)


def test_untrained_encoder_is_the_mean_w_and_no_feature_change(G):
    enc = SAMEncoder(EncoderConfig.for_generator(G), w_avg=G.mapping.w_avg)
    x = _samples(G, 2, 0)
    phi = encode(enc, G, x, _split_map(2, G.cfg.output_size))
    assert phi.w_plus.shape == (2, G.num_ws, G.w_dim)
    assert torch.allclose(phi.w_plus, G.mapping.w_avg.expand_as(phi.w_plus))
    assert set(phi.delta_f) == set(phi.masks) == {6}
    assert phi.delta_f[6].shape == (2, *G.feature_shape(6)) and not phi.delta_f[6].any()
    assert phi.metadata["init"] == "encoder"
    assert encode(enc, G, x).delta_f == {}  # no map: the plain W+ encoder


def test_save_load_round_trip_and_clear_refusals(G, tmp_path):
    torch.manual_seed(0)
    enc = SAMEncoder(EncoderConfig.for_generator(G), w_avg=G.mapping.w_avg)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x = _samples(G, 2, 1)
    ranks = _split_map(2, G.cfg.output_size)
    path = save_encoder(enc, tmp_path / "encoder.pt", {"steps": 3})
    back = load_encoder(path, G=G)
    a, b = encode(enc, G, x, ranks), encode(back, G, x, ranks)
    assert torch.allclose(a.w_plus, b.w_plus, atol=2e-2) and torch.allclose(a.delta_f[6], b.delta_f[6], atol=2e-2)
    assert back.metadata == {"steps": 3}
    other = make_tiny_generator(cfg=dataclasses.replace(TINY, resolution=64))
    with pytest.raises(EncoderError, match="32 px generator"):
        load_encoder(path, G=other)
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EncoderError, match="not a readable encoder"):
        load_encoder(tmp_path / "broken.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(EncoderError, match="not a SAM Editor encoder"):
        load_encoder(tmp_path / "other.pt")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An encoder trained for a few hundred steps on the tiny generator (pool = G's own samples
    with split maps)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the autouse one-thread fixture
    G = make_tiny_generator()
    pool_x = _samples(G, 64, 10)
    k = 2  # two segments: left (W+ by τ), right (F6 by τ)
    labels = [np.repeat((np.arange(G.cfg.output_size[1]) >= G.cfg.output_size[1] // 2)[None].astype(np.int32),
                        G.cfg.output_size[0], 0)] * len(pool_x)  # fmt: skip
    errors = [np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0]])] * len(pool_x)
    assert labels[0].max() + 1 == k
    run = tmp_path_factory.mktemp("enc_run")
    small = EncoderConfig.for_generator(G, base_channels=16, max_channels=32, hidden=64)
    figures = train_encoder(G, Pool(pool_x, labels, errors), run, run / "encoder.pt",
                            EncoderTraining(steps=STEPS, batch=8, lr=2e-3, save_every_s=1e9), perceptual=None,
                            config=small)  # fmt: skip
    torch.set_num_threads(threads)
    return G, load_encoder(run / "encoder.pt", G=G), run, figures


def test_training_makes_the_encoder_reconstruct_held_out_samples(trained):
    G, enc, _run, figures = trained
    assert figures["steps"] == STEPS and figures["images_seen"] == STEPS * 8
    x = _samples(G, 16, 999)  # never seen
    mean = G.synthesize(G.mean_w_plus(16), {}, {}, noise_mode="const").clamp(-1, 1)
    phi = encode(enc, G, x)
    rec = phi.render(G).clamp(-1, 1)
    err_mean = float((mean - x).pow(2).mean())
    err_enc = float((rec - x).pow(2).mean())
    assert err_enc < 0.6 * err_mean, (err_enc, err_mean)


def test_training_resumes_from_its_state(trained):
    G, _enc, run, figures = trained
    pool_x = _samples(G, 8, 11)
    labels = [np.zeros(G.cfg.output_size, np.int32)] * 8
    errors = [np.zeros((1, 5))] * 8
    again = train_encoder(G, Pool(pool_x, labels, errors), run, run / "encoder2.pt",
                          EncoderTraining(steps=STEPS + 5, batch=8, save_every_s=1e9), perceptual=None,
                          config=_enc.cfg)  # fmt: skip
    assert again["steps"] == STEPS + 5  # 5 more, not all of them again
    assert again["train_seconds"] >= figures["train_seconds"]


def test_a_fresh_run_continues_from_the_shipped_encoder_file(trained, tmp_path):
    """A fresh checkout has no run state, only the bundle's encoder file: training goes on from it."""
    import shutil

    G, enc, run, figures = trained
    pool_x = _samples(G, 8, 12)
    pool = Pool(pool_x, [np.zeros(G.cfg.output_size, np.int32)] * 8, [np.zeros((1, 5))] * 8)
    out = tmp_path / "encoder.pt"
    shutil.copy(run / "encoder.pt", out)
    kw = dict(perceptual=None, config=enc.cfg)
    same = train_encoder(G, pool, tmp_path / "run_a", out, EncoderTraining(steps=STEPS, batch=8, save_every_s=1e9), **kw)
    assert same["resumed_from"] == "encoder.pt" and same["steps"] == STEPS  # nothing left to do
    x, ranks = _samples(G, 2, 5), _split_map(2, G.cfg.output_size)
    a, b = encode(enc, G, x, ranks), encode(load_encoder(out, G=G), G, x, ranks)
    assert torch.equal(a.w_plus, b.w_plus) and torch.equal(a.delta_f[6], b.delta_f[6])  # the same weights
    more = train_encoder(G, pool, tmp_path / "run_b", out, EncoderTraining(steps=STEPS + 4, batch=8, save_every_s=1e9), **kw)
    assert more["steps"] == STEPS + 4 and more["train_seconds"] >= figures["train_seconds"]
    assert not torch.equal(encode(load_encoder(out, G=G), G, x, ranks).w_plus, a.w_plus)  # and it trained on
    # Another architecture at `out` is not continued: trained from scratch and replaced
    other = EncoderConfig.for_generator(G, base_channels=8, max_channels=16, hidden=32)
    fresh = train_encoder(G, pool, tmp_path / "run_c", out, EncoderTraining(steps=3, batch=8, save_every_s=1e9),
                          perceptual=None, config=other)  # fmt: skip
    assert fresh["resumed_from"] is None and fresh["steps"] == 3 and load_encoder(out, G=G).cfg == other


def test_hybrid_starts_where_the_encoder_ends_and_improves(trained, fallback_perceptual):
    G, enc, _run, _ = trained
    x = _samples(G, 2, 321) + 0.1 * torch.randn(2, 3, *G.cfg.output_size, generator=torch.Generator().manual_seed(0))
    ranks = _split_map(2, G.cfg.output_size)
    phi0 = encode(enc, G, x, ranks)
    settings = InversionSettings(steps=0, lambda_lpips=0.0, optimise_size=None)
    only = invert(G, x, "sam", ranks, settings, perceptual=fallback_perceptual, init_phi=phi0)
    assert only.phi.metadata["init"] == "encoder" and only.losses == []
    assert torch.allclose(only.phi.w_plus, phi0.w_plus) and torch.allclose(only.phi.delta_f[6], phi0.delta_f[6])
    assert torch.allclose(only.reconstruction, phi0.render(G).clamp(-1, 1), atol=1e-5)
    tuned = invert(G, x, "sam", ranks, settings.replace(steps=30), perceptual=fallback_perceptual, init_phi=phi0)
    mean_start = invert(G, x, "sam", ranks, settings.replace(steps=30), perceptual=fallback_perceptual)
    err = lambda r: float((r.reconstruction - x).pow(2).mean())  # noqa: E731
    assert err(tuned) < err(only)
    assert err(tuned) < err(mean_start)  # the encoder's start is worth 30 steps and more
