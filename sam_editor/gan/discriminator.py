"""StyleGAN2 residual discriminator — only needed to train the demo generator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .ops import FullyConnectedLayer, bias_act, setup_filter, upfirdn2d


class Conv2dLayer(torch.nn.Module):
    """Equalised-lr conv with optional FIR-filtered 2× down-sampling."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, activation: str = "lrelu", down: int = 1):
        super().__init__()
        self.activation, self.down, self.kernel = activation, down, kernel
        self.weight = torch.nn.Parameter(torch.randn([out_ch, in_ch, kernel, kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([out_ch])) if bias else None
        self.weight_gain = 1 / math.sqrt(in_ch * kernel * kernel)
        self.register_buffer("resample_filter", setup_filter())

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down > 1:
            # Blur so that the strided conv sees a band-limited signal; output is exactly H/2.
            p = (self.kernel + 1) // 2
            x = upfirdn2d(x, self.resample_filter, padding=(p, p, p, p))
            x = F.conv2d(x, w, stride=self.down)
        else:
            x = F.conv2d(x, w, padding=self.kernel // 2)
        act_gain = (math.sqrt(2) if self.activation == "lrelu" else 1.0) * gain
        return bias_act(x, self.bias, act=self.activation, gain=act_gain)


class DiscriminatorBlock(torch.nn.Module):
    def __init__(self, in_ch: int, out_ch: int, from_rgb: bool, img_channels: int = 3):
        super().__init__()
        self.fromrgb = Conv2dLayer(img_channels, in_ch, 1) if from_rgb else None
        self.conv0 = Conv2dLayer(in_ch, in_ch, 3)
        self.conv1 = Conv2dLayer(in_ch, out_ch, 3, down=2)
        self.skip = Conv2dLayer(in_ch, out_ch, 1, bias=False, activation="linear", down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(img)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return x + y


class Discriminator(torch.nn.Module):
    """ResNet discriminator with minibatch-stddev, as StyleGAN2 config-f."""

    def __init__(self, resolution: int, channel_base: int = 32768, channel_max: int = 512, mbstd_group: int = 4):
        super().__init__()
        ch = lambda r: min(channel_base // r, channel_max)
        self.resolutions = [2**k for k in range(int(math.log2(resolution)), 2, -1)]
        for i, res in enumerate(self.resolutions):
            setattr(self, f"b{res}", DiscriminatorBlock(ch(res), ch(res // 2), from_rgb=(i == 0)))
        c4 = ch(4)
        self.mbstd_group = mbstd_group
        self.conv = Conv2dLayer(c4 + 1, c4, 3)
        self.fc = FullyConnectedLayer(c4 * 16, c4, activation="lrelu")
        self.out = FullyConnectedLayer(c4, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) → (N, 1) logits
        x = None
        for res in self.resolutions:
            x = getattr(self, f"b{res}")(x, img)
        x = self._minibatch_std(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x)

    def _minibatch_std(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.mbstd_group, n)
        while n % g:
            g -= 1
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # (N/G, C, H, W)
        y = y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)
