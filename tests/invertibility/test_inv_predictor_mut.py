"""Predictor layouts and resizes pinned by hand (issue 36, mutation testing of invertibility/predictor.py).

TinyInvertibilityNet's backbone as its docstring describes it: stride-2 convs to 1/8 resolution, then two
dilated convs (2, 4) that keep the size — strides and dilations do not change the weights' shapes, so the
strict loading of the shipped demo predictor cannot tell them. The same holds for the official DeepLabV3+
layout (layer3's dilation, the constructors' defaults that the loader passes explicitly) and for the
align_corners of its two bilinear upsamplings, so those are written out here with hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from sam_editor.invertibility.predictor import (
    _ASPP,
    DeepLabV3PlusBase,
    OfficialHead,
    OfficialSAMPredictor,
    TinyInvertibilityNet,
    _Decoder,
    load_official_predictor,
    load_predictor,
    preprocess,
    save_predictor,
)

from .test_inv_predictor import official_checkpoint  # noqa: F401  (a fixture)


def _convs(module: nn.Module) -> list[tuple[int, int, int, int, int]]:
    """(in, out, stride, dilation, padding) of each Conv2d, in order."""
    return [(m.in_channels, m.out_channels, m.stride[0], m.dilation[0], m.padding[0])
            for m in module.modules() if isinstance(m, nn.Conv2d)]  # fmt: skip


def test_the_tiny_backbone_by_hand():
    net = TinyInvertibilityNet()  # width 16
    assert net.width == 16 and net.config() == {"width": 16, "input_size": [128, 128]}
    assert _convs(net.stem) == [(3, 16, 2, 1, 1)]
    assert _convs(net.down2) == [(16, 32, 2, 1, 1), (32, 32, 1, 1, 1)]
    assert _convs(net.down3) == [(32, 64, 2, 1, 1), (64, 64, 1, 2, 2), (64, 64, 1, 4, 4)]
    assert _convs(net.fuse) == [(96, 32, 1, 1, 1), (32, 32, 1, 1, 1)]
    x = torch.zeros(1, 3, 64, 48)
    s4 = net.down2(net.stem(x))
    assert s4.shape == (1, 32, 16, 12) and net.down3(s4).shape == (1, 64, 8, 6)  # 1/4, then 1/8
    assert net(x).shape == (1, len(net.space_names), 64, 48)


def test_official_predictors_refused_with_their_reasons(official_checkpoint, tmp_path):  # noqa: F811
    """An official file for a generator of other spaces names both; a broken one names its inner error."""
    path, ckpt = official_checkpoint
    with pytest.raises(ValueError) as first:
        load_predictor(path, spaces=("Z+", "F2"))
    assert str(first.value) == (
        "invertibility_cars_sg2.pt is an official StyleGAN2 predictor (spaces W+, F4, F6, F8, F10); "
        "this generator inverts in Z+, F2"
    )
    broken = dict(ckpt, sd_base={k: v[..., :1] if v.ndim == 4 else v for k, v in ckpt["sd_base"].items()})
    bad = tmp_path / "broken.pt"
    torch.save(broken, bad)
    with pytest.raises(ValueError, match=r"^broken\.pt: not a usable official SAM predictor \(RuntimeError: "
                       r"Error\(s\) in loading state_dict for DeepLabV3PlusBase") as err:  # fmt: skip
        load_predictor(bad)  # the inner error's own words: which part of the network did not fit
    inner = str(err.value).split("(RuntimeError: ", 1)[1]
    assert inner.endswith(")") and len(inner) == 200 + 1  # torch's message is longer: its first 200 characters
    loose = dict(ckpt, F8={k: v for k, v in ckpt["F8"].items() if k != "m.1.running_var"})
    torch.save(loose, bad)
    with pytest.raises(ValueError, match=r'Missing key\(s\) in state_dict: "m\.1\.running_var"'):
        load_predictor(bad)  # heads load strictly too
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a PyTorch file")
    with pytest.raises(
        ValueError, match=r"^“junk\.pt” is not a readable predictor \(damaged, or not a PyTorch file\)$"
    ):
        load_predictor(junk)
    with pytest.raises(ValueError, match=r"^“junk\.pt” is not a readable predictor "):
        load_official_predictor(junk)


def test_the_official_loader_names_a_missing_base_and_a_tiny_net_may_keep_the_image_size():
    with torch.device("meta"):
        model = OfficialSAMPredictor()
    with pytest.raises(KeyError, match="^\"not an official SAM invertibility checkpoint: no 'sd_base' entry\"$"):
        model.load_official_state({"W+": {}})
    tiny = TinyInvertibilityNet(4, None)  # input_size None: predict() keeps the image's own size
    assert tiny.input_size is None and tiny.config() == {"width": 4, "input_size": None}


def test_a_tiny_net_needs_one_head_per_distinct_space():
    for spaces in ((), ("F4", "W+", "F4")):
        with pytest.raises(ValueError, match=r"^a predictor needs one head per distinct space, got \["):
            TinyInvertibilityNet(4, (16, 16), spaces)
    assert TinyInvertibilityNet(4, (16, 16), ("Z+", "F2")).space_names == ("Z+", "F2")


def test_preprocess_at_equal_pixel_counts_is_bilinear():
    """Only a smaller pixel count is a shrink (INTER_AREA): 3×9 → 9×3 keeps 27 pixels, so it is bilinear.

    Every row is the same, so the height (3 → 9) only repeats rows; the width 9 → 3 samples the
    source at (j + 0.5)·3 − 0.5 = 1, 4, 7 exactly (half-pixel centres): 30, 90, 150 (an area
    average of each triple, or OpenCV's area path for this mixed scale, gives other values)."""
    row = np.array([0, 30, 0, 0, 90, 0, 0, 150, 0], np.uint8)
    image = np.stack([np.tile(row, (3, 1)), np.tile(row // 3, (3, 1)), np.zeros((3, 9), np.uint8)], -1)  # (3, 9, 3)
    x = preprocess(image, (9, 3))
    assert x.shape == (1, 3, 9, 3)
    expected = torch.tensor([[30.0, 90.0, 150.0], [10.0, 30.0, 50.0], [0.0, 0.0, 0.0]]) / 127.5 - 1  # (3 ch, 3 cols)
    torch.testing.assert_close(x[0], expected[:, None, :].expand(3, 9, 3))


def test_the_official_layout_by_hand():
    """The official DeepLabV3+ base (8 outputs) and its heads (8 → 4 → 1) as the module docstring gives
    them: ResNet-101 at output stride 16 — strides 2 (conv1), 2 (maxpool), 1, 2, 2, 1 (layer1…4),
    no dilation before layer4, multi-grid (2, 4, 8) there (built on the meta device: no weights)."""
    with torch.device("meta"):
        base, head, model, aspp = DeepLabV3PlusBase(), OfficialHead(), OfficialSAMPredictor(), _ASPP()
    assert base.decoder.last_conv[-1].out_channels == 8
    # ASPP reads layer4's 512·4 = 2048 channels: four branches and the image pooling, 5·256 → 256
    branches = [aspp.aspp1, aspp.aspp2, aspp.aspp3, aspp.aspp4]
    assert [(b.atrous_conv.in_channels, b.atrous_conv.dilation[0]) for b in branches] == [
        (2048, 1), (2048, 6), (2048, 12), (2048, 18)]  # fmt: skip
    assert aspp.global_avg_pool[1].in_channels == 2048 and aspp.conv1.in_channels == 1280
    assert [m.in_channels for m in head.m if isinstance(m, nn.ConvTranspose2d)] == [8, 4]
    for m in (base, model.base):
        bb = m.backbone
        assert (bb.conv1.kernel_size, bb.conv1.stride, bb.conv1.padding) == ((7, 7), (2, 2), (3, 3))
        assert (bb.maxpool.kernel_size, bb.maxpool.stride, bb.maxpool.padding) == (3, 2, 1)
        assert [len(bb.layer1), len(bb.layer2), len(bb.layer3), len(bb.layer4)] == [3, 4, 23, 3]
        for layer, stride, dilations in ((bb.layer1, 1, [1] * 3), (bb.layer2, 2, [1] * 4),
                                         (bb.layer3, 2, [1] * 23), (bb.layer4, 1, [2, 4, 8])):  # fmt: skip
            assert [b.conv2.stride[0] for b in layer] == [stride] + [1] * (len(layer) - 1)
            assert [(b.conv2.dilation[0], b.conv2.padding[0]) for b in layer] == [(d, d) for d in dilations]
        assert m.decoder.last_conv[-1].out_channels == 8
    for h in model.heads.values():
        assert type(h) is OfficialHead
        assert [(c.in_channels, c.out_channels) for c in h.m if isinstance(c, nn.ConvTranspose2d)] == [(8, 4), (4, 1)]
    assert list(model.heads) == ["W_PLUS", "F4", "F6", "F8", "F10"]  # LayerSpace order
    with torch.device("meta"):
        small = OfficialSAMPredictor(blocks=(1, 2, 1))  # the block counts reach the ResNet
    assert [len(small.base.backbone.layer1), len(small.base.backbone.layer2), len(small.base.backbone.layer3)] == [
        1,
        2,
        1,
    ]


class _Fixed(nn.Module):
    """A stand-in part: records what it is given and returns a fixed result."""

    def __init__(self, result: object) -> None:
        super().__init__()
        self.result, self.seen = result, None

    def forward(self, *args: torch.Tensor) -> object:
        self.seen = args
        return self.result


def test_the_base_upsamples_its_output_with_aligned_corners():
    """DeepLabV3PlusBase resizes the decoder's 1/4-size maps to the input size with align_corners=True:
    2 → 4 samples the source at 0, 1/3, 2/3, 1, so the row (0, 3) becomes (0, 1, 2, 3), the
    column (0, 6) becomes (0, 2, 4, 6) (half-pixel centres: 0, 0.75, 2.25, 3)."""
    with torch.device("meta"):
        base = DeepLabV3PlusBase(blocks=(1, 1, 1))
    deep, low, feats = torch.zeros(1, 2048, 1, 1), torch.zeros(1, 256, 2, 2), torch.zeros(1, 256, 1, 1)
    y = torch.tensor([[0.0, 3.0], [6.0, 9.0]]).expand(1, 8, 2, 2)  # (1, 8, 2, 2), every map the same
    base.backbone, base.aspp, base.decoder = _Fixed((deep, low)), _Fixed(feats), _Fixed(y)
    out = base(torch.zeros(1, 3, 4, 4))
    assert base.aspp.seen[0] is deep and base.decoder.seen[0] is feats and base.decoder.seen[1] is low
    r = torch.tensor([0.0, 1.0, 2.0, 3.0])
    expected = 2 * r[:, None] + r[None, :]  # bilinear of a bilinear function: exact, (4, 4)
    assert out.shape == (1, 8, 4, 4)
    torch.testing.assert_close(out[0], expected.expand(8, 4, 4))


def test_the_tiny_backbone_upsamples_with_half_pixel_centres():
    """TinyInvertibilityNet brings its 1/8 features to the 1/4 skip's size with align_corners=False:
    2 → 4 samples the source at −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1), so the row
    (0, 4) becomes (0, 1, 3, 4) (aligned corners: 0, 4/3, 8/3, 4)."""
    net = TinyInvertibilityNet(4, (16, 16))  # width 4: s4 has 8 channels, s8 16
    s4 = torch.full((1, 8, 4, 4), 7.0)
    s8 = torch.tensor([0.0, 4.0]).expand(1, 16, 2, 2).clone()  # every row (0, 4)
    net.stem, net.down2, net.down3 = nn.Identity(), _Fixed(s4), _Fixed(s8)
    net.context, net.fuse = _Fixed(torch.ones(1, 16, 1, 1)), nn.Identity()  # context adds 1 everywhere
    f = net.features(torch.zeros(1, 3, 16, 16))
    assert f.shape == (1, 16 + 8, 4, 4) and net.down3.seen[0] is s4 and net.context.seen[0] is s8
    torch.testing.assert_close(f[0, :16], torch.tensor([1.0, 2.0, 4.0, 5.0]).expand(16, 4, 4))
    torch.testing.assert_close(f[0, 16:], s4[0])


def test_the_tiny_net_upsamples_its_maps_with_half_pixel_centres():
    """The heads' 1/4-size maps go to the input size with align_corners=False, then softplus:
    a row (0, 4) at 2 → 4 becomes (0, 1, 3, 4) before softplus(v) = log(1 + e^v)."""
    net = TinyInvertibilityNet(4, (16, 16), ("Z+",))
    maps = torch.tensor([0.0, 4.0]).expand(1, 1, 2, 2).clone()  # (1, 1, 2, 2): every row (0, 4)
    net.features = lambda x: maps  # the backbone's output, fixed
    net.heads = nn.ModuleList([nn.Identity()])
    out = net(torch.zeros(1, 3, 4, 4))
    expected = torch.tensor([math.log(1 + math.exp(v)) for v in (0.0, 1.0, 3.0, 4.0)])
    torch.testing.assert_close(out[0, 0], expected.expand(4, 4))


def test_save_refuses_other_networks_and_the_decoder_keeps_its_size(tmp_path):
    with pytest.raises(TypeError, match=r"^only TinyInvertibilityNet is saved in the sam_editor format$"):
        save_predictor(OfficialHead(), tmp_path / "x.pt")
    dec = _Decoder(8).eval()  # both 3×3 convs are padded: the 1/4 size is kept
    with torch.no_grad():
        assert dec(torch.zeros(1, 256, 2, 2), torch.zeros(1, 256, 8, 6)).shape == (1, 8, 8, 6)


def test_the_decoder_upsamples_with_aligned_corners():
    """The decoder resizes ASPP's 1/16 features to the 1/4 low-level size with align_corners=True
    (the official DeepLab's): 2 → 4 puts the samples at 0, 1/3, 2/3, 1 of the source grid, so the
    row (0, 3) becomes (0, 1, 2, 3) — half-pixel centres would give (0, 0.75, 2.25, 3)."""
    dec = _Decoder(8).eval()
    dec.last_conv = nn.Identity()  # look at the concatenation [upsampled x, low-level projection]
    x = torch.zeros(1, 256, 2, 2)
    x[:, :, :, 1] = 3.0  # each row is (0, 3); every channel the same
    x[:, 7] *= 2  # channel 7: (0, 6)
    with torch.no_grad():
        y = dec(x, torch.randn(1, 256, 4, 4))
    assert y.shape == (1, 256 + 48, 4, 4)
    row = torch.tensor([0.0, 1.0, 2.0, 3.0])
    torch.testing.assert_close(y[0, 0], row.expand(4, 4))
    torch.testing.assert_close(y[0, 7], 2 * row.expand(4, 4))
