"""The generator's geometry and gating pinned with hand-derived expectations (issue 36, mutation testing
of gan/networks.py): the windows plan_blocks computes for a crop, worked out row by row from the layers'
receptive fields; m_i's resize written as explicit triangle-filter weights; an unmasked edit against
the plain render of w+ + δw+; a block's image as skip + toRGB; clamps that leave values inside ±c alone;
NVIDIA's Generator attributes.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_networks import SMALL, _small  # the seeded 32-px generator (same folder)

from sam_editor.gan.networks import Generator, GeneratorConfig, RenderCache, plan_blocks


def test_plan_windows_worked_out_by_hand():
    """32-px frame, crop rows 4:5, columns 11:15. Receptive fields (frame rows; the same for columns):
    a 3×3 conv's output o reads o−1 … o+1; the up-sampling conv0's output o reads input rows i with
    2i ∈ [o−3, o+2] (3-tap transposed conv, then the 4-tap FIR padded (1, 1)); the skip up-sampling's
    output o reads 2i ∈ [o−2, o+1] (the FIR padded (2, 1)). A block's window is the union of what the
    next block's conv0 and skip read of it, clipped to the frame.

    b32 rows 4:5 → conv1 reads 3:6 → conv0 reads 2i ∈ [0, 7]: 0:4, skip 2i ∈ [2, 5]: 1:3 → b16 rows 0:4;
        cols 11:15 → conv1 reads 10:16 → conv0 2i ∈ [7, 17]: 4:9, skip 2i ∈ [9, 16]: 5:9 → b16 cols 4:9.
    b16 rows 0:4 → conv1 reads 0:5 → 2i ∈ [−3, 6]: 0:4 → b8 rows 0:4 (all of them);
        cols 4:9 → conv1 reads 3:10 → 2i ∈ [0, 11]: 0:6, skip 2i ∈ [2, 9]: 1:5 → b8 cols 0:6.
    b8 rows 0:4, cols 0:6 → conv1 reads 0:5 and 0:7 → b4's whole 4×4 frame.
    """
    plans = plan_blocks(GeneratorConfig(resolution=32, crop=(4, 11, 1, 4)))
    got = [(p.window, p.in_window, p.conv0_window, p.const_window) for p in plans]
    assert got == [
        (((0, 4), (0, 4)), None, None, ((0, 4), (0, 4))),  # b4: conv1 reads the whole constant
        (((0, 4), (0, 6)), ((0, 4), (0, 4)), ((0, 5), (0, 7)), None),  # b8
        (((0, 4), (4, 9)), ((0, 4), (0, 6)), ((0, 5), (3, 10)), None),  # b16
        (((4, 5), (11, 15)), ((0, 4), (4, 9)), ((3, 6), (10, 16)), None),  # b32: the crop itself
    ]
    # no crop: every block computes its whole frame
    whole = plan_blocks(GeneratorConfig(resolution=16))
    assert [p.window for p in whole] == [((0, r), (0, r)) for r in (4, 8, 16)]
    assert [p.conv0_window for p in whole] == [None, ((0, 8), (0, 8)), ((0, 16), (0, 16))]


def _triangle_weights(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of an anti-aliased bilinear downscale by s = n_in / n_out: output pixel i
    (centre s·(i + ½) in input coordinates) averages the input pixels j with the tent
    max(0, 1 − |j + ½ − s·(i + ½)| / s), renormalised where the tent leaves the frame."""
    s = n_in / n_out
    centres = s * (torch.arange(n_out, dtype=torch.float64) + 0.5)
    W = (1 - ((torch.arange(n_in, dtype=torch.float64) + 0.5)[None, :] - centres[:, None]).abs() / s).clamp(min=0)
    return W / W.sum(dim=1, keepdim=True)


@pytest.mark.parametrize("crop", [None, (6, 0, 20, 32)])
def test_mask_to_feature_is_an_antialiased_bilinear_resize(crop):
    """m_i = the output-size mask placed in the frame, shrunk to F_i's size with half-pixel centres
    (align_corners False) and a tent as wide as the shrink factor (antialias): Wy · m · Wxᵀ."""
    g = _small(crop=crop)
    top, left, h, w = crop if crop is not None else (0, 0, 32, 32)
    mask = (torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    frame = torch.zeros(32, 32, dtype=torch.float64)
    frame[top : top + h, left : left + w] = mask[0, 0].double()
    for i, size in [(0, 4), (2, 8), (4, 16), (6, 32)]:
        Wt = _triangle_weights(32, size)
        expected = (Wt @ frame @ Wt.T).float()[None, None]
        torch.testing.assert_close(g.mask_to_feature(mask, i), expected, rtol=0, atol=1e-6)
    assert torch.equal(g.mask_to_feature(mask.bool(), 6)[0, 0], frame.float())  # F6 is the frame: as is


def test_an_edit_without_regions_is_the_render_of_the_edited_code():
    """With no F_i region (no mask) the gated edit is the plain render of w+ + δw+ — for an edit of
    every row, and for one of the late rows only (the edit then shares the first blocks with the
    reconstruction)."""
    g = _small()
    torch.manual_seed(6)
    w = g.map(torch.randn(2, SMALL.z_dim)) + 0.3 * torch.randn(2, SMALL.num_ws, SMALL.w_dim)
    for first_row in (0, 5):
        dw = torch.zeros_like(w)
        dw[:, first_row:] = 0.5 * torch.randn(2, SMALL.num_ws - first_row, SMALL.w_dim)
        edited = g.synthesize(w, delta_w=dw)
        torch.testing.assert_close(edited, g.synthesize(w + dw), rtol=0, atol=1e-6)
        assert not torch.allclose(edited, g.synthesize(w - dw), atol=1e-3)


def test_an_edit_without_regions_computes_no_reconstruction():
    """Nothing is gated, so once the edit differs from block b4 on nothing of the reconstruction is
    needed: a fresh cache sees the edit's blocks only."""
    g = _small()
    w = g.map(torch.randn(1, SMALL.z_dim))
    dw = torch.zeros_like(w)
    dw[:, 0] = 0.5
    cache = RenderCache()
    with torch.no_grad():
        g.synthesize(w, delta_w=dw, cache=cache)
    assert cache.computed_blocks == [("edit", 4), ("edit", 8), ("edit", 16), ("edit", 32)]


def test_a_block_image_is_the_skip_image_plus_its_torgb():
    """x̂ of a block = the earlier blocks' image up-sampled + toRGB(f_i) with the block's last style row;
    the first block has no skip image."""
    g = _small()
    torch.manual_seed(7)
    ws = torch.randn(2, 3, SMALL.w_dim)
    for block in g.synthesis.blocks()[:2]:  # b4 (rows 0, 1) and b8 (rows 0, 1, 2)
        x = torch.randn(2, block.out_channels, block.resolution, block.resolution)
        skip = torch.randn(2, 3, block.resolution, block.resolution)
        rgb = block.torgb(x, ws[:, block.num_conv])
        torch.testing.assert_close(block.to_image(x, skip, ws), skip + rgb, rtol=0, atol=1e-6)
        torch.testing.assert_close(block.to_image(x, None, ws), rgb, rtol=0, atol=0)
    # and so the whole image: zero the last block's toRGB and x̂ is b16's image, up-sampled
    last = g.synthesis.blocks()[-1]
    with torch.no_grad():
        last.torgb.weight.zero_()
        last.torgb.bias.zero_()
    w = g.map(torch.randn(1, SMALL.z_dim))
    f16, skip16 = g.g_stage(None, 4, None, None, w)
    img16 = g.synthesis.blocks()[2].to_image(f16, skip16, w[:, 3:6])
    torch.testing.assert_close(g.synthesize(w), last.upsample_skip(img16), rtol=0, atol=1e-6)


def test_clamps_leave_values_inside_the_bound_alone():
    """conv_clamp c: values in (−c, c) pass unchanged, the rest become ±c (every conv and toRGB)."""
    free, w = _small(), torch.randn(2, SMALL.w_dim)
    x = torch.randn(2, 32, 4, 4)
    ref_conv = free.synthesis.blocks()[1].conv0(x, w, "const")
    ref_rgb = free.synthesis.blocks()[1].torgb(ref_conv, w)
    for ref, layer in [(ref_conv, "conv0"), (ref_rgb, "torgb")]:
        c = float(ref.abs().median())  # half the values inside, half outside
        g = _small(conv_clamp=c)
        block = g.synthesis.blocks()[1]
        out = block.conv0(x, w, "const") if layer == "conv0" else block.torgb(ref_conv, w)
        expected = torch.where(ref.abs() < c, ref, c * ref.sign())
        torch.testing.assert_close(out, expected, rtol=0, atol=0)
        assert (ref.abs() < c).float().mean() > 0.4 and (ref.abs() > c).float().mean() > 0.4


def test_block_boundary_message_names_the_missing_features():
    """b32 of the 32-px generator takes b16's features, (N, 256 // 16 = 16, 16, 16)."""
    g = _small()
    block = g.synthesis.blocks()[3]
    w = torch.zeros(1, 3, SMALL.w_dim)
    with pytest.raises(ValueError, match=r"^b32: features None coming in, expected \(1, 16, 16, 16\)$"):
        block.reconstruct(None, None, w, None, None, "const")
    assert type(block.in_channels) is int and block.in_channels == 16


def test_nvidia_generator_attributes():
    """Code written against NVIDIA's Generator reads z_dim, w_dim, num_ws and img_resolution."""
    g = Generator(GeneratorConfig(resolution=16, z_dim=8, w_dim=12, mapping_layers=1, channel_base=64, channel_max=8))
    assert (g.z_dim, g.w_dim, g.num_ws, g.img_resolution) == (8, 12, 2 * int(math.log2(16)) - 2, 16)
