"""Properties of the staged / gated StyleGAN2 core (eq. 3.3–3.4, §3.4) on tiny generators."""

import math

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


# ---- pinned behaviour (issue 36): expectations written out by hand, not read back from G ---------
SMALL = GeneratorConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=32)


def _small(crop=None, conv_clamp=None) -> Generator:
    """The same random weights (seed 0) for every crop/clamp of SMALL; noise on, w_avg off zero."""
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(**{**SMALL.__dict__, "crop": crop, "conv_clamp": conv_clamp})).eval().requires_grad_(False)
    for name, p in g.named_parameters():
        if name.endswith("noise_strength"):
            p.fill_(0.2)
    g.mapping.w_avg.normal_()
    return g


def test_truncation_lerps_from_w_avg_towards_w(G):
    z = torch.randn(3, TINY.z_dim, generator=torch.Generator().manual_seed(4))
    w, avg = G.mapping(z), G.mapping.w_avg
    for psi in (0.0, 0.7, 1.0, 1.5, 2.0):
        wp = G.map(z, truncation_psi=psi)
        assert wp.shape == (3, G.num_ws, TINY.w_dim)
        expected = (avg + psi * (w - avg))[:, None].expand(-1, G.num_ws, -1)  # ψ·w + (1 − ψ)·w_avg
        torch.testing.assert_close(wp, expected, rtol=0, atol=1e-6)
    assert torch.equal(G.map(z, 0.0), avg.expand(3, G.num_ws, -1))  # ψ = 0 is w_avg exactly
    assert torch.equal(G.map(z), w[:, None].expand(-1, G.num_ws, -1))  # ψ = 1 is w itself
    assert torch.equal(G.mean_w_plus(2), avg.expand(2, G.num_ws, -1))
    torch.testing.assert_close(G(z, truncation_psi=0.5), G.synthesize(G.map(z, 0.5)), rtol=0, atol=0)
    torch.testing.assert_close(G(z, noise_mode="none"), G.synthesize(G.map(z), noise_mode="none"), rtol=0, atol=0)


def test_mapping_network_by_hand():
    """z → z/rms(z), then per layer lrelu(x·(0.01·W/√in)ᵀ + 0.01·b, 0.2)·√2: weights are stored 100× the
    effective ones (lr multiplier 0.01), as in NVIDIA's checkpoints."""
    g = _small()
    with torch.no_grad():
        for i in range(SMALL.mapping_layers):
            getattr(g.mapping, f"fc{i}").bias.normal_(0, 10)
    z = torch.randn(4, SMALL.z_dim, generator=torch.Generator().manual_seed(2))
    x = z / z.pow(2).mean(dim=1, keepdim=True).add(1e-8).sqrt()
    for i in range(SMALL.mapping_layers):
        fc = getattr(g.mapping, f"fc{i}")
        a = x @ (fc.weight * 0.01 / math.sqrt(fc.weight.shape[1])).T + 0.01 * fc.bias
        x = torch.where(a >= 0, a, 0.2 * a) * math.sqrt(2)
    torch.testing.assert_close(g.mapping(z), x, rtol=1e-5, atol=1e-6)
    assert 50 < float(g.mapping.fc0.weight.std()) < 200  # stored scale: randn / 0.01
    wide = Generator(GeneratorConfig(resolution=8, z_dim=12, w_dim=16, mapping_layers=3, channel_base=64, channel_max=8))
    assert [tuple(getattr(wide.mapping, f"fc{i}").weight.shape) for i in range(3)] == [(16, 12), (16, 16), (16, 16)]
    assert wide.mapping(torch.randn(2, 12)).shape == (2, 16) and wide.mean_w_plus().shape == (1, wide.num_ws, 16)


def test_torgb_and_style_affines_by_hand():
    """toRGB: y[n, o] = Σ_c W[o, c]·s[n, c]·x[n, c]/√C + b[o] (no demodulation), s = affine(w); every
    style affine starts with bias 1 (styles ≈ 1 at initialisation, as NVIDIA's)."""
    g = _small()
    layers = [m for m in g.modules() if hasattr(m, "affine")]
    assert len(layers) == 3 * 4 - 1 and all(torch.equal(m.affine.bias, torch.ones_like(m.affine.bias)) for m in layers)
    block = g.synthesis.blocks()[2]  # b16: 16 channels
    with torch.no_grad():
        block.torgb.bias.normal_()
    x = torch.randn(2, 16, 5, 5)
    w = torch.randn(2, SMALL.w_dim)
    aff = block.torgb.affine
    styles = w @ (aff.weight / math.sqrt(SMALL.w_dim)).T + aff.bias
    W = block.torgb.weight[:, :, 0, 0]
    ref = torch.einsum("oc,nc,nchw->nohw", W, styles / math.sqrt(16), x) + block.torgb.bias[None, :, None, None]
    torch.testing.assert_close(block.torgb(x, w), ref, rtol=1e-4, atol=1e-5)


def test_synthesis_layer_by_hand():
    """conv1 of b8: lrelu(conv(x, W·s / ‖W·s‖) + noise·strength + b, 0.2)·√2 with the modulated,
    demodulated weights formed explicitly per image (NVIDIA's fused form)."""
    g = _small()
    layer = g.synthesis.blocks()[1].conv1
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 32, 8, 8)
    w = torch.randn(2, SMALL.w_dim)
    s = w @ (layer.affine.weight / math.sqrt(SMALL.w_dim)).T + layer.affine.bias
    ref = []
    for n in range(2):
        wm = layer.weight * s[n][None, :, None, None]
        wm = wm * (wm.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).rsqrt()
        a = F.conv2d(x[n : n + 1], wm, padding=1) + layer.noise_const * layer.noise_strength + layer.bias[None, :, None, None]
        ref.append(torch.where(a >= 0, a, 0.2 * a) * math.sqrt(2))
    torch.testing.assert_close(layer(x, w, "const"), torch.cat(ref), rtol=1e-4, atol=1e-5)


def test_w_avg_tracks_the_mapped_batch_with_beta():
    g = _small()
    before = g.mapping.w_avg.clone()
    z = torch.randn(5, SMALL.z_dim)
    w = g.mapping(z, update_w_avg=True)
    torch.testing.assert_close(g.mapping.w_avg, 0.995 * before + 0.005 * w.mean(0), rtol=0, atol=1e-6)
    g.mapping(z)  # without update_w_avg: unchanged
    torch.testing.assert_close(g.mapping.w_avg, 0.995 * before + 0.005 * w.mean(0), rtol=0, atol=1e-6)


def test_style_rows_channels_and_feature_shapes_by_hand():
    g = _small()
    # 32 px: b4 has conv1 + toRGB (rows 0, 1); every later block conv0, conv1, toRGB, sharing its
    # first row with the previous block's toRGB (NVIDIA's layout): 8 rows in all.
    assert g.num_ws == SMALL.num_ws == 8 and SMALL.block_resolutions == [4, 8, 16, 32]
    assert g.synthesis.w_starts == [0, 1, 3, 5]
    assert [list(g.style_rows_of_block(r)) for r in (4, 8, 16, 32)] == [[0, 1], [1, 2, 3], [3, 4, 5], [5, 6, 7]]
    assert [b.num_conv for b in g.synthesis.blocks()] == [1, 2, 2, 2]
    # channels: min(256 // r, 32)
    assert [SMALL.channels(r) for r in (4, 8, 16, 32)] == [32, 32, 16, 8]
    assert [(b.in_channels, b.out_channels) for b in g.synthesis.blocks()] == [(32, 32), (32, 32), (32, 16), (16, 8)]
    assert g.feature_indices() == [0, 2, 4, 6]
    narrow = Generator(GeneratorConfig(resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=32))
    b4 = narrow.synthesis.blocks()[0]
    assert (b4.in_channels, b4.out_channels) == (16, 16) and b4.const.shape == (16, 4, 4)  # b4 starts from its constant
    assert [g.feature_shape(i) for i in (0, 2, 4, 6)] == [(32, 4, 4), (32, 8, 8), (16, 16, 16), (8, 32, 32)]
    with pytest.raises(ValueError, match="^F8 does not exist in a 32px generator$"):
        g.feature_shape(8)
    # each block reads exactly its own rows: changing row 4 (b16's conv1) leaves F2 (b8) alone
    w = g.map(torch.randn(1, SMALL.z_dim))
    w2 = w.clone()
    w2[:, 4] += 1.0
    f2, _ = g.g_stage(None, 2, None, None, w)
    assert torch.equal(g.g_stage(None, 2, None, None, w2)[0], f2)
    f4 = g.g_stage(None, 4, None, None, w)[0]
    assert not torch.equal(g.g_stage(None, 4, None, None, w2)[0], f4)


def test_every_style_row_reaches_exactly_its_layers():
    """With a different w in every row (not G.map's broadcast one), the windowed pass, the staged
    g_stage chain and NVIDIA's block forward agree, and F_i depends on rows 0…i and no other."""
    g = _small()
    torch.manual_seed(8)
    w = g.map(torch.randn(1, SMALL.z_dim)) + 0.5 * torch.randn(1, SMALL.num_ws, SMALL.w_dim)
    full = g.synthesize(w)
    f, skip = g.g_stage(None, 2, None, None, w)
    f, skip = g.g_stage(2, 4, f, skip, w)
    _, img = g.g_stage(4, None, f, skip, w)
    torch.testing.assert_close(img, full, rtol=0, atol=0)
    x = img = None
    for block, start in zip(g.synthesis.blocks(), g.synthesis.w_starts, strict=True):
        x, img = block(x, img, w[:, start : start + block.num_conv + 1], "const")
    torch.testing.assert_close(img, full, rtol=0, atol=0)
    features = {i: g.g_stage(None, i, None, None, w)[0] for i in (0, 2, 4, 6)}
    for r in range(SMALL.num_ws):
        w2 = w.clone()
        w2[:, r] += 1.0
        reached = [i for i in (0, 2, 4, 6) if not torch.equal(g.g_stage(None, i, None, None, w2)[0], features[i])]
        assert reached == [i for i in (0, 2, 4, 6) if r <= i], r
        assert not torch.equal(g.synthesize(w2), full)


def test_config_checks_json_and_output_size():
    for bad in (4, 48, 0):
        with pytest.raises(ValueError, match=f"^resolution must be a power of two ≥ 8, got {bad}$"):
            GeneratorConfig(resolution=bad)
    assert GeneratorConfig(resolution=8).output_size == (8, 8)
    for crop in ((-1, 0, 8, 8), (0, -1, 8, 8), (1, 0, 32, 8), (0, 1, 8, 32)):
        with pytest.raises(ValueError, match=r"does not fit in a 32² frame"):
            GeneratorConfig(resolution=32, crop=crop)
    cfg = GeneratorConfig(resolution=32, crop=[2.0, 0, 30, 32])  # a crop read from JSON
    assert cfg.crop == (2, 0, 30, 32) and all(type(v) is int for v in cfg.crop) and cfg.output_size == (30, 32)
    text = cfg.to_json()
    assert text.index('"channel_base"') < text.index('"crop"') < text.index('"z_dim"')  # sorted keys
    import json

    assert GeneratorConfig.from_dict(json.loads(text)) == cfg
    assert GeneratorConfig.from_dict({"resolution": 16}) == GeneratorConfig(resolution=16)
    with pytest.raises(ValueError, match=r"^unknown generator config fields: \['a', 'b'\]$"):
        GeneratorConfig.from_dict({"resolution": 16, "b": 1, "a": 2})


@pytest.mark.parametrize("crop", [(0, 0, 32, 32), (3, 5, 20, 17), (31, 0, 1, 32), (8, 9, 1, 1), (0, 16, 32, 16)])
def test_a_cropped_generator_computes_exactly_that_part_of_the_full_frame(crop):
    """The windows of plan_blocks: each block computed only where it reaches the crop gives the
    same pixels as the whole frame, cut out by hand — also with Δf, masks and a gated edit."""
    full, cropped = _small(), _small(crop=crop)
    top, left, h, w_ = crop
    torch.manual_seed(3)
    w = full.map(torch.randn(2, SMALL.z_dim))
    frame_mask = torch.zeros(1, 1, 32, 32)
    frame_mask[..., 6:20, 4:30] = 1
    masks = {4: full.mask_to_feature(frame_mask, 4)}
    delta_f = {4: torch.randn(2, *full.feature_shape(4))}
    dw = torch.zeros_like(w)
    dw[:, 3:] = 0.7
    for kw in ({}, {"delta_f": delta_f, "masks": masks}, {"masks": masks, "delta_w": dw}):
        ref = full.synthesize(w, **kw)[..., top : top + h, left : left + w_]
        torch.testing.assert_close(cropped.synthesize(w, **kw), ref, rtol=1e-5, atol=1e-5)
    img = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    assert torch.equal(cropped.crop_output(img), img[:, :, top : top + h, left : left + w_])
    # a mask at output size is placed in the frame (zeros outside the crop), then resized to F_i
    out_mask = torch.rand(1, 1, h, w_)
    placed = torch.zeros(1, 1, 32, 32)
    placed[..., top : top + h, left : left + w_] = out_mask
    for i in (2, 4, 6):
        torch.testing.assert_close(cropped.mask_to_feature(out_mask, i), full.mask_to_feature(placed, i), rtol=0, atol=0)


def test_noise_modes():
    g = _small()
    w = g.map(torch.randn(1, SMALL.z_dim))
    silent = _small()
    for name, p in silent.named_parameters():
        if name.endswith("noise_strength"):
            p.zero_()
    # "none" is the generator without noise; "const" its fixed buffers; "random" fresh each time
    torch.testing.assert_close(g.synthesize(w, noise_mode="none"), silent.synthesize(w), rtol=0, atol=0)
    const = g.synthesize(w)
    assert not torch.equal(const, silent.synthesize(w))
    r1, r2 = g.synthesize(w, noise_mode="random"), g.synthesize(w, noise_mode="random")
    assert r1.shape == const.shape and not torch.equal(r1, r2) and not torch.equal(r1, const)
    torch.manual_seed(9)
    r3 = g.synthesize(w, noise_mode="random")
    torch.manual_seed(9)
    assert torch.equal(g.synthesize(w, noise_mode="random"), r3)
    with pytest.raises(ValueError, match="^noise_mode must be 'const', 'random' or 'none', got 'cnst'$"):
        g.synthesize(w, noise_mode="cnst")


def test_conv_clamp_bounds_every_layer_and_none_does_not():
    g, free = _small(conv_clamp=0.05), _small()
    w = g.map(torch.randn(2, SMALL.z_dim)) * 3
    f = g.g_stage(None, 4, None, None, w)[0]
    assert f.abs().max() <= 0.05 and (f.abs() == 0.05).any()
    assert free.g_stage(None, 4, None, None, w)[0].abs().max() > 0.05
    block = g.synthesis.blocks()[1]
    big = torch.randn(2, 32, 4, 4) * 100
    assert block.conv0(big, w[:, 1], "const").abs().max() <= 0.05  # every layer, the up-sampling conv0 too
    rgb = block.torgb(torch.randn(2, block.out_channels, 8, 8) * 100, w[:, 3])
    assert rgb.abs().max() <= 0.05 and (rgb.abs() == 0.05).any()
    assert free.synthesis.blocks()[1].torgb(torch.randn(2, 32, 8, 8) * 100, w[:, 3]).abs().max() > 0.05
    # a clamp of 0 is a clamp too (only None switches it off)
    zero = _small(conv_clamp=0.0)
    assert torch.equal(zero.g_stage(None, 4, None, None, w)[0], torch.zeros(2, 16, 16, 16))
    assert torch.equal(zero.synthesize(w), torch.zeros(2, 3, 32, 32))
    assert torch.equal(zero.synthesis.blocks()[1].torgb(torch.randn(2, 32, 8, 8), w[:, 3]), torch.zeros(2, 3, 8, 8))


def test_random_noise_is_drawn_on_the_generator_device():
    import copy

    g = copy.deepcopy(_small()).to("meta")  # a second device without a GPU
    w = torch.zeros(1, SMALL.num_ws, SMALL.w_dim, device="meta")
    assert g.synthesize(w, noise_mode="random").device.type == "meta"


def test_delta_f_needs_its_mask(G, w):
    with pytest.raises(ValueError, match=r"^Δf_6 given without its mask m_6$"):
        G.synthesize(w, delta_f={6: torch.zeros(2, *G.feature_shape(6))}, masks={4: torch.ones(1, 1, 16, 16)})


def test_render_cache_recomputes_exactly_the_blocks_a_change_reaches():
    """Each render against the uncached one, and the blocks it computed against the hand-made list
    (32 px: b4 rows 0-1, b8 1-3, b16 3-5 (F4), b32 5-7)."""
    from sam_editor.gan.networks import _same

    g = _small()
    torch.manual_seed(5)
    w = g.map(torch.randn(1, SMALL.z_dim))
    m = torch.zeros(1, 1, 32, 32)
    m[..., 8:24, 8:24] = 1
    masks = {4: g.mask_to_feature(m, 4)}
    df = {4: torch.randn(1, *g.feature_shape(4))}
    cache = RenderCache()
    assert cache.computed_blocks == []

    def render(w_, df_, dw=None):
        with torch.no_grad():
            out = g.synthesize(w_, df_, masks, delta_w=dw, cache=cache)
            torch.testing.assert_close(out, g.synthesize(w_, df_, masks, delta_w=dw), rtol=0, atol=0)
        return cache.computed_blocks

    assert render(w, df) == [("rec", 4), ("rec", 8), ("rec", 16), ("rec", 32)]
    assert render(w, df) == []  # nothing changed
    df2 = {4: df[4] + 1.0}
    assert render(w, df2) == [("rec", 16), ("rec", 32)]  # Δf_4 enters at b16
    w2 = w.clone()
    w2[:, 6] += 0.5
    assert render(w2, df2) == [("rec", 32)]  # row 6: b32's conv1
    dw = torch.zeros_like(w)
    dw[:, 5:] = 0.8  # rows 5-7: b16's toRGB (after F4) and b32
    assert render(w2, df2, dw) == [("edit", 16), ("edit", 32)]
    assert render(w2, df2, dw) == []
    # Δf_4 changes under the same edit: the reconstruction's b16 and the edit gated on it are redone
    assert render(w2, df, dw) == [("rec", 16), ("edit", 16), ("edit", 32)]
    assert render(w2, df2, dw) == [("rec", 16), ("edit", 16), ("edit", 32)]
    dw2 = dw.clone()
    dw2[:, 7] = -0.8
    assert render(w2, df2, dw2) == [("edit", 32)]
    dw3 = torch.zeros_like(w)
    dw3[:, 2] = 0.8  # an edit from b8 on
    assert render(w2, df2, dw3) == [("edit", 8), ("edit", 16), ("edit", 32)]
    assert render(w2, df2, dw2) == [("edit", 16), ("edit", 32)]  # back to sharing b8 with the reconstruction
    # row 6 again: the edit past its last gate (F4 at b16) needs no reconstruction of b32
    assert render(w, df2, dw2) == [("edit", 32)]
    cache.clear()
    assert render(w, df2) == [("rec", 4), ("rec", 8), ("rec", 16), ("rec", 32)]
    # a random-noise or a gradient-carrying render never uses nor fills the cache
    with torch.no_grad():
        g.synthesize(w, df2, masks, cache=cache, noise_mode="random")
    assert cache.computed_blocks == [("rec", 4), ("rec", 8), ("rec", 16), ("rec", 32)]
    g.synthesize(w, df2, masks, cache=cache)
    assert cache.computed_blocks == [("rec", 4), ("rec", 8), ("rec", 16), ("rec", 32)]

    a = torch.zeros(2, 3)
    assert _same(None, None) and not _same(a, None) and not _same(None, a) and _same(a, a.clone())
    assert not _same(a, a.double()) and not _same(a, a.reshape(3, 2)) and not _same(a, a + 1)
    assert not _same(a, a.to("meta"))
