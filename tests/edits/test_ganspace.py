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
    path = gs.cache_path(weights, a.key, 800, 8, 0, precision=a.precision)  # 'auto' resolved: bf16 with AMX
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


# ---- hand-derived expectations (issue 36: mutation testing) -----------------------------------
def test_sigma_is_the_unbiased_standard_deviation_of_few_samples(tiny_G):
    # with 40 samples the (n − 1) of the unbiased variance is a 2.5 % difference: pinned exactly
    n = 40
    c = gs.compute_components(tiny_G, n_samples=n, n_components=40, batch_size=15, seed=3, stop_when_settled=False)
    assert c.num_components == tiny_G.w_dim == c.w_dim  # 40 asked, w_dim = 32 exist
    X = torch.cat(list(gs.iter_w_batches(tiny_G, n, batch_size=15, seed=3))).double().numpy()
    s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(c.stdev.double().numpy()[:5], s[:5] / np.sqrt(n - 1), rtol=1e-5)
    # accumulated in float64: a float32 running sum of xxᵀ is already 4e-10 off here
    np.testing.assert_allclose(c.total_variance, X.var(axis=0, ddof=1).sum(), rtol=1e-12)
    np.testing.assert_allclose(c.explained_variance_ratio.numpy(), c.stdev.double().numpy() ** 2 / c.total_variance, rtol=1e-6)
    assert c.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-5)


def test_w_batches_are_the_mapped_seeded_normal_samples(tiny_G):
    batches = list(gs.iter_w_batches(tiny_G, 7, batch_size=3, seed=4))
    assert [len(b) for b in batches] == [3, 3, 1]
    gen = torch.Generator().manual_seed(4)
    z = torch.cat([torch.randn(3, tiny_G.z_dim, generator=gen), torch.randn(3, tiny_G.z_dim, generator=gen),
                   torch.randn(1, tiny_G.z_dim, generator=gen)])
    with torch.no_grad():
        torch.testing.assert_close(torch.cat(batches), tiny_G.mapping(z), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        next(gs.iter_w_batches(tiny_G, 1))


def test_sign_convention_makes_the_largest_entry_positive():
    rows = np.array([[-3.0, 1.0, 2.0], [0.5, -0.2, 0.1], [0.0, 0.0, 0.0], [1.0, -4.0, 0.0]])
    np.testing.assert_array_equal(gs._sign_convention(rows), [[3, -1, -2], [0.5, -0.2, 0.1], [0, 0, 0], [-1, 4, 0]])


def test_a_settled_run_reports_it_in_its_last_step(tiny_G, monkeypatch):
    monkeypatch.setattr(gs, "settled", lambda *a, **k: True)
    steps = []
    c = gs.compute_components(tiny_G, n_samples=4096, n_components=4, batch_size=256, first_check=512,
                              on_step=lambda d, t, info, p: steps.append((d, t, info, p)))
    assert c.n_samples == 2048 and c.n_requested == 4096  # checks at 512 (nothing to compare), 1024, 2048
    assert steps[-1] == (4096, 4096, {"samples": 2048, "settled": True}, None)
    assert steps[0] == (0, 4096, {"samples": 0}, None) and steps[1] == (256, 4096, {"samples": 256}, None)


def test_cache_file_names_and_their_refusals(tmp_path):
    p = gs.cache_path(tmp_path / "w" / "car.pt", "ab/c d:0123456789abcdef", 1000, 80, 3)
    assert p == tmp_path / "w" / "car.ganspace-ab_c_d_012345678-n1000-c80-s3.npz"
    assert gs.cache_path(None, "k-1_x", 5, 2, cache_dir=tmp_path).name == "generator.ganspace-k-1_x-n5-c2-s0.npz"
    assert gs.cache_path(tmp_path / "car.pt", "k", 5, 2, cache_dir=tmp_path / "c").parent == tmp_path / "c"
    with pytest.raises(ValueError, match="give weights_path or cache_dir"):
        gs.cache_path(None, "k", 5, 2)


def test_components_file_round_trip_defaults_and_refusals(tmp_path, comps):
    c = gs.GanspaceComponents(comps.components, comps.stdev, comps.mean, 123, key="k", seed=5,
                              total_variance=2.5, n_requested=456)
    c.save_npz(tmp_path / "c.tmp")  # written as .npz whatever the suffix
    back = gs.GanspaceComponents.load_npz(tmp_path / "c.npz")
    for x, y in ((back.components, c.components), (back.stdev, c.stdev), (back.mean, c.mean)):
        assert x.dtype == torch.float32 and torch.equal(x, y)
    assert (back.n_samples, back.key, back.seed, back.total_variance, back.n_requested) == (123, "k", 5, 2.5, 456)
    np.savez(tmp_path / "old.npz", components=c.components.double().numpy(), stdev=c.stdev.double().numpy(),
             mean=c.mean.double().numpy())  # another writer's float64 arrays: read as float32
    old = gs.GanspaceComponents.load_npz(tmp_path / "old.npz")
    assert old.components.dtype == old.stdev.dtype == old.mean.dtype == torch.float32
    assert (old.n_samples, old.key, old.seed, old.n_requested) == (0, "", 0, 0) and np.isnan(old.total_variance)
    for comp, stdev, mean in ((c.components[0], c.stdev, c.mean), (c.components, c.stdev[:3], c.mean),
                              (c.components, c.stdev, c.mean[:5])):
        np.savez(tmp_path / "bad.npz", components=comp.numpy(), stdev=stdev.numpy(), mean=mean.numpy())
        with pytest.raises(ValueError, match="inconsistent GANSpace arrays"):
            gs.GanspaceComponents.load_npz(tmp_path / "bad.npz")


def test_a_cached_file_is_used_only_when_everything_matches(tiny_G, tmp_path):
    calls = []
    run = lambda **kw: gs.load_or_compute(  # noqa: E731
        tiny_G, key="m", cache_dir=tmp_path, batch_size=200, on_step=lambda *a: calls.append(a), **kw
    )
    run(n_samples=400, n_components=4, seed=0)
    assert calls
    for kw, recomputed in (({"n_samples": 400, "n_components": 4, "seed": 0}, False),
                           ({"n_samples": 400, "n_components": 4, "seed": 1}, True),
                           ({"n_samples": 400, "n_components": 5, "seed": 0}, True),
                           ({"n_samples": 400, "n_components": 500, "seed": 0}, True)):  # 500 → w_dim
        calls.clear()
        assert run(**kw).num_components == min(kw["n_components"], tiny_G.w_dim)
        assert bool(calls) == recomputed, kw
    # a file under the right name whose contents are another generator's: recomputed
    path = gs.cache_path(None, "m", 400, 4, 0, tmp_path, gs.resolve_precision("auto"))
    other = gs.GanspaceComponents.load_npz(path)
    gs.GanspaceComponents(other.components, other.stdev, other.mean, 400, key="other", seed=0,
                          precision=other.precision).save_npz(path)  # fmt: skip
    calls.clear()
    assert run(n_samples=400, n_components=4, seed=0).key == "m" and calls
    with pytest.raises(ValueError, match="give weights_path"):
        gs.load_or_compute(tiny_G)


def test_layer_ranges_parse_and_refuse_with_reasons(tiny_G, comps):
    assert gs.parse_layers("all", 10) == gs.parse_layers("", 10) == gs.parse_layers(" ", 10) == (0, 9)
    assert gs.parse_layers(" 2-4 ", 10) == (2, 4) and gs.parse_layers("0-9", 10) == (0, 9) and gs.parse_layers("9", 10) == (9, 9)
    for text in ("x", "2-x", "-1"):
        with pytest.raises(ValueError, match=f"layer range {text!r}: expected START-END"):
            gs.parse_layers(text, 10)
    for text, shown in (("5-2", "5-2"), ("3-10", "3-10"), ("10", "10-10")):
        with pytest.raises(ValueError, match=f"layer range {shown} is not within the style rows 0-9"):
            gs.parse_layers(text, 10)
    with pytest.raises(ValueError, match="-1-3 is not within"):
        gs.check_layers((-1, 3), 10)
    # the default strength is one σ_k, on every row
    torch.testing.assert_close(gs.direction_to_delta_w(tiny_G, comps, 1)[0, 0], comps.stdev[1] * comps.components[1])
    with pytest.raises(ValueError, match=r"component -1 does not exist \(0-15 were computed\)"):
        gs.direction_to_delta_w(tiny_G, comps, -1)
    narrow = gs.GanspaceComponents(comps.components[:, :8], comps.stdev, comps.mean[:8], 10)
    with pytest.raises(ValueError, match="components are 8-d but the generator's W is 32-d"):
        gs.direction_to_delta_w(tiny_G, narrow, 0)


def test_fewer_samples_than_dimensions_give_zero_not_nan_deviations(tiny_G):
    # 10 samples span 9 directions of the 32: the other eigenvalues are ±1e-16 and count as 0
    c = gs.compute_components(tiny_G, n_samples=10, n_components=32, batch_size=5, seed=3, stop_when_settled=False)
    assert torch.isfinite(c.stdev).all() and (c.stdev[9:] < 1e-6).all() and (c.stdev[:9] > 0.1).all()
