"""Pure-PyTorch building blocks of StyleGAN2 (no compiled ops, nothing built at import).

Semantics follow NVIDIA's StyleGAN2 (equalised learning rate, FIR up-sampling with the
[1, 3, 3, 1] filter, modulated/demodulated convolution) so that official weights give the
same images. Shapes are documented as (N, C, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def setup_filter(taps: list[float] | tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """Separable FIR taps → normalised 2-D filter (sums to 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


Padding = tuple[int, int, int, int]  # x0, x1, y0, y1: zeros added at each side; negative crops


def conv2d_padded(x: torch.Tensor, weight: torch.Tensor, padding: Padding, groups: int = 1) -> torch.Tensor:
    """F.conv2d with per-side padding (negative crops). Symmetric padding is left to the
    convolution itself, which saves a padded copy of x."""
    px0, px1, py0, py1 = padding
    if min(padding) < 0:
        x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
        px0, px1, py0, py1 = (max(p, 0) for p in padding)
    if px0 == px1 and py0 == py1:
        return F.conv2d(x, weight, padding=(py0, px0), groups=groups)
    return F.conv2d(F.pad(x, [px0, px1, py0, py1]), weight, groups=groups)


def upfirdn2d(
    x: torch.Tensor,  # (N, C, H, W)
    f: torch.Tensor,  # (fh, fw), normalised
    up: int = 1,
    down: int = 1,
    padding: Padding = (0, 0, 0, 0),  # x0, x1, y0, y1; negative crops
    gain: float = 1.0,
) -> torch.Tensor:
    """Up-sample by zero insertion, pad, FIR-filter, down-sample (the reference algorithm)."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip([0, 1])
    x = conv2d_padded(x, f[None, None].repeat(c, 1, 1, 1), padding, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, padding: Padding | None = None) -> torch.Tensor:
    """FIR up-sampling used on the skip-connection RGB image (padding: the full frame's, or a
    window's from `window_padding`)."""
    if padding is None:
        p0, p1 = skip_padding(f, up)
        padding = (p0, p1, p0, p1)
    return upfirdn2d(x, f, up=up, padding=padding, gain=up * up)


def skip_padding(f: torch.Tensor, up: int = 2) -> tuple[int, int]:
    """(p0, p1) of `upsample2d` on the full frame."""
    fw = f.shape[-1]
    return (fw + up - 1) // 2, (fw - up) // 2


def upconv_padding(f: torch.Tensor, kw: int, padding: int, up: int = 2) -> tuple[int, int]:
    """(p0, p1) of the FIR after an unpadded stride-`up` transposed convolution with a kw-tap
    kernel, so that the pair is the `padding`-padded up-sampling convolution (NVIDIA's
    conv2d_resample arithmetic)."""
    fw = f.shape[-1]
    return padding + (fw + up - 1) // 2 - (kw - 1), padding + (fw - up) // 2 - (kw - up)


# ---- windows: computing a layer's output only on the rows/columns that are used -----------------
# A Span (lo, hi) is a half-open range of rows (or columns) of a frame. A layer from its input
# frame to its output frame computes an output span exactly from any input span that covers the
# output's receptive field: inside the frame nothing is padded (the rows are there), at the
# frame's edges the zeros are the padding the full layer has. `window_padding` gives the
# per-side padding of the layer's last filter that does this.
Span = tuple[int, int]


def needed_span(out: Span, size: int, up: int, reach: tuple[int, int]) -> Span:
    """Input span (of a frame of `size`) that output span `out` reads: output o reads the input
    rows i with up·i ∈ [o − reach[0], o + reach[1]]."""
    lo, hi = out
    return max(0, -((reach[0] - lo) // up)), min(size, (hi - 1 + reach[1]) // up + 1)


def window_padding(inp: tuple[Span, Span], out: tuple[Span, Span], pads: tuple[int, int], up: int = 1) -> Padding:
    """Per-side padding (x0, x1, y0, y1) of a layer's last filter — full-frame padding `pads`
    (p0, p1) — that computes output window `out` ((y0, y1), (x0, x1)) from input window `inp`:
    output row o then reads the taps of frame row o + out_lo, as the full layer does. Exact
    when `inp` ⊇ `needed_span(out)` (what is padded is then outside the frame or a zero that
    up-sampling inserted)."""
    p0, p1 = pads
    (py0, py1), (px0, px1) = ((p0 + up * i[0] - o[0], p1 + o[1] - up * i[1]) for i, o in zip(inp, out, strict=True))
    return (px0, px1, py0, py1)


def bias_act(
    x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float | None = None, clamp: float | None = None
) -> torch.Tensor:
    """Bias + activation + gain + optional clamp, as in StyleGAN2 (lrelu slope 0.2, gain √2)."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
        gain = SQRT2 if gain is None else gain
    elif act == "linear":
        gain = 1.0 if gain is None else gain
    else:
        raise ValueError(f"unsupported activation {act!r}")
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def demodulation(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """1 / ‖weight ⊙ styles‖ per sample and output channel (N, O): Σ_{i,k} (w_oik s_i)² computed
    as s² · Σ_k w², without forming the modulated weights."""
    return (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()


def modulated_conv(
    x: torch.Tensor,  # (N, I, H, W)
    weight: torch.Tensor,  # (O, I, k, k)
    styles: torch.Tensor,  # (N, I)
    up: int = 1,
    padding: int | Padding = 0,  # int: the full layer's; a tuple: per side, from `window_padding`
    resample_filter: torch.Tensor | None = None,
) -> torch.Tensor:
    """conv(x ⊙ styles, weight), not yet demodulated (the caller scales the output by
    `demodulation`, which is the same as demodulating the weights since conv is linear).

    Modulating the input instead of the weights (NVIDIA's `fused_modconv=False`) keeps the
    convolution's weight fixed: when it needs no gradient (an inversion, G frozen) autograd
    skips the weight gradient, a third of the convolution's backward pass, and a batch is one
    ordinary convolution instead of N groups. With up=2 it is a stride-2 transposed convolution
    followed by the FIR filter, as in NVIDIA's conv2d_resample; `padding` as a tuple is the FIR's
    (from `window_padding`, with the transposed convolution unpadded)."""
    out_ch, in_ch, kh, kw = weight.shape
    x = x * styles.reshape(x.shape[0], in_ch, 1, 1)
    if up == 1:
        pad = (padding,) * 4 if isinstance(padding, int) else padding
        return conv2d_padded(x, weight, pad)
    assert resample_filter is not None
    if isinstance(padding, int):
        p0, p1 = upconv_padding(resample_filter, kw, padding, up)
        padding = (p0, p1, p0, p1)
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up)  # transposed conv wants (I, O, k, k)
    return upfirdn2d(x, resample_filter, padding=padding, gain=up * up)


def modulated_conv2d(
    x: torch.Tensor,  # (N, I, H, W)
    weight: torch.Tensor,  # (O, I, k, k)
    styles: torch.Tensor,  # (N, I)
    noise: torch.Tensor | None = None,  # broadcastable to (N, O, H', W')
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution (`modulated_conv` + demodulation + noise)."""
    y = modulated_conv(x, weight, styles, up, padding, resample_filter)
    if demodulate:
        y = y * demodulation(weight, styles).reshape(*styles.shape[:1], -1, 1, 1)
    return y if noise is None else y + noise


def modulated_1x1(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Modulated 1×1 convolution without demodulation (toRGB), as a batched matrix product with
    the modulated weights (O × I per sample, tiny): no pass over x for the modulation, and the
    product is far faster than a 1×1 convolution with few outputs."""
    n, c, h, w = x.shape
    wm = weight.reshape(1, -1, c) * styles.reshape(n, 1, c)  # (N, O, I)
    y = torch.baddbmm(bias.reshape(1, -1, 1), wm, x.reshape(n, c, h * w))
    return y.reshape(n, -1, h, w)


class FullyConnectedLayer(torch.nn.Module):
    """Equalised-learning-rate linear layer (weight stored unscaled, scaled at run time)."""

    def __init__(
        self,
        in_features: int,  # Input width.
        out_features: int,  # Output width.
        bias: bool = True,  # Learn a bias?
        activation: str = "linear",  # 'linear' or 'lrelu'.
        lr_multiplier: float = 1.0,  # Learning-rate multiplier (0.01 in the mapping network).
        bias_init: float = 0.0,  # Initial bias (1 for style affines, so styles start at 1).
    ):
        super().__init__()
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)
