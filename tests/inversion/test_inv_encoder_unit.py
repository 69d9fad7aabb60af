"""The SAM encoder's own maths and files, on a hand-set or random tiny encoder (no training): fast
enough for a mutation run of inversion/encoder.py (issue 36), each test well under a second.

Expectations are independent of encoder.py: a functional forward written from the paper's layout
(stem, residual halving levels, pooled pyramid → W+ head as an offset from w_avg, Δf_i heads that
read F_i's level and the area-resized map), hand-derived channel counts, frames and one-hot maps,
and an encoder whose heads are set by hand so that w+ = w_avg + b and Δf_i = the map's area
fractions on F_i's grid.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_editor.gan.networks import Generator
from sam_editor.inversion import InversionSettings, invert
from sam_editor.inversion import latent_maps as lm
from sam_editor.inversion.e4e import E4EEncoder
from sam_editor.inversion.encoder import (
    EncoderConfig,
    EncoderError,
    SAMEncoder,
    _ranks_in_frame,
    _to_frame,
    encode,
    feature_indices,
    load_encoder,
    onehot_map,
    parameter_count,
    save_encoder,
)

from .conftest import TINY
from .test_e4e import make_checkpoint

# TINY: a 32 px generator, num_ws = 2·log2(32) − 2 = 8, w_dim 32; F4 is its 16×16 level with
# min(256/16, 32) = 16 channels, F6 its 32×32 level with 256/32 = 8; F8/F10 do not exist.
# The encoder: channels(r) = min(64, 8·32/r) → 8 (32 px), 16 (16), 32 (8), 64 (4).
SMALL = dict(base_channels=8, max_channels=64, hidden=16)
CROP = (2, 6, 28, 20)  # (top, left, h, w): a centred 28×20 output in the 32² frame


def _gen(crop=None, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(dataclasses.replace(TINY, crop=crop)).eval().requires_grad_(False)
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(G.w_dim))
    return G


@pytest.fixture(scope="module")
def gen() -> Generator:
    return _gen()


@pytest.fixture(scope="module")
def cropped() -> Generator:
    return _gen(CROP)


def _random_encoder(G: Generator, seed: int = 1) -> SAMEncoder:
    """Every weight random, the zero-initialised last layers and GroupNorm's affine included."""
    torch.manual_seed(seed)
    enc = SAMEncoder(EncoderConfig.for_generator(G, **SMALL), w_avg=G.mapping.w_avg)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
            elif name.startswith(("w_head.2", "f_heads")) and name.endswith(("2.weight", "2.bias")):
                p.copy_(0.1 * torch.randn_like(p))
    return enc.eval()


def _lrelu(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > 0, t, 0.2 * t)


def _group_norm(t: torch.Tensor, groups: int, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    n, c, h, w = t.shape
    g = t.reshape(n, groups, -1)
    mu = g.mean(-1, keepdim=True)
    var = ((g - mu) ** 2).mean(-1, keepdim=True)
    out = ((g - mu) / torch.sqrt(var + 1e-5)).reshape(n, c, h, w)
    return out * weight[None, :, None, None] + bias[None, :, None, None]


def _reference(sd: dict, x: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """E(x, m) for the 32 px SMALL layout, written from the design, not from SAMEncoder.forward."""

    def conv(t, key, stride=1, pad=1):
        return F.conv2d(t, sd[key + ".weight"], sd[key + ".bias"], stride=stride, padding=pad)

    n = x.shape[0]
    h = _lrelu(conv(torch.cat([x, onehot], 1), "stem"))
    feats = {32: h}
    for r in (16, 8, 4):  # residual blocks halving the resolution, GroupNorm of 8 groups
        p = f"levels.{r}."
        a = _lrelu(conv(h, p + "conv1", stride=2))
        s = conv(a, p + "conv2") + conv(h, p + "skip", stride=2, pad=0)
        h = _lrelu(_group_norm(s, 8, sd[p + "norm.weight"], sd[p + "norm.bias"]))
        feats[r] = h
    # the W+ head reads the 4×4 level flattened and the pooled 16×16 and 8×8 levels
    code = torch.cat([feats[4].reshape(n, -1), feats[16].mean((2, 3)), feats[8].mean((2, 3))], 1)
    hidden = _lrelu(code @ sd["w_head.0.weight"].T + sd["w_head.0.bias"])
    w_plus = sd["w_avg"] + (hidden @ sd["w_head.2.weight"].T + sd["w_head.2.bias"]).reshape(n, 8, 32)
    delta = {}
    for i, res in ((4, 16), (6, 32)):
        m = F.avg_pool2d(onehot, 32 // res)  # area resize by a whole factor: block means
        t = _lrelu(conv(torch.cat([feats[res], m], 1), f"f_heads.{i}.0"))
        delta[i] = conv(t, f"f_heads.{i}.2")
    return w_plus, delta


def _onehot(ranks: np.ndarray) -> torch.Tensor:
    """(N, H, W) ranks → (N, 5, H, W) float by comparison with each rank."""
    r = torch.as_tensor(ranks.astype(np.int64))
    return (r[:, None] == torch.arange(5)[None, :, None, None]).float()


def _images(n: int, size: tuple[int, int], seed: int) -> torch.Tensor:
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _crop_ranks(n: int = 2) -> np.ndarray:
    """On the 28×20 output: columns ≥ 9 F6 (rank 2), the top four rows of the rest F4 (rank 1)."""
    ranks = np.zeros((n, 28, 20), np.uint8)
    ranks[:, :, 9:] = 2
    ranks[:, :4, :9] = 1
    return ranks


# ---- configuration and layout ----------------------------------------------------------------
def test_config_follows_the_generator_and_its_file_form_round_trips(gen):
    cfg = EncoderConfig.for_generator(gen, **SMALL)
    assert (cfg.resolution, cfg.num_ws, cfg.w_dim) == (32, 8, 32)
    assert cfg.feature_shapes == {4: (16, 16, 16), 6: (8, 32, 32)}  # no F8/F10 in a 32 px generator
    assert all(type(v) is int for s in cfg.feature_shapes.values() for v in s)
    assert (cfg.base_channels, cfg.max_channels, cfg.hidden) == (8, 64, 16)
    d = cfg.to_dict()
    assert d["feature_shapes"] == {"4": [16, 16, 16], "6": [8, 32, 32]}  # JSON-ready: string keys, lists
    assert (d["resolution"], d["num_ws"], d["w_dim"], d["hidden"]) == (32, 8, 32, 16)
    text = json.dumps(d)
    back = EncoderConfig.from_dict(json.loads(text))
    assert back == cfg and back.feature_shapes[4] == (16, 16, 16)
    assert json.loads(text) == d and d["feature_shapes"] == {"4": [16, 16, 16], "6": [8, 32, 32]}  # not changed
    assert EncoderConfig.for_generator(gen).base_channels == 24  # defaults when not given
    small = Generator(dataclasses.replace(TINY, resolution=16))
    assert EncoderConfig.for_generator(small).feature_shapes == {4: tuple(small.feature_shape(4))}


def test_channels_double_per_level_up_to_the_cap():
    cfg = EncoderConfig(resolution=256, num_ws=14, w_dim=8, feature_shapes={})
    assert [cfg.channels(r) for r in (256, 128, 64, 32, 4)] == [24, 48, 96, 96, 96]
    cfg = EncoderConfig(resolution=64, num_ws=10, w_dim=8, feature_shapes={}, base_channels=5, max_channels=30)
    assert [cfg.channels(r) for r in (64, 32, 16, 8)] == [5, 10, 20, 30]


def test_layout_of_a_small_encoder(gen):
    enc = SAMEncoder(EncoderConfig.for_generator(gen, **SMALL))
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert shapes["stem.weight"] == (8, 3 + 5, 3, 3)  # image + five-channel map
    assert list(enc.levels) == ["16", "8", "4"] and enc.resolutions == [16, 8, 4]
    for r, cin, cout in ((16, 8, 16), (8, 16, 32), (4, 32, 64)):
        assert shapes[f"levels.{r}.conv1.weight"] == (cout, cin, 3, 3)
        assert shapes[f"levels.{r}.conv2.weight"] == (cout, cout, 3, 3)
        assert shapes[f"levels.{r}.skip.weight"] == (cout, cin, 1, 1)
        assert shapes[f"levels.{r}.norm.weight"] == (cout,)
    assert shapes["w_head.0.weight"] == (16, 64 * 4 * 4 + 16 + 32)  # 4×4 level flat + pooled 16² and 8²
    assert shapes["w_head.2.weight"] == (8 * 32, 16)
    assert shapes["f_heads.4.0.weight"] == (21, 21, 3, 3) and shapes["f_heads.4.2.weight"] == (16, 21, 3, 3)
    assert shapes["f_heads.6.0.weight"] == (13, 13, 3, 3) and shapes["f_heads.6.2.weight"] == (8, 13, 3, 3)
    assert shapes["w_avg"] == (32,) and not enc.w_avg.any()  # no w_avg given: zeros
    assert parameter_count(enc) == sum(v.numel() for k, v in enc.state_dict().items() if k != "w_avg")
    cfg = dataclasses.replace(enc.cfg, feature_shapes={6: (8, 32, 32), 4: (16, 16, 16)})
    assert feature_indices(SAMEncoder(cfg)) == [4, 6]


def test_untrained_encoder_gives_w_avg_and_no_feature_change(gen):
    source = gen.mapping.w_avg.double().clone().requires_grad_(True)
    enc = SAMEncoder(EncoderConfig.for_generator(gen, **SMALL), w_avg=source)
    with torch.no_grad():
        source.add_(1.0)  # the encoder keeps its own float32 copy
    assert enc.w_avg.dtype == torch.float32 and not enc.w_avg.requires_grad
    x, ranks = _images(2, (32, 32), 3), np.random.default_rng(0).integers(0, 5, (2, 32, 32))
    w_plus, delta = enc(x, _onehot(ranks))
    assert torch.equal(w_plus, gen.mapping.w_avg.float().expand(2, 8, 32))
    assert set(delta) == {4, 6}
    assert delta[4].shape == (2, 16, 16, 16) and delta[6].shape == (2, 8, 32, 32)
    assert not delta[4].any() and not delta[6].any()


def test_forward_matches_a_functional_reference(gen):
    enc = _random_encoder(gen)
    x = _images(2, (32, 32), 4)
    ranks = np.random.default_rng(1).integers(0, 5, (2, 32, 32))  # not aligned to 2×2 blocks: area ≠ nearest
    onehot = _onehot(ranks)
    with torch.no_grad():
        w_plus, delta = enc(x, onehot)
        want_w, want_delta = _reference(dict(enc.state_dict()), x, onehot)
    torch.testing.assert_close(w_plus, want_w, rtol=1e-4, atol=1e-5)
    assert set(delta) == {4, 6}
    for i in (4, 6):
        torch.testing.assert_close(delta[i], want_delta[i], rtol=1e-4, atol=1e-5)
    assert float(delta[4].abs().mean()) > 1e-3 and float((w_plus - enc.w_avg).abs().mean()) > 1e-3  # not trivial


@pytest.mark.parametrize("x_shape, channels", [((1, 3, 16, 16), 5), ((1, 3, 32, 16), 5), ((1, 4, 32, 32), 5),
                                               ((1, 3, 32, 32), 4)])  # fmt: skip
def test_forward_refuses_inputs_of_another_shape(gen, x_shape, channels):
    enc = SAMEncoder(EncoderConfig.for_generator(gen, **SMALL))
    with pytest.raises(ValueError, match=r"^encoder input must be \(N, 3, 32, 32\) \+ a 5-channel map$"):
        enc(torch.zeros(x_shape), torch.zeros(1, channels, *x_shape[-2:]))
    w_plus, _ = enc(torch.zeros(1, 3, 32, 32), torch.zeros(1, 5, 32, 32))
    assert w_plus.shape == (1, 8, 32)


# ---- maps and frames -------------------------------------------------------------------------
def test_onehot_map_by_hand():
    ranks = np.array([[0, 1], [4, 9]])  # 9 is past F10: clamped to it
    oh = onehot_map(ranks, 4)
    assert oh.shape == (1, 5, 4, 4) and oh.dtype == torch.float32
    want = torch.zeros(1, 5, 4, 4)
    for (a, b), k in {(0, 0): 0, (0, 1): 1, (1, 0): 4, (1, 1): 4}.items():
        want[0, k, 2 * a : 2 * a + 2, 2 * b : 2 * b + 2] = 1  # nearest: each rank fills its 2×2 block
    assert torch.equal(oh, want)
    below = onehot_map(torch.tensor([[[-3, 2], [3, 0]]]), 2)  # already at size, a negative rank is W+
    assert torch.equal(below[0].argmax(0), torch.tensor([[0, 2], [3, 0]]))
    assert torch.equal(below.sum(1), torch.ones(1, 2, 2))
    assert onehot_map(ranks, 4, device="meta").device.type == "meta"  # made where asked (the encoder's device)
    batch = onehot_map(np.stack([np.full((8, 8), 1), np.full((8, 8), 3)]), 4)
    assert batch.shape == (2, 5, 4, 4) and batch[0, 1].all() and batch[1, 3].all() and batch.sum() == 2 * 16


def test_frame_and_ranks_of_a_cropped_generator_by_hand(cropped):
    x = _images(2, (28, 20), 5).double()
    frame = _to_frame(cropped, x)
    assert frame.shape == (2, 3, 32, 32) and frame.dtype == torch.float32
    assert torch.equal(frame[:, :, 2:30, 6:26], x.float())
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[2:30, 6:26] = True
    assert not frame[:, :, ~inside].any()  # the padding is 0 (mid grey)
    ranks = _crop_ranks()
    full = _ranks_in_frame(cropped, ranks)
    assert full.shape == (2, 32, 32) and full.dtype == np.uint8
    assert np.array_equal(full[:, 2:30, 6:26], ranks) and not full[:, ~inside.numpy()].any()  # padding is W+


@pytest.mark.parametrize("crop", [CROP, (0, 12, 28, 20)])  # centred, and off-centre on both axes
def test_frame_places_the_output_where_the_generator_renders_it(crop):
    """The generator's output is its frame's crop rows/columns (crop_output): the frame the encoder
    reads, and its map, must put the image there, and the Δf_i a map asks for must land on m_i."""
    G = _gen(crop)
    x, ranks = _images(2, (28, 20), 17), _crop_ranks()
    frame = _to_frame(G, x)
    assert torch.equal(G.crop_output(frame), x)
    assert float(frame.abs().sum()) == pytest.approx(float(x.abs().sum()), rel=1e-6)  # nothing else but zeros
    full = torch.from_numpy(_ranks_in_frame(G, ranks)[:, None])
    assert torch.equal(G.crop_output(full)[:, 0], torch.from_numpy(ranks)) and int(full.sum()) == int(ranks.sum())
    phi = encode(_hand_set(G, torch.zeros(8, 32)), G, x, ranks)  # Δf6[:, 2] = the F6 part of the map
    torch.testing.assert_close(phi.delta_f[6][:, 2], phi.masks[6][:, 0], atol=1e-5, rtol=0)


def test_frame_of_a_square_generator_is_the_image(gen):
    x = _images(1, (32, 32), 6)
    assert torch.equal(_to_frame(gen, x), x)
    ranks = np.random.default_rng(2).integers(0, 5, (1, 32, 32)).astype(np.uint8)
    assert np.array_equal(_ranks_in_frame(gen, ranks), ranks)
    with pytest.raises(ValueError, match="the generator makes"):
        _to_frame(gen, _images(1, (28, 20), 6))


# ---- encode: what feeds the inversion --------------------------------------------------------
def _hand_set(G: Generator, bias: torch.Tensor) -> SAMEncoder:
    """w+ = w_avg + bias for any image; Δf_i[:, k] = the area fraction of rank k on F_i's grid
    (k = 0…4, the map channels the head reads after the backbone's), Δf_i[:, 5:] = 0."""
    enc = SAMEncoder(EncoderConfig.for_generator(G, **SMALL), w_avg=G.mapping.w_avg)
    with torch.no_grad():
        enc.w_head[2].bias.copy_(bias.reshape(-1))
        for head in enc.f_heads.values():
            cin = head[0].in_channels
            head[0].weight.zero_()
            head[0].bias.zero_()
            head[2].weight.zero_()
            for k in range(5):
                head[0].weight[cin - 5 + k, cin - 5 + k, 1, 1] = 1.0
                head[2].weight[k, cin - 5 + k, 1, 1] = 1.0
    return enc.eval()


def test_encode_on_a_cropped_generator_feeds_the_frame_and_map(cropped):
    G = cropped
    bias = torch.randn(8, 32, generator=torch.Generator().manual_seed(7))
    enc = _hand_set(G, bias)
    x, ranks = _images(2, (28, 20), 8).double(), _crop_ranks()
    phi = encode(enc, G, x, ranks)
    assert torch.allclose(phi.w_plus, G.mapping.w_avg + bias.expand(2, 8, 32), atol=1e-6)  # the w_avg offset
    assert set(phi.delta_f) == set(phi.masks) == {4, 6}
    frame_ranks = np.zeros((2, 32, 32), np.int64)
    frame_ranks[:, 2:30, 6:26] = ranks  # the padding is W+
    fractions = {6: _onehot(frame_ranks), 4: F.avg_pool2d(_onehot(frame_ranks), 2)}
    for i, want in fractions.items():
        assert torch.allclose(phi.delta_f[i][:, :5], want, atol=1e-6) and not phi.delta_f[i][:, 5:].any()
    assert torch.all(phi.delta_f[4][:, 2, 1:15, 7] == 0.5)  # F6 starts at frame column 15: half of the 14–15 cell
    want_masks = lm.feature_masks(G, ranks)
    for i in (4, 6):
        assert torch.equal(phi.masks[i], want_masks[i])
    assert phi.rank_map.dtype == torch.uint8 and torch.equal(phi.rank_map, torch.from_numpy(ranks))
    assert phi.metadata == {"method": "sam", "init": "encoder", "steps": 0}
    rnd = _random_encoder(G)  # the image, padded to the frame, is what the encoder reads
    frame = torch.zeros(2, 3, 32, 32)
    frame[:, :, 2:30, 6:26] = x.float()
    with torch.no_grad():
        want_w, want_delta = rnd(frame, _onehot(frame_ranks))
    got = encode(rnd, G, x, ranks)
    torch.testing.assert_close(got.w_plus, want_w)
    torch.testing.assert_close(got.delta_f[6], want_delta[6])
    assert not got.w_plus.requires_grad  # one forward pass, no graph kept


def test_encode_without_a_map_is_the_plain_w_plus_encoder(cropped):
    G = cropped
    enc = _hand_set(G, torch.zeros(8, 32))
    phi = encode(enc, G, _images(3, (28, 20), 9))
    assert phi.delta_f == {} and phi.masks == {}
    assert phi.rank_map.shape == (3, 28, 20) and phi.rank_map.dtype == torch.uint8 and not phi.rank_map.any()
    assert phi.metadata == {"method": "wplus", "init": "encoder", "steps": 0}
    assert torch.allclose(phi.w_plus, G.mapping.w_avg.expand(3, 8, 32))
    # the map the encoder saw was all W+: its F6 head reads rank 0 everywhere
    with torch.no_grad():
        _, delta = enc(_to_frame(G, _images(3, (28, 20), 9)), onehot_map(np.zeros((3, 32, 32), np.uint8), 32))
    assert delta[6][:, 0].all() and not delta[6][:, 1:].any()


def test_encode_resizes_a_map_of_another_size_to_the_output(cropped):
    """A 14×10 map for the 28×20 output: nearest ×2, i.e. each rank repeated over a 2×2 block."""
    half = np.zeros((14, 10), np.uint8)
    half[:, 5:] = 2
    half[:3, :2] = 1
    phi = encode(_hand_set(cropped, torch.zeros(8, 32)), cropped, _images(2, (28, 20), 15), half)
    want = np.repeat(np.repeat(half, 2, 0), 2, 1)
    assert phi.rank_map.shape == (2, 28, 20) and np.array_equal(phi.rank_map.numpy(), np.stack([want, want]))
    assert torch.equal(phi.masks[6], lm.feature_masks(cropped, np.stack([want, want]))[6])


def test_encode_runs_on_the_encoders_device():
    """Generator and encoder on another device (the "meta" stand-in for a GPU), images on the CPU:
    the map and the masks are made there too (a map left on the CPU could not be concatenated)."""
    G = _gen(CROP).to("meta")
    enc = SAMEncoder(EncoderConfig.for_generator(G, **SMALL)).to("meta")
    phi = encode(enc, G, _images(2, (28, 20), 16), _crop_ranks())
    assert phi.w_plus.device.type == "meta" and phi.w_plus.shape == (2, 8, 32)
    assert {i: (d.device.type, tuple(d.shape)) for i, d in phi.delta_f.items()} == {
        4: ("meta", (2, 16, 16, 16)), 6: ("meta", (2, 8, 32, 32))}  # fmt: skip
    assert all(m.device.type == "meta" for m in phi.masks.values())


def test_encode_keeps_only_the_spaces_the_encoder_has(gen):
    """A map asking for F4 with an encoder that has only an F6 head: no Δf4 and no m4 in φ̂."""
    cfg = dataclasses.replace(EncoderConfig.for_generator(gen, **SMALL), feature_shapes={6: (8, 32, 32)})
    enc = SAMEncoder(cfg, w_avg=gen.mapping.w_avg)
    ranks = np.zeros((1, 32, 32), np.uint8)
    ranks[:, :8] = 1
    ranks[:, 8:16] = 2
    phi = encode(enc, gen, _images(1, (32, 32), 10), ranks)
    assert set(phi.delta_f) == set(phi.masks) == {6}
    only_f4 = encode(enc, gen, _images(1, (32, 32), 10), np.where(ranks == 2, 0, ranks))
    assert only_f4.delta_f == {} and only_f4.masks == {}


def test_encoder_start_feeds_the_inversion(gen):
    enc = _hand_set(gen, 0.3 * torch.randn(8, 32, generator=torch.Generator().manual_seed(11)))
    x = _images(1, (32, 32), 12)
    ranks = np.zeros((1, 32, 32), np.uint8)
    ranks[:, :, 20:] = 2
    phi = encode(enc, gen, x, ranks)
    res = invert(gen, x, "sam", ranks, InversionSettings(steps=0, optimise_size=None), init_phi=phi, perceptual=None)
    assert res.phi.metadata["init"] == "encoder"
    torch.testing.assert_close(res.phi.w_plus, phi.w_plus)
    torch.testing.assert_close(res.phi.delta_f[6], phi.delta_f[6])


# ---- e4e through the same entry points -------------------------------------------------------
def test_e4e_encoder_gives_w_plus_only(gen, tmp_path):
    torch.save(make_checkpoint(8, 32, (32, 32)), tmp_path / "e4e.pt")
    e4e = load_encoder(tmp_path / "e4e.pt", G=gen)
    assert isinstance(e4e, E4EEncoder) and not e4e.training
    x = _images(2, (32, 32), 13).double()
    ranks = np.zeros((2, 32, 32), np.uint8)
    ranks[:, 16:] = 2
    phi = encode(e4e, gen, x, ranks)
    torch.testing.assert_close(phi.w_plus, e4e.w_plus(x.float()))
    assert phi.delta_f == {} and phi.masks == {}
    assert torch.equal(phi.rank_map, torch.from_numpy(ranks))
    assert phi.metadata == {"method": "sam", "init": "e4e", "steps": 0}
    plain = encode(e4e, gen, x)
    assert plain.metadata == {"method": "wplus", "init": "e4e", "steps": 0} and not plain.rank_map.any()
    assert plain.rank_map.shape == (2, 32, 32) and plain.rank_map.dtype == torch.uint8


def test_e4e_files_load_for_the_generators_size_and_refuse_another(cropped, gen, tmp_path):
    torch.save(make_checkpoint(8, 32, (32, 32)), tmp_path / "e4e.pt")
    assert load_encoder(tmp_path / "e4e.pt", G=cropped).input_size == (28, 20)  # the generator's output size
    assert load_encoder(tmp_path / "e4e.pt").input_size == (32, 32)  # without one: its StyleGAN's size
    assert next(load_encoder(tmp_path / "e4e.pt", device="meta").parameters()).device.type == "meta"
    torch.save(make_checkpoint(8, 16, (32, 32)), tmp_path / "narrow.pt")
    with pytest.raises(EncoderError) as err:
        load_encoder(tmp_path / "narrow.pt", G=gen)
    assert str(err.value) == "narrow.pt encodes 8×16 w+ (a 32 px StyleGAN2); this generator has 8×32"
    torch.save(make_checkpoint(10, 32, (64, 64), stylegan_size=64), tmp_path / "e4e64.pt")
    with pytest.raises(EncoderError) as err:
        load_encoder(tmp_path / "e4e64.pt", G=gen)
    assert str(err.value) == "e4e64.pt encodes 10×32 w+ (a 64 px StyleGAN2); this generator has 8×32"
    good = make_checkpoint(8, 32, (32, 32))
    torch.save({**good, "state_dict": {k: v for k, v in good["state_dict"].items() if not k.startswith("encoder.")}},
               tmp_path / "no_enc.pt")  # fmt: skip
    with pytest.raises(EncoderError) as err:
        load_encoder(tmp_path / "no_enc.pt", G=gen)
    assert str(err.value) == "no_enc.pt: the state dict has no 'encoder.*' weights"


# ---- files -----------------------------------------------------------------------------------
def test_save_writes_half_precision_and_loads_back_exactly_that(gen, tmp_path):
    enc = _random_encoder(gen)
    path = save_encoder(enc, str(tmp_path / "sub" / "encoder.pt"), {"steps": 3})
    assert path == tmp_path / "sub" / "encoder.pt" and isinstance(path, type(tmp_path))
    assert [p.name for p in path.parent.iterdir()] == ["encoder.pt"]  # no temporary left
    blob = torch.load(path, map_location="cpu", weights_only=True)
    assert set(blob) == {"format", "config", "state_dict", "metadata"}
    assert blob["format"] == "sam-editor-encoder-v1" and blob["metadata"] == {"steps": 3}
    assert blob["config"] == enc.cfg.to_dict()
    assert set(blob["state_dict"]) == set(enc.state_dict())
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values())
    back = load_encoder(path, G=gen)
    assert isinstance(back, SAMEncoder) and not back.training and back.metadata == {"steps": 3}
    assert back.cfg == enc.cfg
    for k, v in enc.state_dict().items():
        got = back.state_dict()[k]
        assert got.dtype == torch.float32 and torch.equal(got, v.half().float()), k
    assert back.w_avg.device.type == "cpu"
    assert load_encoder(path, device="meta").w_avg.device.type == "meta"


def test_save_in_full_precision_round_trips_exactly(gen, tmp_path):
    enc = _random_encoder(gen, seed=2)
    enc.register_buffer("seen", torch.tensor(7))  # a counter: not a float, never halved
    save_encoder(enc, tmp_path / "half.pt")
    blob = torch.load(tmp_path / "half.pt", weights_only=True)
    assert blob["metadata"] == {} and blob["state_dict"]["seen"].dtype == torch.int64
    assert blob["state_dict"]["w_avg"].dtype == torch.float16
    del enc._buffers["seen"]
    save_encoder(enc, tmp_path / "full.pt", half=False)
    blob = torch.load(tmp_path / "full.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in blob["state_dict"].values())
    back = load_encoder(tmp_path / "full.pt")
    for k, v in enc.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    x = _images(1, (32, 32), 14)
    ranks = np.zeros((1, 32, 32), np.uint8)
    ranks[:, 5:] = 1
    a, b = encode(enc, gen, x, ranks), encode(back, gen, x, ranks)
    assert torch.equal(a.w_plus, b.w_plus) and torch.equal(a.delta_f[4], b.delta_f[4])


def _blob(enc: SAMEncoder, tmp_path) -> dict:
    save_encoder(enc, tmp_path / "good.pt", {"steps": 1})
    return torch.load(tmp_path / "good.pt", weights_only=True)


def _refusal(tmp_path, name: str, blob, G=None) -> str:
    torch.save(blob, tmp_path / name)
    with pytest.raises(EncoderError) as err:
        load_encoder(tmp_path / name, G=G)
    return str(err.value)


def test_refusals_of_files_that_are_not_encoders(tmp_path, gen):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EncoderError, match=r"^“junk.pt” is not a readable encoder \(damaged"):
        load_encoder(tmp_path / "junk.pt")
    with pytest.raises(EncoderError, match=r"^“absent.pt”: no such file$"):
        load_encoder(tmp_path / "absent.pt")
    assert _refusal(tmp_path, "list.pt", [1, 2]) == "list.pt is not a SAM Editor encoder (format None)"
    assert _refusal(tmp_path, "other.pt", {"format": "x"}) == "other.pt is not a SAM Editor encoder (format 'x')"
    no_format = {k: v for k, v in _blob(SAMEncoder(EncoderConfig.for_generator(gen, **SMALL)), tmp_path).items()
                 if k != "format"}  # fmt: skip
    assert _refusal(tmp_path, "nf.pt", no_format) == "nf.pt is not a SAM Editor encoder (format None)"


def test_refusals_of_a_damaged_config(tmp_path, gen):
    good = _blob(SAMEncoder(EncoderConfig.for_generator(gen, **SMALL)), tmp_path)
    cfg = good["config"]
    head = "cfg.pt: a damaged SAM Editor encoder (its config: "
    cases = {
        "KeyError: 'config'": {k: v for k, v in good.items() if k != "config"},
        "AttributeError: 'str' object has no attribute 'items'": {**good, "config": {**cfg, "feature_shapes": "abc"}},
        "TypeError: EncoderConfig.__init__() got an unexpected keyword argument 'depth'": {
            **good, "config": {**cfg, "depth": 3}},
    }  # fmt: skip
    for inner, blob in cases.items():
        assert _refusal(tmp_path, "cfg.pt", blob) == head + inner + ")"
    long = {**good, "config": {**cfg, "feature_shapes": {"4": ["x" * 400, 1, 1]}}}
    msg = _refusal(tmp_path, "cfg.pt", long)
    inner = "ValueError: " + str(ValueError(f"invalid literal for int() with base 10: '{'x' * 400}'"))[:160]
    assert msg == head + inner + ")"  # the inner reason is cut at 160 characters


def test_refusals_of_another_generator(tmp_path, gen):
    good = _blob(SAMEncoder(EncoderConfig.for_generator(gen, **SMALL)), tmp_path)
    torch.manual_seed(0)
    big = Generator(dataclasses.replace(TINY, resolution=64))
    msg = _refusal(tmp_path, "e.pt", good, G=big)
    assert msg == "the encoder was trained for a 32 px generator with 8×32 w+, this generator is 64 px with 10×32"
    narrow = Generator(dataclasses.replace(TINY, w_dim=16))
    assert _refusal(tmp_path, "e.pt", good, G=narrow).endswith("with 8×32 w+, this generator is 32 px with 8×16")
    rows = {**good, "config": {**good["config"], "num_ws": 9}}
    assert _refusal(tmp_path, "e.pt", rows, G=gen).endswith("with 9×32 w+, this generator is 32 px with 8×32")
    assert isinstance(load_encoder(tmp_path / "good.pt", G=gen), SAMEncoder)


def test_refusals_of_weights_that_do_not_fit(tmp_path, gen):
    good = _blob(SAMEncoder(EncoderConfig.for_generator(gen, **SMALL)), tmp_path)
    head = "w.pt: encoder weights do not match their config ("
    cases = {
        "KeyError: 'state_dict'": {k: v for k, v in good.items() if k != "state_dict"},
        "AttributeError: 'list' object has no attribute 'items'": {**good, "state_dict": [1]},
        "TypeError: 'int' object is not iterable": {**good, "metadata": 5},
    }
    for inner, blob in cases.items():
        assert _refusal(tmp_path, "w.pt", blob) == head + inner + ")"
    msg = _refusal(tmp_path, "w.pt", {**good, "config": {**good["config"], "hidden": 17}})
    assert msg.startswith(head + "RuntimeError: Error(s) in loading state_dict for SAMEncoder")
    assert len(msg) == len(head + "RuntimeError: ") + 160 + 1  # the inner reason cut at 160 characters
    back = load_encoder(tmp_path / "good.pt")  # a file without metadata is fine
    torch.save({k: v for k, v in good.items() if k != "metadata"}, tmp_path / "bare.pt")
    assert load_encoder(tmp_path / "bare.pt").metadata == {} and back.metadata == {"steps": 1}
