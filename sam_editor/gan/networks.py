"""StyleGAN2 generator (config-f, skip architecture) with staged, gated synthesis.

Parameter names follow NVIDIA's stylegan2-ada-pytorch (`mapping.fc0.weight`,
`synthesis.b16.conv0.affine.weight`, …) so that converted checkpoints load with a plain
`load_state_dict`. Staged synthesis is the paper's eq. 3.3–3.4:

    f_4  = g_{0→4}(c, w+)   + m_4  ⊙ Δf_4
    f_6  = g_{4→6}(f_4, w+) + m_6  ⊙ Δf_6
    …
    x̂    = g_{10→16}(f_10, w+)

and gated editing is §3.4: a region inverted in F_i takes `w+` up to layer i and
`w+ + δw+` after it. F_i is a block's conv output; the block's toRGB (style row i+1) counts as
a later layer, so Δf_i reaches the image through it — also at the last block (F10 of a 128-px
generator), where the official code's placement (after toRGB) would make Δf_i invisible. `Generator.synthesize` is the one forward pass the project uses.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .layers import block_of_feature_index, feature_index_of_block, num_ws_for_resolution
from .ops import (
    SQRT2,
    FullyConnectedLayer,
    Padding,
    Span,
    demodulation,
    modulated_1x1,
    modulated_conv,
    needed_span,
    normalize_2nd_moment,
    setup_filter,
    skip_padding,
    upconv_padding,
    upsample2d,
    window_padding,
)

Window = tuple[Span, Span]  # ((y0, y1), (x0, x1)) of a block's square frame


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Hyper-parameters of a StyleGAN2 generator (defaults: NVIDIA config-f at 512 px)."""

    resolution: int = 512  # Square synthesis frame, a power of two ≥ 8.
    z_dim: int = 512  # Input latent width.
    w_dim: int = 512  # Intermediate latent (W) width.
    mapping_layers: int = 8  # Depth of the mapping MLP.
    channel_base: int = 32768  # Channels at block r = min(channel_base // r, channel_max).
    channel_max: int = 512
    img_channels: int = 3
    mapping_lr_multiplier: float = 0.01
    conv_clamp: float | None = None  # NVIDIA clamps activations at 256 in its ada configs.
    crop: tuple[int, int, int, int] | None = None  # (top, left, height, width) of the output.
    w_avg_beta: float = 0.995

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two ≥ 8, got {self.resolution}")
        if self.crop is not None:
            object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
            top, left, h, w = self.crop
            if top < 0 or left < 0 or top + h > self.resolution or left + w > self.resolution:
                raise ValueError(f"crop {self.crop} does not fit in a {self.resolution}² frame")

    @property
    def num_ws(self) -> int:
        return num_ws_for_resolution(self.resolution)

    @property
    def block_resolutions(self) -> list[int]:
        return [2**k for k in range(2, int(math.log2(self.resolution)) + 1)]

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the image the generator returns."""
        if self.crop is None:
            return (self.resolution, self.resolution)
        return (self.crop[2], self.crop[3])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping) -> GeneratorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown generator config fields: {sorted(unknown)}")
        d = dict(d)
        if d.get("crop") is not None:
            d["crop"] = tuple(d["crop"])
        return cls(**d)


class MappingNetwork(torch.nn.Module):
    """z → w: 2nd-moment normalisation, then an MLP with lr multiplier 0.01; tracks w_avg."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.num_layers = cfg.mapping_layers
        self.w_avg_beta = cfg.w_avg_beta
        widths = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        for i in range(cfg.mapping_layers):
            fc = FullyConnectedLayer(widths[i], widths[i + 1], activation="lrelu", lr_multiplier=cfg.mapping_lr_multiplier)
            setattr(self, f"fc{i}", fc)
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self, z: torch.Tensor, update_w_avg: bool = False) -> torch.Tensor:  # (N, z_dim) → (N, w_dim)
        x = normalize_2nd_moment(z)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        return x


class SynthesisLayer(torch.nn.Module):
    """Modulated 3×3 conv + noise + bias + lrelu (optionally 2× up-sampling)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int, conv_clamp):
        super().__init__()
        self.up = up
        self.resolution = resolution
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("resample_filter", setup_filter())

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str,
        window: Window | None = None,  # the output's rows/columns (None: the whole frame) …
        padding: Padding | None = None,  # … and the padding that computes them (`BlockPlan`)
    ) -> torch.Tensor:
        """lrelu(demod ⊙ conv(x ⊙ styles) + noise + bias) · √2 (then the clamp), with the gain
        folded into the scale, noise and bias (lrelu(a)·g = lrelu(a·g) for g > 0): one
        multiply-add and two in-place passes over the output instead of five passes."""
        styles = self.affine(w)
        (y0, y1), (x0, x1) = window if window is not None else ((0, self.resolution), (0, self.resolution))
        noise = None
        if noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)[..., y0:y1, x0:x1]
        elif noise_mode == "const":
            noise = self.noise_const[y0:y1, x0:x1]
        elif noise_mode != "none":
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        y = modulated_conv(x, self.weight, styles, self.up, 1 if padding is None else padding, self.resample_filter)
        scale = demodulation(self.weight, styles) * SQRT2
        y = torch.addcmul((self.bias * SQRT2).reshape(1, -1, 1, 1), y, scale.reshape(*scale.shape, 1, 1))
        if noise is not None:
            y = y.add_(noise * (self.noise_strength * SQRT2))
        y = F.leaky_relu(y, 0.2, inplace=True)
        if self.conv_clamp is not None and self.conv_clamp >= 0:
            y = y.clamp(-self.conv_clamp, self.conv_clamp)
        return y


class ToRGBLayer(torch.nn.Module):
    """Modulated 1×1 conv to RGB without demodulation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_1x1(x, self.weight, styles, self.bias)
        if self.conv_clamp is not None and self.conv_clamp >= 0:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


def _cut(t: torch.Tensor | None, window: Window) -> torch.Tensor | None:
    """t (…, r, r) of a whole frame → its window."""
    (y0, y1), (x0, x1) = window
    return None if t is None else t[..., y0:y1, x0:x1]


@dataclasses.dataclass(frozen=True)
class BlockPlan:
    """Where one block computes in `Generator.synthesize`: f_i and the image only on `window`
    of the block's frame (the rows/columns that reach the cropped output, with the halo its
    later layers read), every layer from exactly the window its output reads (`ops.needed_span`)
    with the padding (`ops.window_padding`) that makes it equal the whole frame's layer there.
    On the whole frame the paddings are the layers' own."""

    window: Window  # f_i, skip and image
    in_window: Window | None  # the previous block's window (what comes in); None for b4
    conv0_window: Window | None  # conv0's output, conv1's input; None for b4
    conv0_padding: Padding | None
    conv1_padding: Padding
    skip_padding: Padding | None
    const_window: Window | None  # b4: the constant's part conv1 reads


def plan_blocks(cfg: GeneratorConfig) -> list[BlockPlan]:
    """The windows of every block for the config's crop, from the last block back: a block's
    window covers what the next block's conv0 and skip up-sampling read of it."""
    resolutions = cfg.block_resolutions
    f = setup_filter()
    top, left, h, w = cfg.crop if cfg.crop is not None else (0, 0, cfg.resolution, cfg.resolution)
    conv_pads, conv_reach = (1, 1), (1, 1)  # 3×3, padding 1
    up_pads = upconv_padding(f, 3, 1)
    up_reach = (up_pads[0] + 2, f.shape[-1] - 1 - up_pads[0])  # transposed 3-tap conv, then the FIR
    sk_pads = skip_padding(f)
    sk_reach = (sk_pads[0], f.shape[-1] - 1 - sk_pads[0])
    window: Window = ((top, top + h), (left, left + w))
    plans: list[BlockPlan] = []
    for k in range(len(resolutions) - 1, -1, -1):
        r = resolutions[k]
        conv1_in = tuple(needed_span(s, r, 1, conv_reach) for s in window)
        if k == 0:
            plans.append(BlockPlan(window, None, None, None, window_padding(conv1_in, window, conv_pads), None, conv1_in))
            break
        prev = r // 2
        need_f = [needed_span(s, prev, 2, up_reach) for s in conv1_in]
        need_img = [needed_span(s, prev, 2, sk_reach) for s in window]
        in_window = tuple((min(a[0], b[0]), max(a[1], b[1])) for a, b in zip(need_f, need_img, strict=True))
        plans.append(
            BlockPlan(
                window=window,
                in_window=in_window,
                conv0_window=conv1_in,
                conv0_padding=window_padding(in_window, conv1_in, up_pads, up=2),
                conv1_padding=window_padding(conv1_in, window, conv_pads),
                skip_padding=window_padding(in_window, window, sk_pads, up=2),
                const_window=None,
            )
        )
        window = in_window
    return plans[::-1]


class SynthesisBlock(torch.nn.Module):
    """One resolution: (const | up-conv0), conv1, toRGB added to the up-sampled skip image."""

    def __init__(self, cfg: GeneratorConfig, resolution: int):
        super().__init__()
        out_ch = cfg.channels(resolution)
        self.resolution = resolution
        self.in_channels = cfg.channels(resolution // 2) if resolution > 4 else out_ch
        self.out_channels = out_ch
        self.is_first = resolution == 4
        if self.is_first:
            self.const = torch.nn.Parameter(torch.randn([out_ch, 4, 4]))
        else:
            in_ch = cfg.channels(resolution // 2)
            self.conv0 = SynthesisLayer(in_ch, out_ch, cfg.w_dim, resolution, up=2, conv_clamp=cfg.conv_clamp)
        self.conv1 = SynthesisLayer(out_ch, out_ch, cfg.w_dim, resolution, up=1, conv_clamp=cfg.conv_clamp)
        self.torgb = ToRGBLayer(out_ch, cfg.img_channels, cfg.w_dim, conv_clamp=cfg.conv_clamp)
        self.register_buffer("resample_filter", setup_filter())
        self.num_conv = 1 if self.is_first else 2
        self.feature_index = feature_index_of_block(resolution)

    # A block is split where F_i lives: features = convs(x), then image = skip↑ + toRGB(features).
    # toRGB consumes style row i+1, so it belongs to the layers *after* F_i (§3.4).
    def features(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str, plan: BlockPlan | None = None) -> torch.Tensor:
        """(N, C_in, r/2, r/2) or None → f_i (N, C, r, r); ws (N, num_conv + 1, w_dim).
        With a plan: the previous block's window in, this block's window out."""
        if self.is_first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            if plan is None:
                return self.conv1(x, ws[:, 0], noise_mode)
            return self.conv1(_cut(x, plan.const_window), ws[:, 0], noise_mode, plan.window, plan.conv1_padding)
        if plan is None:
            x = self.conv0(x, ws[:, 0], noise_mode)
            return self.conv1(x, ws[:, 1], noise_mode)
        x = self.conv0(x, ws[:, 0], noise_mode, plan.conv0_window, plan.conv0_padding)
        return self.conv1(x, ws[:, 1], noise_mode, plan.window, plan.conv1_padding)

    def upsample_skip(self, img: torch.Tensor | None, plan: BlockPlan | None = None) -> torch.Tensor | None:
        """The skip image of the earlier blocks, brought to this block's resolution."""
        if img is None:
            return None
        return upsample2d(img, self.resample_filter, padding=None if plan is None else plan.skip_padding)

    def to_image(self, x: torch.Tensor, skip: torch.Tensor | None, ws: torch.Tensor) -> torch.Tensor:
        y = self.torgb(x, ws[:, self.num_conv])
        return y if skip is None else skip + y

    # The two passes of `Generator.synthesize`, one block each: → (f_i, skip image, image).
    def reconstruct(
        self,
        x: torch.Tensor | None,  # f of the previous block (None for b4)
        img: torch.Tensor | None,  # image of the previous block
        ws: torch.Tensor,  # (N, num_conv + 1, w_dim)
        delta: torch.Tensor | None,  # Δf_i (N, C, r, r) or None
        mask: torch.Tensor | None,  # m_i (N|1, 1, r, r)
        noise_mode: str,
        plan: BlockPlan | None = None,  # compute on its window only (Δf_i and m_i stay whole)
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Eq. 3.3–3.4: f_i = g(f_prev, w+) + m_i ⊙ Δf_i, then the image through toRGB."""
        _assert_feature(self, x, ws, plan)
        x = self.features(x, ws, noise_mode, plan)
        if delta is not None:
            if plan is not None:
                delta, mask = _cut(delta, plan.window), _cut(mask, plan.window)
            x = x + mask * delta
        skip = self.upsample_skip(img, plan)
        return x, skip, self.to_image(x, skip, ws)

    def edit_gated(
        self,
        x: torch.Tensor,  # f of the previous block on the edited path
        img: torch.Tensor | None,  # image of the previous block on the edited path
        ws: torch.Tensor,  # edited rows w+ + δw+ (N, num_conv + 1, w_dim)
        rec_x: torch.Tensor,  # this block's reconstructed f_i
        rec_skip: torch.Tensor | None,  # this block's reconstructed skip image
        delta: torch.Tensor | None,
        mask: torch.Tensor | None,
        noise_mode: str,
        plan: BlockPlan | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """§3.4's gated edit: inside m_i the unedited f_i and skip image are pasted, so a region
        inverted in F_i takes δw+ only in the layers after F_i."""
        _assert_feature(self, x, ws, plan)
        x = self.features(x, ws, noise_mode, plan)
        skip = self.upsample_skip(img, plan)
        if plan is not None:
            delta, mask = _cut(delta, plan.window), _cut(mask, plan.window)
        if mask is not None:
            if delta is not None:  # so that δ → 0 gives the reconstruction also on soft mask edges
                x = x + mask * delta
            x = torch.lerp(x, rec_x, mask)
            if skip is not None:
                skip = torch.lerp(skip, rec_skip, mask)
        return x, skip, self.to_image(x, skip, ws)

    def forward(self, x, img, ws, noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """NVIDIA's block: (x, img) → (x, img)."""
        x = self.features(x, ws, noise_mode)
        return x, self.to_image(x, self.upsample_skip(img), ws)


def _assert_feature(block: SynthesisBlock, x: torch.Tensor | None, ws: torch.Tensor, plan: BlockPlan | None = None) -> None:
    """The block boundary's contract, checked where a block takes over: the features coming in
    are the previous block's f, (N, C_in, r/2, r/2) for this block's resolution r (None for b4),
    or the plan's window of it, with N the rows' batch."""
    if block.is_first:
        return
    size = (block.resolution // 2,) * 2 if plan is None else tuple(hi - lo for lo, hi in plan.in_window)
    expected = (ws.shape[0], block.in_channels, *size)
    if x is None or tuple(x.shape) != expected:
        got = None if x is None else tuple(x.shape)
        raise ValueError(f"b{block.resolution}: features {got} coming in, expected {expected}")


class SynthesisNetwork(torch.nn.Module):
    """The blocks b4 … b{resolution}; style rows are shared between a block's toRGB and the
    next block's first conv, exactly as in NVIDIA's implementation."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.block_resolutions = cfg.block_resolutions
        self.w_starts: list[int] = []
        start = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(cfg, res)
            setattr(self, f"b{res}", block)
            self.w_starts.append(start)
            start += block.num_conv

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]


@dataclasses.dataclass
class _Entry:
    rows: torch.Tensor
    delta: torch.Tensor | None
    mask: torch.Tensor | None
    x: torch.Tensor  # f_i (after Δf / paste)
    skip: torch.Tensor | None  # skip image entering this block's toRGB (after paste)
    img: torch.Tensor  # skip + toRGB(f_i)


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)


class RenderCache:
    """Per-block features of the last render, so a render that changes only layers ≥ k
    recomputes only blocks from k on (slider drags). Used under `torch.no_grad()` only."""

    def __init__(self) -> None:
        self.rec: list[_Entry] = []
        self.edit: list[_Entry | None] = []  # None: block shared with the reconstruction
        self.computed_blocks: list[tuple[str, int]] = []  # (path, block resolution) computed by the last render

    def clear(self) -> None:
        self.rec.clear()
        self.edit.clear()

    # One render walks the blocks in order; an entry is reused only while every earlier one was.
    def start(self) -> None:
        self.computed_blocks = []
        self._rec_valid = self._edit_valid = True

    def rec_hit(self, k: int, rows: torch.Tensor, delta: torch.Tensor | None, mask: torch.Tensor | None) -> _Entry | None:
        e = self.rec[k] if self._rec_valid and k < len(self.rec) else None
        self._rec_valid = e is not None and _same(e.rows, rows) and _same(e.delta, delta) and _same(e.mask, mask)
        return e if self._rec_valid else None

    def store_rec(self, k: int, entry: _Entry, resolution: int) -> None:
        del self.rec[k:]
        self.rec.append(entry)
        self.computed_blocks.append(("rec", resolution))

    def edit_shared(self, k: int) -> None:
        """Block k of the edit is the reconstruction's (the edit has not diverged yet)."""
        if not (self._edit_valid and k < len(self.edit) and self.edit[k] is None):
            self._edit_valid = False
            del self.edit[k:]
            self.edit.append(None)

    def edit_hit(self, k: int, rows: torch.Tensor) -> _Entry | None:
        e = self.edit[k] if self._edit_valid and self._rec_valid and k < len(self.edit) else None
        self._edit_valid = e is not None and _same(e.rows, rows)
        return e if self._edit_valid else None

    def store_edit(self, k: int, entry: _Entry, resolution: int) -> None:
        del self.edit[k:]
        self.edit.append(entry)
        self.computed_blocks.append(("edit", resolution))


class Generator(torch.nn.Module):
    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.w_dim, cfg.num_ws
        self.img_resolution = cfg.resolution
        self.mapping = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg)
        # `synthesize` computes each block only where it reaches the cropped output (the car
        # generator's 512×384 of a 512² frame: a quarter of the largest blocks' rows is letterbox).
        self.plans = plan_blocks(cfg)

    # ---- latents -------------------------------------------------------------------
    def map(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """z (N, z_dim) → w+ (N, num_ws, w_dim), with optional truncation towards w_avg."""
        w = self.mapping(z)
        if truncation_psi != 1:
            w = self.mapping.w_avg.lerp(w, truncation_psi)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def mean_w_plus(self, n: int = 1) -> torch.Tensor:
        return self.mapping.w_avg.reshape(1, 1, -1).repeat(n, self.num_ws, 1)

    # ---- layer geometry ------------------------------------------------------------------
    def feature_indices(self) -> list[int]:
        return [b.feature_index for b in self.synthesis.blocks()]

    def feature_shape(self, index: int) -> tuple[int, int, int]:
        """(C, H, W) of F_index in the square synthesis frame."""
        res = block_of_feature_index(index)
        if res not in self.synthesis.block_resolutions:
            raise ValueError(f"F{index} does not exist in a {self.cfg.resolution}px generator")
        return (self.cfg.channels(res), res, res)

    def style_rows_of_block(self, res: int) -> range:
        i = self.synthesis.block_resolutions.index(res)
        block = self.synthesis.blocks()[i]
        start = self.synthesis.w_starts[i]
        return range(start, start + block.num_conv + 1)

    def mask_to_feature(self, mask: torch.Tensor, index: int) -> torch.Tensor:
        """Binary mask at output size (N, 1, H_out, W_out) → m_i at F_index's size, bilinearly
        resized (the paper's m_i); the area outside the crop is 0 (not in F_i)."""
        mask = mask.float()
        if self.cfg.crop is not None:
            top, left, h, w = self.cfg.crop
            r = self.cfg.resolution
            mask = F.pad(mask, [left, r - left - w, top, r - top - h])
        _, fh, fw = self.feature_shape(index)
        return F.interpolate(mask, size=(fh, fw), mode="bilinear", align_corners=False, antialias=True)

    def crop_output(self, img: torch.Tensor) -> torch.Tensor:
        if self.cfg.crop is None:
            return img
        top, left, h, w = self.cfg.crop
        return img[:, :, top : top + h, left : left + w]

    # ---- staged synthesis (eq. 3.3–3.4) ---------------------------------------------------
    def _blocks(self):
        return zip(self.synthesis.blocks(), self.synthesis.w_starts, strict=True)

    def g_stage(
        self,
        i: int | None,  # start after F_i (None: from the constant input c)
        j: int | None,  # stop at F_j (None: run to the output image)
        f: torch.Tensor | None,  # f_i (N, C, H, W); None when i is None
        skip: torch.Tensor | None,  # skip-connection RGB image that accompanies f_i (before its toRGB)
        w_plus: torch.Tensor,  # (N, num_ws, w_dim)
        noise_mode: str = "const",
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """g_{i→j}: → (f_j, skip_j); with j=None → (None, x̂ uncropped).

        The state at F_i is the feature f_i and the skip image entering block i's toRGB; that
        toRGB (style row i+1) is the first layer *after* F_i, so it runs in the next stage."""
        img = None
        started = i is None
        for block, start in self._blocks():
            rows = w_plus[:, start : start + block.num_conv + 1]
            if not started:
                if block.feature_index == i:
                    img = block.to_image(f, skip, rows)
                    started = True
                continue
            skip = block.upsample_skip(img)
            _assert_feature(block, f, rows)
            f = block.features(f, rows, noise_mode)
            if j is not None and block.feature_index == j:
                return f, skip
            img = block.to_image(f, skip, rows)
        return None, img

    def synthesize(
        self,
        w_plus: torch.Tensor,  # (N, num_ws, w_dim)
        delta_f: Mapping[int, torch.Tensor] | None = None,  # i → Δf_i (N, C_i, H_i, W_i)
        masks: Mapping[int, torch.Tensor] | None = None,  # i → m_i (N|1, 1, H_i, W_i) in [0, 1]
        delta_w: torch.Tensor | None = None,  # δw+ (N|1, num_ws, w_dim): the edit
        noise_mode: str = "const",
        cache: RenderCache | None = None,
    ) -> torch.Tensor:
        """x̂ (N, 3, H_out, W_out) in about [-1, 1].

        Without `delta_w` this is the image formation of eq. 3.3–3.4: f_i = g(f_prev, w+) + m_i ⊙ Δf_i
        and every later layer (block i's toRGB included) sees f_i. With `delta_w` it is the gated
        edit of §3.4: the edited pass runs with `w+ + δw+`, and at every F_i that has a mask the
        region m_i takes the *unedited* f_i and the unedited skip image, so that region is
        modulated by `w+` up to layer i and by `w+ + δw+` only after it. W+ regions (no mask)
        get the edit in every layer. (The official code pastes only f_i, after block i's toRGB,
        so the edited skip image leaks into F_i regions; gating the skip image too fixes that.)

        Each block runs on its `BlockPlan` window only: the rows/columns that reach the crop
        (Δf_i and m_i are given for the whole frame; their rows outside the window cannot
        change x̂, so they get no gradient from it, as before).
        """
        delta_f = dict(delta_f or {})
        masks = dict(masks or {})
        for i in delta_f:
            if i not in masks:
                raise ValueError(f"Δf_{i} given without its mask m_{i}")
        if cache is not None and noise_mode != "random" and not torch.is_grad_enabled():
            cache.start()
        else:
            cache = None
        w_edit = None if delta_w is None else w_plus + delta_w
        rec: tuple = (None, None, None)  # (f_i, skip image, image) of the reconstruction
        ed: tuple = (None, None, None)  # … and of the edit
        # The edit path differs from the reconstruction from here on; an edit being optimised
        # (StyleCLIP) must run its own path even at δ = 0, or no gradient would reach δ.
        diverged = delta_w is not None and delta_w.requires_grad
        # An edit needs the reconstruction only while it shares it (not diverged) and up to the
        # last masked F_i (the gate pastes the unedited f_i there); past both, the reconstruction's
        # later blocks (the big ones, half the FLOPs at 512 px) would be computed for nothing.
        blocks = list(self._blocks())
        last_gate = max((k for k, (b, _) in enumerate(blocks) if b.feature_index in masks), default=-1)
        for k, (block, start) in enumerate(blocks):
            rows = w_plus[:, start : start + block.num_conv + 1]
            dfi, mi = delta_f.get(block.feature_index), masks.get(block.feature_index)
            if w_edit is not None:
                ed_rows = w_edit[:, start : start + block.num_conv + 1]
                diverged = diverged or not torch.equal(ed_rows, rows.expand_as(ed_rows))
            if w_edit is None or not diverged or k <= last_gate:
                hit = cache.rec_hit(k, rows, dfi, mi) if cache is not None else None
                if hit is not None:
                    rec = (hit.x, hit.skip, hit.img)
                else:
                    rec = block.reconstruct(rec[0], rec[2], rows, dfi, mi, noise_mode, self.plans[k])
                    if cache is not None:
                        cache.store_rec(k, _Entry(rows, dfi, mi, *rec), block.resolution)
            if w_edit is None:
                continue
            if not diverged:  # identical to the reconstruction so far: share its features
                ed = rec
                if cache is not None:
                    cache.edit_shared(k)
                continue
            hit = cache.edit_hit(k, ed_rows) if cache is not None else None
            if hit is not None:
                ed = (hit.x, hit.skip, hit.img)
                continue
            ed = block.edit_gated(ed[0], ed[2], ed_rows, rec[0], rec[1], dfi, mi, noise_mode, self.plans[k])
            if cache is not None:
                cache.store_edit(k, _Entry(ed_rows, None, None, *ed), block.resolution)
        return rec[2] if w_edit is None else ed[2]  # the last block's window is the crop

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        """Sample images from z (N, z_dim) — the plain forward pass, via `synthesize`."""
        return self.synthesize(self.map(z, truncation_psi), noise_mode=noise_mode)
