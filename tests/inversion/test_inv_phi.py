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
