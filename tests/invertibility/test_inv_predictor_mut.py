"""TinyInvertibilityNet's backbone as its docstring describes it (issue 36, mutation testing of
invertibility/predictor.py): stride-2 convs to 1/8 resolution, then two dilated convs (2, 4) that keep
the size — strides and dilations do not change the weights' shapes, so the strict loading of the shipped
demo predictor cannot tell them."""

from __future__ import annotations

import torch
from torch import nn

from sam_editor.invertibility.predictor import TinyInvertibilityNet


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
