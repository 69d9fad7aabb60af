"""Properties of the staged / gated StyleGAN2 core (eq. 3.3–3.4, §3.4) on tiny generators."""

import pytest
import torch
import torch.nn.functional as F

from sam_editor.gan.layers import LayerSpace, block_of_feature_index, feature_index_of_block
from sam_editor.gan.native import CheckpointError, load_generator, save_generator
from sam_editor.gan.networks import Generator, GeneratorConfig, RenderCache
from sam_editor.gan.ops import modulated_conv2d, setup_filter, upfirdn2d

TINY = GeneratorConfig(resolution=64, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32)


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    g = Generator(TINY).eval().requires_grad_(False)
    # Non-zero noise strengths and w_avg so that those paths matter in the comparisons.
    for name, p in g.named_parameters():
        if name.endswith("noise_strength"):
            p.fill_(0.1)
    g.mapping.w_avg.normal_()
    return g


@pytest.fixture(scope="module")
def w(G):
    return G.map(torch.randn(2, TINY.z_dim, generator=torch.Generator().manual_seed(1)))


def test_layer_table_matches_official_convention():
    car = GeneratorConfig(resolution=512, crop=(64, 0, 384, 512))
    G = Generator(car)
    # F_i is the block whose last conv consumes style row i: F4=16², F6=32², F8=64², F10=128².
    for space, res, ch in [(LayerSpace.F4, 16, 512), (LayerSpace.F6, 32, 512), (LayerSpace.F8, 64, 512), (LayerSpace.F10, 128, 256)]:
        assert G.feature_shape(space.index) == (ch, res, res)
        assert block_of_feature_index(space.index) == res and feature_index_of_block(res) == space.index
        rows = G.style_rows_of_block(res)
        assert rows[1] == space.index  # conv1 of that block consumes row i, toRGB row i+1
    assert car.num_ws == 16 and car.output_size == (384, 512)


def test_upconv_fast_path_equals_upfirdn_then_conv():
    """The transposed-conv fast path equals the generic 'FIR up-sample, then convolve' definition."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5)
    weight = torch.randn(3, 4, 3, 3)
    styles = torch.randn(2, 4)
    f = setup_filter()
    fast = modulated_conv2d(x, weight, styles, up=2, padding=1, resample_filter=f)
    wmod = weight.unsqueeze(0) * styles.reshape(2, 1, 4, 1, 1)
    wmod = wmod * (wmod.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    ref = []
    for n in range(2):
        up = upfirdn2d(x[n : n + 1], f, up=2, padding=(3, 2, 3, 2), gain=4)
        ref.append(F.conv2d(up, wmod[n].flip([2, 3])))  # a true convolution
    torch.testing.assert_close(fast, torch.cat(ref), atol=1e-5, rtol=1e-5)


def test_plain_forward_equals_staged_loop(G, w):
    """x̂ = g_{10→end}(g_{8→10}(…g_{0→4}(c, w+)…)) — eq. 3.3–3.4 with Δf = 0."""
    full = G.synthesize(w)
    f, skip = G.g_stage(None, 4, None, None, w)
    for i, j in [(4, 6), (6, 8)]:
        f, skip = G.g_stage(i, j, f, skip, w)
    assert f.shape[1:] == G.feature_shape(8)  # 64 px generator: F8 is the last block
    _, img = G.g_stage(8, None, f, skip, w)
    torch.testing.assert_close(img, full, rtol=0, atol=0)
    # The same chain equals NVIDIA's block-by-block forward.
    x = img = None
    for block, start in zip(G.synthesis.blocks(), G.synthesis.w_starts, strict=True):
        x, img = block(x, img, w[:, start : start + block.num_conv + 1], "const")
    torch.testing.assert_close(img, full, rtol=0, atol=0)


def test_delta_f_at_last_block_reaches_pixels(G, w):
    """Δf of the last block (F8 here, F10 of the 128-px demo generator) acts through its toRGB."""
    m = torch.ones(1, 1, 64, 64)
    df = torch.randn(2, *G.feature_shape(8))
    out = G.synthesize(w, delta_f={8: df}, masks={8: G.mask_to_feature(m, 8)})
    assert (out - G.synthesize(w)).abs().mean() > 1e-2


def test_zero_deltas_reproduce_plain_forward(G, w):
    m = torch.ones(1, 1, 64, 64)
    masks = {i: G.mask_to_feature(m, i) for i in (4, 6, 8)}
    delta_f = {i: torch.zeros(2, *G.feature_shape(i)) for i in (4, 6, 8)}
    out = G.synthesize(w, delta_f=delta_f, masks=masks, delta_w=torch.zeros_like(w))
    torch.testing.assert_close(out, G.synthesize(w), rtol=0, atol=1e-6)


def test_masked_delta_f_changes_pixels_only_where_mask_reaches(G, w):
    m = torch.zeros(1, 1, 64, 64)
    m[..., :16] = 1  # left quarter
    masks = {6: G.mask_to_feature(m, 6)}
    df = torch.randn(2, *G.feature_shape(6))
    base = G.synthesize(w, delta_f={6: torch.zeros_like(df)}, masks=masks)
    out = G.synthesize(w, delta_f={6: df}, masks=masks)
    diff = (out - base).abs().amax(dim=(0, 1))  # (H, W)
    assert diff[:, :16].mean() > 1e-2  # inside: changed
    assert diff[:, 32:].max() == 0  # beyond the receptive field of the remaining layers: untouched


def test_gated_edit_leaves_interior_of_feature_region_unchanged(G, w):
    """§3.4: a region inverted in F_i gets w+ up to layer i; an edit of rows ≤ i must not reach it.
    The skip RGB image is gated too — otherwise the edited low-res image leaks into the region."""
    i = LayerSpace.F6.index
    m = torch.zeros(1, 1, 64, 64)
    m[..., :, :32] = 1  # left half inverted in F6
    masks = {i: G.mask_to_feature(m, i)}
    dw = torch.zeros_like(w)
    dw[:, : i + 1] = 2.0  # an edit confined to style rows 0..6
    rec = G.synthesize(w, masks=masks)
    edited = G.synthesize(w, masks=masks, delta_w=dw)
    diff = (edited - rec).abs().amax(dim=(0, 1))
    assert diff[:, :24].max() < 1e-5  # interior of the F6 region (away from the boundary)
    assert diff[:, 40:].mean() > 1e-2  # the W+ region is edited

    # A late edit (rows after i) does reach the F_i region.
    dw_late = torch.zeros_like(w)
    dw_late[:, i + 1 :] = 2.0
    late = G.synthesize(w, masks=masks, delta_w=dw_late)
    assert (late - rec)[..., :24].abs().mean() > 1e-2


def test_cache_reuses_early_blocks_and_matches_uncached(G, w):
    cache = RenderCache()
    m = torch.zeros(1, 1, 64, 64)
    m[..., 20:40, 20:40] = 1
    masks = {4: G.mask_to_feature(m, 4)}
    with torch.no_grad():
        G.synthesize(w, masks=masks, cache=cache)
        assert [r for _, r in cache.computed_blocks] == [4, 8, 16, 32, 64]
        dw = torch.zeros_like(w)
        dw[:, 7:] = 1.0  # only rows 7.. → block 64 (rows 5,6,7: toRGB row 7) onwards… and b32's toRGB
        cached = G.synthesize(w, masks=masks, delta_w=dw, cache=cache)
        first = min(r for _, r in cache.computed_blocks)
        assert all(p == "edit" for p, _ in cache.computed_blocks) and first == 32
        dw2 = dw.clone()
        dw2[:, 9] = -1.0  # the last row only
        cached2 = G.synthesize(w, masks=masks, delta_w=dw2, cache=cache)
        assert cache.computed_blocks == [("edit", 64)]
        torch.testing.assert_close(cached, G.synthesize(w, masks=masks, delta_w=dw), rtol=0, atol=0)
        torch.testing.assert_close(cached2, G.synthesize(w, masks=masks, delta_w=dw2), rtol=0, atol=0)
        # Changing the mask invalidates from the block that uses it.
        G.synthesize(w, masks={4: masks[4] * 0.5}, delta_w=dw2, cache=cache)
        assert min(r for _, r in cache.computed_blocks) == 16


def test_crop_and_mask_geometry():
    cfg = GeneratorConfig(resolution=32, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8, crop=(4, 0, 24, 32))
    G = Generator(cfg).eval()
    img = G(torch.randn(1, 8))
    assert img.shape == (1, 3, 24, 32)
    m = torch.ones(1, 1, 24, 32)
    m4 = G.mask_to_feature(m, 4)
    assert m4.shape == (1, 1, 16, 16)
    assert m4[..., 0, :].max() < 0.5 and m4[..., 8, :].min() > 0.99  # letterbox rows are not in F4


def test_native_roundtrip_and_clear_errors(G, tmp_path):
    path = tmp_path / "g.pt"
    save_generator(path, G, {"name": "tiny"})
    G2, meta = load_generator(path)
    assert meta == {"name": "tiny"}
    z = torch.randn(1, TINY.z_dim)
    torch.testing.assert_close(G2(z), G(z), rtol=0, atol=0)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="trunc.pt"):
        load_generator(trunc)
    foreign = tmp_path / "foreign.pt"
    torch.save({"hello": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="not a SAM Editor generator"):
        load_generator(foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "missing.pt")


def test_tiny_edit_with_soft_masks_stays_close_to_reconstruction(G, w):
    """Soft mask edges: δw+ → 0 must give the reconstruction (g + m·Δf, not g + m²·Δf)."""
    m = torch.zeros(1, 1, 64, 64)
    m[..., 20:44, 20:44] = 1
    masks = {6: G.mask_to_feature(m, 6)}  # bilinear: soft at the edges
    assert 0 < float(masks[6][(masks[6] > 0) & (masks[6] < 1)].numel())
    df = {6: torch.randn(2, *G.feature_shape(6))}
    rec = G.synthesize(w, delta_f=df, masks=masks)
    tiny = G.synthesize(w, delta_f=df, masks=masks, delta_w=torch.full_like(w, 1e-6))
    assert (tiny - rec).abs().max() < 1e-3


def test_edit_being_optimised_gets_a_gradient_at_zero(G, w):
    dw = torch.zeros_like(w, requires_grad=True)
    with torch.enable_grad():
        G.synthesize(w, delta_w=dw).square().mean().backward()
    assert dw.grad is not None and dw.grad.abs().sum() > 0


def test_a_mistyped_noise_mode_is_refused_not_silently_noiseless(G, w):
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesize(w, noise_mode="cnst")
    assert not torch.equal(G.synthesize(w, noise_mode="none"), G.synthesize(w, noise_mode="const"))


def test_block_boundary_checks_the_feature_shape(G, w):
    block = G.synthesis.blocks()[1]
    with pytest.raises(ValueError, match=r"b8: features \(1, \d+, 3, 3\) coming in, expected \(1, \d+, 4, 4\)"):
        block.reconstruct(torch.zeros(1, block.in_channels, 3, 3), None, w[:1, :3], None, None, "const")
