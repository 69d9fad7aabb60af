"""TinyInvertibilityNet's backbone as its docstring describes it (issue 36, mutation testing of
invertibility/predictor.py): stride-2 convs to 1/8 resolution, then two dilated convs (2, 4) that keep
the size — strides and dilations do not change the weights' shapes, so the strict loading of the shipped
demo predictor cannot tell them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sam_editor.invertibility.predictor import TinyInvertibilityNet, load_predictor

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
    with pytest.raises(ValueError) as err:
        load_predictor(path, spaces=("Z+", "F2"))
    assert str(err.value) == (
        "invertibility_cars_sg2.pt is an official StyleGAN2 predictor (spaces W+, F4, F6, F8, F10); "
        "this generator inverts in Z+, F2"
    )
    broken = dict(ckpt, sd_base={k: v[..., :1] if v.ndim == 4 else v for k, v in ckpt["sd_base"].items()})
    bad = tmp_path / "broken.pt"
    torch.save(broken, bad)
    with pytest.raises(ValueError, match=r"^broken\.pt: not a usable official SAM predictor \(RuntimeError: "):
        load_predictor(bad)
