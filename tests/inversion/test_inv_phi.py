"""φ files and image formation through G.synthesize; latent-map inputs and feature masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_editor.gan.layers import LayerSpace
from sam_editor.inversion import latent_maps as lm
from sam_editor.inversion.phi import Phi


def _phi(G) -> Phi:
    torch.manual_seed(0)
    ranks = np.zeros((2, 32, 32), np.uint8)
    ranks[:, 8:16, 8:24] = LayerSpace.F4.rank
    masks = lm.feature_masks(G, ranks)
    return Phi(
        w_plus=G.mean_w_plus(2) + 0.1 * torch.randn(2, G.num_ws, G.w_dim),
        delta_f={4: torch.randn(2, *G.feature_shape(4))},
        masks=masks,
        rank_map=torch.from_numpy(ranks),
        metadata={"method": "sam", "init": "mean_w", "seed": 3},
    )


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_phi_roundtrip(G, tmp_path, suffix):
    phi = _phi(G)
    path = phi.save(tmp_path / f"phi{suffix}")
    back = Phi.load(path)
    assert torch.equal(back.w_plus, phi.w_plus)
    assert torch.equal(back.delta_f[4], phi.delta_f[4]) and torch.equal(back.masks[4], phi.masks[4])
    assert torch.equal(back.rank_map, phi.rank_map)
    assert back.metadata == phi.metadata
    assert torch.equal(back.render(G), phi.render(G))
    if suffix == ".pt":
        raw = torch.load(path, weights_only=True)  # tensors + a JSON string only
        assert isinstance(raw["header"], str)
    else:
        np.load(path, allow_pickle=False)


def test_phi_errors(tmp_path, G):
    with pytest.raises(ValueError, match="masks"):
        Phi(G.mean_w_plus(1), {4: torch.zeros(1, *G.feature_shape(4))}, {})
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a readable"):
        Phi.load(bad)
    with pytest.raises(ValueError, match=".pt or .npz"):
        _phi(G).save(tmp_path / "x.json")


def test_render_is_G_synthesize_and_select(G):
    phi = _phi(G)
    ref = G.synthesize(phi.w_plus, phi.delta_f, phi.masks)
    assert torch.equal(phi.render(G), ref)
    one = phi.select(1)
    assert one.n == 1 and torch.allclose(one.render(G), ref[1:2], atol=1e-5)  # batched convs round differently


def test_latent_map_forms_agree(G):
    ranks = np.zeros((32, 32), np.uint8)
    ranks[4:12, :] = 1
    ranks[20:, 10:20] = 2
    masks = {s: ranks == s.rank for s in LayerSpace}

    class Obj:
        def masks(self):
            return masks

    as_names = {str(s): m for s, m in masks.items()}
    for form in (ranks, masks, Obj(), as_names, torch.from_numpy(ranks).long()):
        assert np.array_equal(lm.to_rank_map(form), ranks)
    # Pixels in no mask are W+; nearest resize to the output size.
    assert np.array_equal(lm.to_rank_map({LayerSpace.F6: ranks == 2}), np.where(ranks == 2, 2, 0))
    assert lm.to_rank_map(ranks[::2, ::2], (32, 32)).shape == (32, 32)
    batch = lm.rank_maps([ranks, np.zeros_like(ranks)], 2, (32, 32))
    assert batch.shape == (2, 32, 32) and batch[1].max() == 0


def test_latent_map_errors(G):
    m = np.zeros((32, 32), bool)
    m[:4] = True
    with pytest.raises(ValueError, match="another feature space"):
        lm.to_rank_map({LayerSpace.F4: m, LayerSpace.F6: m})
    with pytest.raises(ValueError, match="ambiguous"):
        lm.to_rank_map(m)
    with pytest.raises(ValueError, match="0…4"):
        lm.to_rank_map(np.full((4, 4), 7))
    ranks = np.zeros((1, 32, 32), np.uint8)
    ranks[0, :4] = LayerSpace.F8.rank  # a 32-px generator has F0…F6 only
    with pytest.raises(ValueError, match="F8"):
        lm.feature_masks(G, ranks)


def test_delta_f_outside_its_mask_changes_no_pixel(G):
    """Eq. 3.3: f_i = g(…) + m_i ⊙ Δf_i — with a binary mask aligned to the 16×16 F4 grid,
    changing Δf_4 where m_4 = 0 leaves x̂ bit-identical; changing it inside does not."""
    ranks = np.zeros((1, 32, 32), np.uint8)
    ranks[0, 8:24, 4:16] = LayerSpace.F4.rank  # 2-pixel cells of F4's grid
    m4 = lm.feature_masks(G, ranks)[4]
    assert m4.shape == (1, 1, 16, 16)
    assert torch.all(m4[0, 0, 5:11, 3:7] == 1)  # interior of the block (bilinear edges are soft)
    outside = m4 == 0
    assert outside.float().mean() > 0.5
    torch.manual_seed(1)
    w = G.mean_w_plus(1)
    df = torch.randn(1, *G.feature_shape(4))
    x0 = G.synthesize(w, {4: df}, {4: m4})
    changed = df + 5 * torch.randn_like(df) * outside  # only where m_4 == 0
    assert torch.equal(G.synthesize(w, {4: changed}, {4: m4}), x0)
    inside = df + torch.randn_like(df) * (~outside)
    assert not torch.equal(G.synthesize(w, {4: inside}, {4: m4}), x0)


# ---- pinned behaviour (issue 36: each expectation written out, not read back from Phi) ------------
def test_constructor_checks_and_normalises_keys(G):
    w = G.mean_w_plus(2)
    with pytest.raises(ValueError, match=rf"w_plus must be \(N, num_ws, w_dim\), got \({G.num_ws}, {G.w_dim}\)"):
        Phi(w[0])
    df = torch.zeros(2, *G.feature_shape(4))
    phi = Phi(w, {"4": df}, {"4": torch.ones(1, 1, 16, 16)})  # keys as a JSON/npz file spells them
    assert list(phi.delta_f) == [4] and list(phi.masks) == [4] and phi.n == 2
    with pytest.raises(ValueError, match=r"Δf without masks: \[4, 6\]"):
        Phi(w, {4: df, 6: torch.zeros(2, *G.feature_shape(6))}, {})


def test_to_detach_and_select_carry_every_part(G):
    phi = _phi(G)
    phi.metadata["settings"] = {"steps": 5}
    moved = phi.to("meta")  # a second device without a GPU
    parts = [moved.w_plus, moved.delta_f[4], moved.masks[4], moved.rank_map]
    assert [t.device.type for t in parts] == ["meta"] * 4 and moved.metadata == phi.metadata
    assert Phi(G.mean_w_plus(1)).to("meta").rank_map is None

    live = Phi(phi.w_plus.clone().requires_grad_(True), {4: phi.delta_f[4].clone()}, dict(phi.masks),
               phi.rank_map.clone(), phi.metadata)
    frozen = live.detach()
    assert not frozen.w_plus.requires_grad
    with torch.no_grad():  # the detached φ is a copy: later steps on the live one do not reach it
        live.w_plus.add_(1.0)
        live.delta_f[4].add_(1.0)
    live.rank_map.fill_(4)
    live.metadata["settings"]["steps"] = 99
    torch.testing.assert_close(frozen.w_plus, phi.w_plus, rtol=0, atol=0)
    torch.testing.assert_close(frozen.delta_f[4], phi.delta_f[4], rtol=0, atol=0)
    assert torch.equal(frozen.rank_map, phi.rank_map) and frozen.metadata["settings"] == {"steps": 5}
    masks_before = frozen.masks[4].clone()
    live.masks[4].fill_(0.5)
    assert torch.equal(frozen.masks[4], masks_before)
    assert Phi(G.mean_w_plus(1)).detach().rank_map is None

    phi = _phi(G)
    one = phi.select(1)
    assert torch.equal(one.w_plus, phi.w_plus[1:2]) and torch.equal(one.delta_f[4], phi.delta_f[4][1:2])
    assert torch.equal(one.masks[4], phi.masks[4][1:2]) and torch.equal(one.rank_map, phi.rank_map[1:2])
    zero = phi.select(0)
    assert torch.equal(zero.w_plus, phi.w_plus[:1]) and torch.equal(zero.delta_f[4], phi.delta_f[4][:1])
    assert torch.equal(zero.masks[4], phi.masks[4][:1]) and torch.equal(zero.rank_map, phi.rank_map[:1])
    one.metadata["seed"] = 7
    assert phi.metadata["seed"] == 3  # its own metadata
    shared = Phi(phi.w_plus, phi.delta_f, {4: phi.masks[4][:1]})  # one mask for the whole batch
    assert torch.equal(shared.select(1).masks[4], phi.masks[4][:1])
    assert Phi(G.mean_w_plus(2)).select(0).rank_map is None


def test_render_on_the_generator_device_and_with_an_edit(G):
    phi = _phi(G)
    delta_w = 0.5 * torch.randn(2, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(phi.render(G, delta_w=delta_w),
                               G.synthesize(phi.w_plus, phi.delta_f, phi.masks, delta_w=delta_w), rtol=0, atol=0)
    assert not torch.equal(phi.render(G, delta_w=delta_w), phi.render(G))
    # noise: "const" by default, the mode passed on
    assert torch.equal(phi.render(G), G.synthesize(phi.w_plus, phi.delta_f, phi.masks, noise_mode="const"))
    torch.testing.assert_close(phi.render(G, noise_mode="none"),
                               G.synthesize(phi.w_plus, phi.delta_f, phi.masks, noise_mode="none"), rtol=0, atol=0)
    assert not torch.equal(phi.render(G, noise_mode="none"), phi.render(G))
    # extra keywords reach G.synthesize (a render cache), and φ moves to G's device first
    from sam_editor.gan.networks import RenderCache

    cache = RenderCache()
    with torch.no_grad():
        phi.render(G, cache=cache)
    assert [r for _, r in cache.computed_blocks] == G.synthesis.block_resolutions
    import copy

    assert phi.render(copy.deepcopy(G).to("meta")).device.type == "meta"  # φ itself is on the CPU


def test_saved_files_hold_their_header_and_a_uint8_rank_map(G, tmp_path):
    import json

    phi = _phi(G)
    phi.rank_map = phi.rank_map.long()
    path = phi.save(tmp_path / "phi.PT")  # the suffix in any case
    raw = torch.load(path, weights_only=True)
    assert json.loads(raw["header"]) == {"format": "sam-editor-phi", "version": 1, "metadata": phi.metadata}
    assert set(raw) == {"header", "w_plus", "delta_f/4", "mask/4", "rank_map"} and raw["rank_map"].dtype == torch.uint8
    z = np.load(phi.save(tmp_path / "phi.NPZ"), allow_pickle=False)  # was an empty file: numpy wrote phi.NPZ.npz
    assert json.loads(str(z["header"]))["format"] == "sam-editor-phi" and z["rank_map"].dtype == np.uint8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phi.NPZ", "phi.PT"]  # no stray temporary file
    back = Phi.load(tmp_path / "phi.NPZ")
    assert back.rank_map.dtype == torch.uint8 and torch.equal(back.rank_map, phi.rank_map.to(torch.uint8))
    assert Phi.load(path, map_location="meta").w_plus.device.type == "meta"
    no_map = Phi(phi.w_plus).save(tmp_path / "plain.pt")
    assert "rank_map" not in torch.load(no_map, weights_only=True) and Phi.load(no_map).rank_map is None


def test_a_phi_saved_by_hand_as_a_plain_dict(G, tmp_path):
    w = G.mean_w_plus(1)[0].double()  # no batch axis, float64
    df = torch.ones(1, *G.feature_shape(4), dtype=torch.float64)
    m2 = torch.zeros(16, 16, dtype=torch.bool)
    m2[4:8] = True
    torch.save({"w_plus": w, "delta_f": {" f4 ": df}, "masks": {"F4": m2}}, tmp_path / "plain.pt")
    phi = Phi.load(tmp_path / "plain.pt")
    assert phi.w_plus.shape == (1, G.num_ws, G.w_dim) and phi.w_plus.dtype == torch.float32
    assert phi.delta_f[4].dtype == torch.float32 and torch.equal(phi.delta_f[4], df.float())
    assert phi.masks[4].shape == (1, 1, 16, 16) and torch.equal(phi.masks[4][0, 0], m2.float())
    assert phi.metadata == {"source": "plain dict"}
    torch.save({"w_plus": G.mean_w_plus(1), "delta_f": {6: torch.zeros(1, *G.feature_shape(6))},
                "masks": {6: torch.ones(1, 1, 8, 8)}}, tmp_path / "ints.pt")
    assert list(Phi.load(tmp_path / "ints.pt").delta_f) == [6]
    assert Phi.load(tmp_path / "ints.pt").w_plus.shape == (1, G.num_ws, G.w_dim)
    assert Phi.load(tmp_path / "ints.pt", map_location="meta").w_plus.device.type == "meta"
    torch.save({"w_plus": [1.0, 2.0]}, tmp_path / "list.pt")
    with pytest.raises(ValueError, match=r"list.pt: not a usable φ file \(ValueError: φ has no tensor 'w_plus'\)$"):
        Phi.load(tmp_path / "list.pt")
    torch.save({"w_plus": G.mean_w_plus(1), "masks": {"Fx": torch.ones(4, 4)}}, tmp_path / "key.pt")
    with pytest.raises(ValueError, match=r"key.pt: not a usable φ file \(ValueError: "):
        Phi.load(tmp_path / "key.pt")


def _saved(G, tmp_path, name="bad.pt", header=None, **arrays):
    base = {"w_plus": G.mean_w_plus(1)}
    base.update(arrays)
    base = {k: v for k, v in base.items() if v is not None}
    head = header if header is not None else '{"format": "sam-editor-phi", "version": 1, "metadata": {}}'
    torch.save({"header": head, **base}, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"w_plus": torch.zeros(1, 3, dtype=torch.int64)}, "its arrays are not all float tensors"),
        ({"w_plus": None}, "it has no w_plus"),
        ({"rank_map": torch.zeros(4, 4, dtype=torch.uint8)}, r"its rank map is not an \(N, H, W\) array"),
        ({"delta_f/4": torch.full((1, 32, 16, 16), float("nan")), "mask/4": torch.ones(1, 1, 16, 16)}, "it holds NaN or infinite values"),
        ({"mask/4": torch.full((1, 1, 16, 16), float("inf"))}, "it holds NaN or infinite values"),
        ({"w_plus": torch.zeros(1, 1, 14, 32)}, r"w_plus is \(1, 1, 14, 32\), not \(N, num_ws, w_dim\)"),
        ({"delta_f/4": torch.zeros(1, 32, 16, 16)}, "Δf_4 or its mask is missing or not a 4-D tensor"),
        ({"delta_f/4": torch.zeros(32, 16, 16), "mask/4": torch.ones(1, 1, 16, 16)}, "Δf_4 or its mask"),
        ({"delta_f/4": torch.zeros(1, 32, 16, 16), "mask/4": torch.ones(16, 16)}, "Δf_4 or its mask"),
        ({"delta_f/17": torch.zeros(1, 1, 1, 1), "mask/17": torch.ones(1, 1, 1, 1)}, "unknown feature layer '17'"),
        ({"delta_f/0": torch.zeros(1, 1, 1, 1), "mask/0": torch.ones(1, 1, 1, 1)}, "unknown feature layer '0'"),
        ({"mask/x": torch.ones(1, 1, 1, 1)}, "unknown feature layer 'x'"),
        ({"mask/4/extra": torch.ones(1, 1, 1, 1)}, "unknown feature layer '4/extra'"),
        ({"note": "not a tensor"}, "its arrays are not all float tensors"),
    ],
)
def test_broken_phi_files_are_refused_with_the_reason(G, tmp_path, arrays, message):
    with pytest.raises(ValueError, match=r"bad\.pt: not a usable φ file \(" + message):
        Phi.load(_saved(G, tmp_path, **arrays))


def test_feature_layers_one_to_sixteen_are_read(G, tmp_path):
    for i in (1, 16):
        phi = Phi.load(_saved(G, tmp_path, **{f"delta_f/{i}": torch.zeros(1, 1, 2, 2), f"mask/{i}": torch.ones(1, 1, 2, 2)}))
        assert list(phi.delta_f) == [i] and list(phi.masks) == [i]


def test_files_that_are_not_phi_files(G, tmp_path):
    from sam_editor.schema import FileFormatError

    with pytest.raises(FileNotFoundError, match="nope.pt: no such φ file"):
        Phi.load(tmp_path / "nope.pt")
    with pytest.raises(FileFormatError, match="^bad.pt is not a SAM Editor φ file$"):
        Phi.load(_saved(G, tmp_path, header='{"format": "other", "version": 1}'))
    with pytest.raises(FileFormatError, match="newer SAM Editor"):
        Phi.load(_saved(G, tmp_path, header='{"format": "sam-editor-phi", "version": 2, "metadata": {}}'))
    with pytest.raises(FileFormatError, match="^bad.pt's header"):
        Phi.load(_saved(G, tmp_path, header='{"format": "sam-editor-phi", "version": 1, "metadata": {"a": NaN}}'))
    with pytest.raises(FileFormatError, match="bad.pt's header"):
        Phi.load(_saved(G, tmp_path, header='{"format": "sam-editor-phi", "version": 1, "metadata": 3}'))
    torch.save([G.mean_w_plus(1)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="“list.pt” is not a φ file SAM Editor can read safely \\(ValueError"):
        Phi.load(tmp_path / "list.pt")
    torch.save({"header": 3, "w_plus": G.mean_w_plus(1)}, tmp_path / "head.pt")
    with pytest.raises(ValueError, match="“head.pt” is not a φ file .*\\(ValueError"):
        Phi.load(tmp_path / "head.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="junk.pt.* not a readable φ file"):
        Phi.load(tmp_path / "junk.pt")
    # an .npz whose arrays are pickles: refused unread, so nothing in them runs
    marker = tmp_path / "code-ran"
    hostile = np.empty(1, dtype=object)
    hostile[0] = _MakesDir(str(marker))
    np.savez(tmp_path / "obj.npz", header=np.array("{}"), w_plus=hostile)
    with pytest.raises(ValueError, match="“obj.npz” is not a φ file SAM Editor can read safely \\(ValueError"):
        Phi.load(tmp_path / "obj.npz")
    assert not marker.exists()


class _MakesDir:
    """Unpickling this runs os.mkdir(path): a stand-in for a file that runs code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.mkdir, (self.path,))
