"""GANSpace behaviours a whole-module mutation run found unpinned (issue 36; digits 2, 3, 4, 7, 8, 9 of
ganspace.py's mutants): defaults, refusals a user reads, the file's dtype, the settled boundary, a
non-square layer without bias, and devices (`meta` standing in for a GPU)."""

import copy

import numpy as np
import pytest
import torch

from sam_editor.edits import ganspace as gs
from sam_editor.gan.networks import Generator, GeneratorConfig


def test_defaults_are_seed_0_and_an_empty_key(tiny_G):
    by_default = gs.compute_components(tiny_G, n_samples=64, n_components=4, batch_size=32)
    seed0 = gs.compute_components(tiny_G, n_samples=64, n_components=4, batch_size=32, seed=0, key="")
    seed1 = gs.compute_components(tiny_G, n_samples=64, n_components=4, batch_size=32, seed=1)
    assert by_default.key == ""
    torch.testing.assert_close(by_default.components, seed0.components, rtol=0, atol=0)
    assert not torch.allclose(by_default.components, seed1.components)  # the seed does choose the z


def test_refusals_name_what_is_missing(tiny_G):
    with pytest.raises(ValueError) as e:
        gs.cache_path(None, "k", 64, 4)
    assert str(e.value) == "give weights_path or cache_dir for the GANSpace cache"
    with pytest.raises(ValueError) as e:
        gs.load_or_compute(tiny_G, n_samples=64, n_components=4)
    assert str(e.value) == "give weights_path (hashed) or an explicit key for the GANSpace cache"


def test_the_cache_file_stores_float32(tiny_G, tmp_path):
    comps = gs.compute_components(tiny_G, n_samples=64, n_components=4, batch_size=32)
    comps.save_npz(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as d:  # half the bytes of float64; other readers expect float32
        assert d["components"].dtype == np.float32 and d["stdev"].dtype == np.float32


def test_settled_accepts_an_agreement_of_exactly_cos():
    eye = np.eye(4)
    assert gs.settled(eye, eye, top=4, cos=1.0)  # identical unit rows: cosine exactly 1.0 ≥ 1.0
    assert not gs.settled(eye, eye[[1, 0, 2, 3]], top=4, cos=1.0)


def test_a_non_square_first_layer_without_bias_folds():
    """z_dim ≠ w_dim: the zero bias of fc0 has fc0's *output* size (w_dim), not its input size."""
    cfg = GeneratorConfig(resolution=16, z_dim=12, w_dim=20, mapping_layers=2, channel_base=64, channel_max=16)
    torch.manual_seed(0)
    G = Generator(cfg).eval().requires_grad_(False)
    G.mapping.fc0.bias = None
    z = torch.randn(8, 12, generator=torch.Generator().manual_seed(3))
    layers = gs.folded_mapping(G, torch.float32)
    assert layers[0][0].shape == (12, 20) and layers[0][1].shape == (20,)
    torch.testing.assert_close(gs.map_folded(z, layers), G.mapping(z), rtol=1e-5, atol=1e-5)


def test_auto_precision_follows_the_generators_device(tiny_G, monkeypatch, tmp_path):
    """With AMX present, 'auto' is bfloat16 for a CPU generator and float32 for one elsewhere — asked of
    G's own device, in compute_components and in load_or_compute (which names the cache after it)."""
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True}, raising=False)
    cpu = gs.compute_components(tiny_G, n_samples=64, n_components=4, batch_size=32, precision="auto")
    assert cpu.precision == "bfloat16"
    seen = []

    def fake_compute(G, *a, precision="float32", **k):
        seen.append(precision)
        return None  # as if stopped: nothing is written

    monkeypatch.setattr(gs, "compute_components", fake_compute)
    meta = copy.deepcopy(tiny_G).to("meta")
    assert gs.load_or_compute(meta, key="k", cache_dir=tmp_path, n_samples=64, n_components=4) is None
    gs.load_or_compute(tiny_G, key="k", cache_dir=tmp_path, n_samples=64, n_components=4)
    assert seen == ["float32", "bfloat16"]


def test_an_edit_lands_on_the_generators_device(tiny_G):
    comps = gs.compute_components(tiny_G, n_samples=64, n_components=4, batch_size=32)
    meta = copy.deepcopy(tiny_G).to("meta")
    delta = gs.direction_to_delta_w(meta, comps, 1, (0, 2), 2.0)
    assert delta.device.type == "meta" and delta.shape == (1, tiny_G.num_ws, tiny_G.w_dim)
