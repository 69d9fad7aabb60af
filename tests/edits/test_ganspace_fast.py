"""The GANSpace PCA's bfloat16 path (folded mapping, float32 Σxxᵀ per batch) and the early stop
on a peaked against a flat spectrum, on tiny generators."""

import copy

import numpy as np
import pytest
import torch

from sam_editor.edits import ganspace as gs


def _with_biases(G, seed=0):
    """A copy of G whose mapping biases are random (the fresh ones are zero, which would hide a
    wrongly folded bias)."""
    G = copy.deepcopy(G)
    gen = torch.Generator().manual_seed(seed)
    for i in range(G.mapping.num_layers):
        fc = getattr(G.mapping, f"fc{i}")
        fc.bias.copy_(torch.randn(fc.bias.shape, generator=gen) * 30)  # × bias_gain 0.01: O(0.3)
    return G


def _by_hand(G, z):
    """M(z) written out from the paper's definitions: x ← z/√mean(z²); per layer lrelu_0.2(x·(W·c)ᵀ
    + b·lr_mul)·√2 (c = lr_mul/√fan_in), or no lrelu and no gain for a linear layer."""
    x = z.double() / z.double().square().mean(dim=1, keepdim=True).add(1e-8).sqrt()
    for i in range(G.mapping.num_layers):
        fc = getattr(G.mapping, f"fc{i}")
        y = x @ (fc.weight.double() * (0.01 / fc.weight.shape[1] ** 0.5)).T
        y = y if fc.bias is None else y + fc.bias.double() * 0.01
        x = torch.where(y > 0, y, 0.2 * y) * 2**0.5 if fc.activation == "lrelu" else y
    return x


def test_folded_mapping_is_the_mapping(tiny_G):
    G = _with_biases(tiny_G)
    z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(1))
    expected = _by_hand(G, z)
    torch.testing.assert_close(G.mapping(z).double(), expected, rtol=1e-5, atol=1e-5)  # the hand formula is M's
    w = gs.map_folded(z, gs.folded_mapping(G, torch.float32))
    assert w.dtype == torch.float32 and w.shape == (64, G.w_dim)
    torch.testing.assert_close(w.double(), expected, rtol=1e-5, atol=1e-5)
    # A linear layer folds without lrelu and without the √2 gain.
    G.mapping.fc1.activation = "linear"
    torch.testing.assert_close(gs.map_folded(z, gs.folded_mapping(G, torch.float32)).double(), _by_hand(G, z), rtol=1e-5, atol=1e-5)
    G.mapping.fc1.bias = None  # a layer without bias folds with b = 0
    torch.testing.assert_close(gs.map_folded(z, gs.folded_mapping(G, torch.float32)).double(), _by_hand(G, z), rtol=1e-5, atol=1e-5)
    G.mapping.fc0.activation = "tanh"
    with pytest.raises(ValueError, match="fc0: cannot fold activation 'tanh'"):
        gs.folded_mapping(G, torch.float32)
    # bfloat16 layers: weights and activations in bf16, the result within bf16 rounding of float32.
    layers = gs.folded_mapping(_with_biases(tiny_G), torch.bfloat16)
    assert all(wt.dtype == b.dtype == torch.bfloat16 for wt, b, _ in layers)
    w16 = gs.map_folded(z, layers)
    assert w16.dtype == torch.bfloat16
    err = (w16.double() - expected).norm() / (expected - expected.mean(dim=0)).norm()
    assert 1e-4 < err < 0.03, err  # really bf16 (not bit-equal), and close


def test_bfloat16_samples_are_the_same_z_mapped_in_bf16(tiny_G):
    G = _with_biases(tiny_G, seed=2)
    batch = gs.MAP_ROWS + 452  # one batch mapped in two calls
    w32 = torch.cat(list(gs.iter_w_batches(G, 3000, batch_size=batch, seed=4)))
    w16 = torch.cat(list(gs.iter_w_batches(G, 3000, batch_size=batch, seed=4, precision="bfloat16")))
    assert w16.dtype == torch.float32 and w16.shape == w32.shape == (3000, G.w_dim)
    err = (w16 - w32).norm() / (w32 - w32.mean(dim=0)).norm()
    assert 1e-4 < err < 0.03, err
    # Mapped in chunks of MAP_ROWS rows: the same as one call on the whole batch of the same z.
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(4))
    whole = gs.map_folded(z, gs.folded_mapping(G, torch.bfloat16)).float()
    torch.testing.assert_close(w16[:batch], whole, rtol=0, atol=0)


def test_bfloat16_pca_is_numpys_pca_of_its_samples(tiny_G):
    """The fast path's float32 Σxxᵀ per batch changes nothing visible: its components, σ and mean
    equal numpy's float64 eigendecomposition of the covariance of the very samples it drew."""
    G = _with_biases(tiny_G, seed=3)
    n, k = 6000, 8
    comps = gs.compute_components(G, n_samples=n, n_components=k, batch_size=1024, seed=5, precision="bfloat16")
    assert comps.precision == "bfloat16" and comps.n_samples == n
    X = torch.cat(list(gs.iter_w_batches(G, n, batch_size=1024, seed=5, precision="bfloat16"))).double().numpy()
    evals, evecs = np.linalg.eigh(np.cov(X, rowvar=False))  # ascending
    evals, evecs = evals[::-1], evecs[:, ::-1].T
    assert np.all(evals[: k + 1][:-1] / evals[1 : k + 1] > 1.01)  # gaps: the components are well-defined
    cos = np.abs((comps.components.double().numpy() * evecs[:k]).sum(axis=1))
    assert cos.min() > 1 - 1e-6, cos
    np.testing.assert_allclose(comps.stdev.double().numpy() ** 2, evals[:k], rtol=1e-5)
    np.testing.assert_allclose(comps.total_variance, evals.sum(), rtol=1e-5)
    np.testing.assert_allclose(comps.mean.numpy(), X.mean(axis=0), atol=1e-5)
    # Close to the float32 PCA of the same z (bf16 rounding only).
    ref = gs.compute_components(G, n_samples=n, n_components=k, batch_size=1024, seed=5, precision="float32")
    assert ref.precision == "float32"
    cos32 = np.abs((comps.components * ref.components).sum(dim=1).numpy())
    assert cos32.min() > 0.99 and not torch.equal(comps.components, ref.components), cos32


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_amx_bf16(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True, "avx512_bf16": True})
    assert gs.bfloat16_is_fast("cpu") and gs.resolve_precision("auto") == "bfloat16"
    assert not gs.bfloat16_is_fast("meta") and gs.resolve_precision("auto", torch.device("meta")) == "float32"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": False, "avx512_bf16": True})
    assert not gs.bfloat16_is_fast() and gs.resolve_precision("auto") == "float32"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {})  # a torch that does not say: float32
    assert not gs.bfloat16_is_fast() and gs.resolve_precision("auto") == "float32"
    monkeypatch.delattr(torch.cpu, "get_capabilities")  # an older torch without the call: float32
    assert not gs.bfloat16_is_fast() and gs.resolve_precision("auto") == "float32"
    assert gs.resolve_precision("bfloat16") == "bfloat16" and gs.resolve_precision("float32") == "float32"
    with pytest.raises(ValueError, match="precision must be 'auto' or one of"):
        gs.resolve_precision("float16")


def test_precision_is_part_of_the_cache(tiny_G, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    calls = []
    kwargs = dict(key="prec", cache_dir=tmp_path, n_samples=600, n_components=4, on_step=lambda *a: calls.append(a))
    fast = gs.load_or_compute(tiny_G, **kwargs)  # the default: 'auto', bf16 on this (patched) CPU
    assert fast.precision == "bfloat16"
    assert [p.name for p in tmp_path.iterdir()] == ["generator.ganspace-prec-n600-c4-s0-bfloat16.npz"]
    exact = gs.load_or_compute(tiny_G, precision="float32", **kwargs)  # not the bf16 file
    assert exact.precision == "float32" and (tmp_path / "generator.ganspace-prec-n600-c4-s0.npz").is_file()
    calls.clear()
    again = gs.load_or_compute(tiny_G, **kwargs)
    assert not calls and again.precision == "bfloat16"  # read back
    torch.testing.assert_close(again.components, fast.components, rtol=0, atol=0)
    # A file whose recorded precision differs from the one asked for is recomputed.
    wrong = tmp_path / "generator.ganspace-prec-n600-c4-s0-bfloat16.npz"
    exact.save_npz(wrong)
    assert gs.GanspaceComponents.load_npz(wrong).precision == "float32"
    with np.load(wrong) as d:
        assert str(d["precision"]) == "float32" and int(d["version"]) == gs.CACHE_VERSION
    gs.load_or_compute(tiny_G, **kwargs)
    assert calls and gs.GanspaceComponents.load_npz(wrong).precision == "bfloat16"
    # Files written before the choice existed have no precision entry: float32.
    legacy = tmp_path / "legacy.npz"
    np.savez(legacy, components=np.eye(2, dtype=np.float32), stdev=np.ones(2, np.float32), mean=np.zeros(2, np.float32))
    assert gs.GanspaceComponents.load_npz(legacy).precision == "float32"


def _spectrum_G(tiny_G, scales):
    """tiny G with an orthogonal first mapping layer (h = lrelu(Q z/‖z‖·√D)·√2: isotropic, its
    coordinates uncorrelated) and a linear last one, weight diag(scales), no biases: w = diag(scales)·h,
    so W's covariance is ∝ diag(scales²)."""
    G = copy.deepcopy(tiny_G)
    q, _ = torch.linalg.qr(torch.randn(G.w_dim, G.z_dim, generator=torch.Generator().manual_seed(6)))
    G.mapping.fc0.weight.copy_(q / G.mapping.fc0.weight_gain)
    G.mapping.fc0.bias.zero_()
    fc = G.mapping.fc1
    fc.activation = "linear"
    fc.weight.copy_(torch.diag(torch.as_tensor(scales, dtype=torch.float32)) / fc.weight_gain)
    fc.bias.zero_()
    return G


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_early_stop_fires_on_a_peaked_spectrum_at_the_second_agreeing_check(tiny_G, precision):
    first, n = 1024, 2**14
    peaked = _spectrum_G(tiny_G, 2.0 ** -torch.arange(tiny_G.w_dim, dtype=torch.float32))  # λ halves 4× per step
    steps = []
    early = gs.compute_components(
        peaked, n_samples=n, n_components=8, batch_size=512, agree_top=4, first_check=first, precision=precision,
        on_step=lambda d, t, info, _p: steps.append((d, info)),
    )  # fmt: skip
    # Checks at 1024 (nothing to compare), 2048 (agrees once), 4096 (twice: stop) — not before.
    assert early.n_samples == first * 2**gs.AGREE_TIMES == 4096 and early.n_requested == n
    assert steps[-1] == (n, {"samples": 4096, "settled": True}) and steps[-2][0] == 4096
    full = gs.compute_components(peaked, n_samples=n, n_components=8, batch_size=512, stop_when_settled=False, precision=precision)
    assert np.abs((early.components[:4] * full.components[:4]).sum(dim=1).numpy()).min() > 0.999
    # A check that falls on the last sample is not made: the PCA simply ends there.
    steps.clear()
    at_end = gs.compute_components(
        peaked, n_samples=4096, n_components=8, batch_size=512, agree_top=4, first_check=first, precision=precision,
        on_step=lambda d, t, info, _p: steps.append((d, info)),
    )  # fmt: skip
    assert at_end.n_samples == 4096 and steps[-1] == (4096, {"samples": 4096}) and steps[-2][0] == 3584
    # A flat spectrum (all scales equal): the top components never settle, all n samples are used.
    flat = _spectrum_G(tiny_G, torch.ones(tiny_G.w_dim))
    assert gs.compute_components(flat, n_samples=n, n_components=8, batch_size=512, agree_top=4, first_check=first,
                                 precision=precision).n_samples == n  # fmt: skip


def test_the_edit_command_passes_its_pca_precision(tiny_G, monkeypatch):
    import argparse

    from sam_editor.edits import commands

    seen = []
    monkeypatch.setattr(gs, "load_or_compute", lambda G, **kw: seen.append(kw["precision"]))
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    for extra, expected in (([], "auto"), (["--pca-precision", "float32"], "float32"), (["--pca-precision", "bfloat16"], "bfloat16")):
        commands._components(tiny_G, parser.parse_args(["edit", "phi.pt", "--out", "x.png", *extra]))
        assert seen[-1] == expected
    with pytest.raises(SystemExit):
        parser.parse_args(["edit", "phi.pt", "--out", "x.png", "--pca-precision", "float16"])


def test_settled_compares_only_the_rows_both_estimates_have():
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))
    assert gs.settled(q.T[:2], q.T, top=8, cos=0.999)  # 2 rows against 8: the first 2 agree
    assert gs.settled(q.T, q.T[:2], top=8, cos=0.999)


def test_default_batch_is_4096_samples(tiny_G, tmp_path):
    """Progress comes once per batch: with the default batch, 5000 samples report 4096 then 5000."""
    steps = []
    gs.compute_components(tiny_G, n_samples=5000, n_components=4, on_step=lambda d, *_: steps.append(d))
    assert steps == [0, 4096, 5000]
    steps.clear()
    gs.load_or_compute(tiny_G, key="b", cache_dir=tmp_path, n_samples=5000, n_components=4, on_step=lambda d, *_: steps.append(d))
    assert steps == [0, 4096, 5000]
