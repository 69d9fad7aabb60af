"""The official SAM predictor's layout (DeepLabV3+ on ResNet-101, output stride 16, and its head) pinned
layer by layer from a whole-module mutation run of invertibility/predictor.py (issue 36).

Expectations are written by hand from the official DeepLabV3+ layout (the module docstrings): stem
7×7/2 conv + 3×3/2 max-pool, ResNet-101 blocks (3, 4, 23, 3), layer4 multi-grid dilations (2, 4, 8),
ASPP rates 1/6/12/18 + image pooling, a 48-channel low-level projection and two 3×3 convs (padding 1)
in the decoder, bilinear align_corners=True upsampling to the input size. Tiny `blocks=` keep it fast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sam_editor.invertibility.predictor import (
    _ASPP,
    DeepLabV3PlusBase,
    OfficialSAMPredictor,
    _ResNet101OS16,
    load_official_predictor,
)
from sam_editor.util import UnreadableFile

SPACE_KEYS = ("W+", "F4", "F6", "F8", "F10")  # the official checkpoint's head keys


@pytest.fixture(scope="module")
def meta_model() -> OfficialSAMPredictor:
    with torch.device("meta"):
        return OfficialSAMPredictor(blocks=(1, 1, 1))


def _conv(m: nn.Conv2d) -> tuple:
    return (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation)


def test_stem_and_aspp_and_decoder_convolutions_match_the_official_table(meta_model: OfficialSAMPredictor) -> None:
    base = meta_model.base
    # (in, out, kernel, stride, padding, dilation), written from the DeepLabV3+ (OS 16) layout
    expected = {
        "backbone.conv1": (3, 64, (7, 7), (2, 2), (3, 3), (1, 1)),
        "aspp.aspp1.atrous_conv": (2048, 256, (1, 1), (1, 1), (0, 0), (1, 1)),
        "aspp.aspp2.atrous_conv": (2048, 256, (3, 3), (1, 1), (6, 6), (6, 6)),
        "aspp.aspp3.atrous_conv": (2048, 256, (3, 3), (1, 1), (12, 12), (12, 12)),
        "aspp.aspp4.atrous_conv": (2048, 256, (3, 3), (1, 1), (18, 18), (18, 18)),
        "aspp.global_avg_pool.1": (2048, 256, (1, 1), (1, 1), (0, 0), (1, 1)),
        "aspp.conv1": (1280, 256, (1, 1), (1, 1), (0, 0), (1, 1)),
        "decoder.conv1": (256, 48, (1, 1), (1, 1), (0, 0), (1, 1)),
        "decoder.last_conv.0": (304, 256, (3, 3), (1, 1), (1, 1), (1, 1)),
        "decoder.last_conv.4": (256, 256, (3, 3), (1, 1), (1, 1), (1, 1)),
        "decoder.last_conv.8": (256, 8, (1, 1), (1, 1), (0, 0), (1, 1)),
    }
    got = {name: _conv(m) for name, m in base.named_modules() if name in expected}
    assert got == expected
    mp = base.backbone.maxpool
    assert (mp.kernel_size, mp.stride, mp.padding) == (3, 2, 1)


def test_aspp_image_pooling_is_global_avg_conv_bn_relu(meta_model: OfficialSAMPredictor) -> None:
    gap = meta_model.base.aspp.global_avg_pool
    assert [type(m) for m in gap] == [nn.AdaptiveAvgPool2d, nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert gap[0].output_size == 1


def test_aspp_image_pooling_output_is_spatially_constant() -> None:
    torch.manual_seed(0)
    aspp = _ASPP(16).eval()  # a small cin: the layout is the same for any input width
    x = torch.randn(1, 16, 5, 7)
    pooled = aspp.global_avg_pool(x)
    assert pooled.shape == (1, 256, 1, 1)  # one global average per channel, then broadcast
    assert (pooled >= 0).all()  # ends in a ReLU


def test_blocks_argument_reaches_the_backbone(meta_model: OfficialSAMPredictor) -> None:
    bb = meta_model.base.backbone
    assert [len(bb.layer1), len(bb.layer2), len(bb.layer3), len(bb.layer4)] == [1, 1, 1, 3]
    with torch.device("meta"):
        full = OfficialSAMPredictor()
    fb = full.base.backbone
    assert [len(fb.layer1), len(fb.layer2), len(fb.layer3), len(fb.layer4)] == [3, 4, 23, 3]  # ResNet-101


def test_layer_builder_adds_a_projection_only_when_stride_or_width_change() -> None:
    with torch.device("meta"):
        bb = _ResNet101OS16(blocks=(1, 1, 1))
    bb._inplanes = 256  # width already 4·64: stride 1 needs no projection (torchvision's rule)
    same = bb._layer(64, [1, 1], stride=1)
    assert same[0].downsample is None and same[1].downsample is None
    bb._inplanes = 256  # same width but stride 2: a 1×1 stride-2 projection
    strided = bb._layer(64, [1], stride=2)
    proj = strided[0].downsample[0]
    assert _conv(proj) == (256, 256, (1, 1), (2, 2), (0, 0), (1, 1))
    x = torch.randn(1, 256, 6, 6)
    with torch.device("cpu"):
        bb2 = _ResNet101OS16(blocks=(1, 1, 1))
        bb2._inplanes = 256
        layer = bb2._layer(64, [1], stride=1).eval()
    assert layer(x).shape == (1, 256, 6, 6)  # identity shortcut used as is


@pytest.fixture(scope="module")
def tiny_cpu() -> OfficialSAMPredictor:
    torch.manual_seed(0)
    model = OfficialSAMPredictor(blocks=(1, 1, 1)).eval()
    for m in model.modules():  # non-trivial BN statistics so that nothing collapses to a constant
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


def test_stage_shapes_and_align_corners_of_the_final_upsampling(tiny_cpu: OfficialSAMPredictor) -> None:
    torch.manual_seed(1)
    x = torch.randn(1, 3, 64, 48)
    base = tiny_cpu.base
    with torch.no_grad():
        deep, low = base.backbone(x)
        assert deep.shape == (1, 2048, 4, 3)  # output stride 16
        assert low.shape == (1, 256, 16, 12)  # layer1, stride 4
        a = base.aspp(deep)
        assert a.shape == (1, 256, 4, 3)
        y = base.decoder(a, low)
        assert y.shape == (1, 8, 16, 12)
        out = base(x)
        ref = F.interpolate(y, size=(64, 48), mode="bilinear", align_corners=True)
    assert out.shape == (1, 8, 64, 48)
    torch.testing.assert_close(out, ref)
    assert not torch.allclose(ref, F.interpolate(y, size=(64, 48), mode="bilinear", align_corners=False))


def _official_checkpoint(model: OfficialSAMPredictor) -> dict:
    ckpt = {"sd_base": {f"module.{k}": v.clone() for k, v in model.base.state_dict().items()}}
    for key, name in zip(SPACE_KEYS, ("W_PLUS", "F4", "F6", "F8", "F10")):
        ckpt[key] = {k: v.clone() for k, v in model.heads[name].state_dict().items()}
    return ckpt


def test_load_official_state_is_strict_for_the_heads(tiny_cpu: OfficialSAMPredictor) -> None:
    ckpt = _official_checkpoint(tiny_cpu)
    fresh = OfficialSAMPredictor(blocks=(1, 1, 1))
    fresh.load_official_state(ckpt)  # the official key names load
    assert torch.equal(fresh.heads["F10"].m[0].weight, tiny_cpu.heads["F10"].m[0].weight)
    ckpt["F6"]["m.9.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="m.9.weight"):
        fresh.load_official_state(ckpt)
    ckpt = _official_checkpoint(tiny_cpu)
    del ckpt["W+"]["m.3.bias"]
    with pytest.raises(RuntimeError, match="m.3.bias"):
        fresh.load_official_state(ckpt)


def test_load_official_state_messages(meta_model: OfficialSAMPredictor) -> None:
    with pytest.raises(KeyError, match="not an official SAM invertibility checkpoint: no 'sd_base' entry"):
        meta_model.load_official_state({"W+": {}})
    with pytest.raises(KeyError, match=r"official checkpoint has no head for latent space 'F8'"):
        meta_model.load_official_state({"sd_base": {}, "W+": {}, "F4": {}, "F6": {}, "F10": {}})


def test_load_official_predictor_names_the_file_a_predictor(tmp_path) -> None:
    with pytest.raises(UnreadableFile, match="is a folder, not a predictor$"):
        load_official_predictor(tmp_path)
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a torch file at all")
    with pytest.raises(UnreadableFile, match="is not a readable predictor "):
        load_official_predictor(bad)


def test_aspp_image_pooling_is_broadcast_exactly() -> None:
    """Upsampling the 1×1 image-pooling map with align_corners=True (as the official code) is an exact
    broadcast; align_corners=False mixes v·w + v·(1-w) and leaves 1-ulp ripples in the ASPP input."""
    torch.manual_seed(2)
    aspp = _ASPP(16).eval()
    x = torch.randn(1, 16, 6, 5)
    with torch.no_grad():
        pooled = aspp.global_avg_pool(x).expand(-1, -1, 6, 5)
        y = torch.cat([aspp.aspp1(x), aspp.aspp2(x), aspp.aspp3(x), aspp.aspp4(x), pooled], 1)
        expected = F.relu(aspp.bn1(aspp.conv1(y)))
        assert torch.equal(aspp(x), expected)
