"""GANSpace PCA of W (Härkönen et al. 2020), as used for the §3.4 edits: properties on a tiny G."""

import functools

import numpy as np
import pytest
import torch

from sam_editor.edits import ganspace as gs
from sam_editor.gan.native import save_generator

N = 3000


@pytest.fixture(scope="module")
def comps(tiny_G):
    return gs.compute_components(tiny_G, n_samples=N, n_components=16, batch_size=512, seed=7)


def test_components_orthonormal_and_sorted(comps, tiny_G):
    C = comps.components.double()
    assert C.shape == (16, tiny_G.w_dim)
    torch.testing.assert_close(C @ C.T, torch.eye(16, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.all(comps.stdev[:-1] >= comps.stdev[1:])
    assert comps.n_samples == N and comps.seed == 7
    # Sign convention: the largest-magnitude entry of every component is positive.
    idx = comps.components.abs().argmax(dim=1)
    assert torch.all(comps.components[torch.arange(16), idx] > 0)


def test_first_component_matches_direct_numpy_pca(comps, tiny_G):
    X = torch.cat(list(gs.iter_w_batches(tiny_G, N, batch_size=512, seed=7))).double().numpy()
    assert X.shape == (N, tiny_G.w_dim)
    Xc = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    var = s**2 / (N - 1)
    np.testing.assert_allclose(comps.stdev[0].item() ** 2, var[0], rtol=1e-4)
    np.testing.assert_allclose(comps.stdev.double().numpy() ** 2, var[:16], rtol=1e-3)
    assert abs(float(np.dot(comps.components[0].double().numpy(), vt[0]))) > 1 - 1e-5
    np.testing.assert_allclose(comps.mean.numpy(), X.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(comps.total_variance, var.sum(), rtol=1e-6)
    # The projections of the samples on v_k have standard deviation σ_k (GANSpace's strength unit).
    proj = Xc @ comps.components.double().numpy().T
    np.testing.assert_allclose(proj.std(axis=0, ddof=1), comps.stdev.numpy(), rtol=1e-3)


def test_progress_and_stop(tiny_G, tmp_path):
    steps = []
    gs.compute_components(
        tiny_G, n_samples=1000, n_components=4, batch_size=300, on_step=lambda d, t, info, _p: steps.append((d, t))
    )
    assert steps == [(0, 1000), (300, 1000), (600, 1000), (900, 1000), (1000, 1000)]
    polls = []
    stopped = gs.load_or_compute(
        tiny_G, key="cancel-me", cache_dir=tmp_path, n_samples=1000, n_components=4, batch_size=100,
        should_stop=lambda: polls.append(1) or len(polls) > 2,
    )  # fmt: skip
    assert stopped is None and len(polls) == 3 and not list(tmp_path.iterdir())  # a stopped PCA: nothing, nothing cached


def test_cache_is_keyed_by_weights_and_reused(tiny_G, tmp_path):
    weights = tmp_path / "tiny.pt"
    save_generator(weights, tiny_G)
    calls = []
    count = lambda d, t, _info, _p: calls.append(d)
    a = gs.load_or_compute(tiny_G, weights_path=weights, n_samples=800, n_components=8, batch_size=400, on_step=count)
    assert len(calls) == 3
    files = sorted(p.name for p in tmp_path.glob("*.npz"))
    assert len(files) == 1 and files[0].startswith("tiny.ganspace-")
    assert a.key == gs.sha256_file(weights)
    calls.clear()
    b = gs.load_or_compute(tiny_G, weights_path=weights, n_samples=800, n_components=8, batch_size=400, on_step=count)
    assert calls == []  # read from the cache, nothing sampled
    for x, y in [(a.components, b.components), (a.stdev, b.stdev), (a.mean, b.mean)]:
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    # Another sample count is another cache entry; an explicit id replaces the file hash.
    gs.load_or_compute(tiny_G, weights_path=weights, n_samples=400, n_components=8, batch_size=400, on_step=count)
    assert len(calls) == 2
    c = gs.load_or_compute(tiny_G, key="my-generator", cache_dir=tmp_path / "c", n_samples=400, n_components=8)
    assert c.key == "my-generator" and (tmp_path / "c").is_dir()
    # A corrupt cache file is recomputed, not fatal.
    path = gs.cache_path(weights, a.key, 800, 8, 0)
    path.write_bytes(b"garbage")
    calls.clear()
    gs.load_or_compute(tiny_G, weights_path=weights, n_samples=800, n_components=8, batch_size=400, on_step=count)
    assert len(calls) == 3


def test_direction_to_delta_w_rows_and_strength(tiny_G, comps):
    d = gs.direction_to_delta_w(tiny_G, comps, 2, (3, 5), strength=-1.5)
    assert d.shape == (1, tiny_G.num_ws, tiny_G.w_dim)
    expected = comps.components[2] * comps.stdev[2] * -1.5
    for r in range(tiny_G.num_ws):
        if 3 <= r <= 5:
            torch.testing.assert_close(d[0, r], expected)
        else:
            assert not d[0, r].any()
    np.testing.assert_allclose(d[0, 4].norm().item(), 1.5 * comps.stdev[2].item(), rtol=1e-5)
    assert gs.direction_to_delta_w(tiny_G, comps, 0).abs().sum(dim=2).gt(0).all()  # all rows
    with pytest.raises(ValueError, match="component 16"):
        gs.direction_to_delta_w(tiny_G, comps, 16, (0, 1), 1.0)
    with pytest.raises(ValueError, match="not within"):
        gs.direction_to_delta_w(tiny_G, comps, 0, (4, 10), 1.0)
    assert gs.parse_layers("0-5", 10) == (0, 5) and gs.parse_layers("7", 10) == (7, 7)
    assert gs.parse_layers(None, 10) == (0, 9)
    with pytest.raises(ValueError):
        gs.parse_layers("5-2", 10)


def test_settled_compares_rows_up_to_sign_and_needs_every_top_row():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    comps = q.T  # orthonormal rows
    flipped = comps * np.array([1, -1, 1, -1, 1, 1, -1, 1])[:, None]
    assert gs.settled(comps, flipped, top=8, cos=0.999)
    swapped = comps.copy()
    swapped[[2, 3]] = swapped[[3, 2]]  # two components traded places: not settled
    assert not gs.settled(comps, swapped, top=8, cos=0.999)
    assert gs.settled(comps, swapped, top=2, cos=0.999)  # only the first two are compared
    tilted = comps.copy()
    tilted[0] = np.cos(0.1) * comps[0] + np.sin(0.1) * comps[1]  # cos 0.995
    assert not gs.settled(comps, tilted, top=8, cos=0.998) and gs.settled(comps, tilted, top=8, cos=0.99)


def test_pca_stops_early_once_the_top_components_settle_and_matches_the_full_run(tiny_G):
    n, first = 2**18, 2**12
    early = gs.compute_components(tiny_G, n_samples=n, n_components=8, seed=1, agree_top=4, first_check=first)
    full = gs.compute_components(tiny_G, n_samples=n, n_components=8, seed=1, stop_when_settled=False)
    assert full.n_samples == n and early.n_requested == n
    assert first * 2**gs.AGREE_TIMES <= early.n_samples < n  # agreed at successive checks, fewer samples than asked
    cos = np.abs((early.components * full.components).sum(dim=1).numpy())[:4]
    assert cos.min() >= 0.99, cos
    np.testing.assert_allclose(early.stdev.numpy()[:4], full.stdev.numpy()[:4], rtol=0.02)
    # The early result is the exact PCA of the samples it used (the same stream, cut short).
    again = gs.compute_components(tiny_G, n_samples=early.n_samples, n_components=8, seed=1, stop_when_settled=False)
    torch.testing.assert_close(early.components, again.components, rtol=0, atol=1e-6)


def test_an_early_stopped_pca_is_found_in_the_cache_under_the_count_asked_for(tiny_G, tmp_path, monkeypatch):
    quick = functools.partial(gs.compute_components, agree_top=4, first_check=2**12)
    monkeypatch.setattr(gs, "compute_components", quick)
    calls = []
    kwargs = dict(key="settle", cache_dir=tmp_path, n_samples=2**18, n_components=8, on_step=lambda *a: calls.append(a))
    first = gs.load_or_compute(tiny_G, **kwargs)
    assert first.n_samples < first.n_requested == 2**18 and calls
    calls.clear()
    second = gs.load_or_compute(tiny_G, **kwargs)
    assert not calls  # read back, not recomputed
    torch.testing.assert_close(first.components, second.components, rtol=0, atol=0)
    assert second.n_samples == first.n_samples and second.n_requested == 2**18


def test_sampling_stops_only_after_agreeing_at_successive_checks(tiny_G, monkeypatch):
    """A single agreement can be luck: sampling goes on until AGREE_TIMES checks in a row agree,
    and a disagreement in between starts the count again."""
    answers = iter([True, False, True, True, True])  # what each check after the first says
    monkeypatch.setattr(gs, "settled", lambda *a, **k: next(answers))
    assert gs.AGREE_TIMES == 2
    first = 1024
    comps = gs.compute_components(tiny_G, n_samples=2**16, n_components=4, batch_size=first, first_check=first)
    # checks at 1k (nothing to compare), 2k (agree), 4k (disagree), 8k (agree), 16k (agree: stop)
    assert comps.n_samples == 16 * first and comps.n_requested == 2**16
