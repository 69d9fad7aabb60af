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
from .ops import FullyConnectedLayer, bias_act, modulated_conv2d, normalize_2nd_moment, setup_filter, upsample2d


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

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        elif noise_mode != "none":
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=1, resample_filter=self.resample_filter)
        return bias_act(x, self.bias, act="lrelu", clamp=self.conv_clamp)


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
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


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
    def features(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        """(N, C_in, r/2, r/2) or None → f_i (N, C, r, r); ws (N, num_conv + 1, w_dim)."""
        if self.is_first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            return self.conv1(x, ws[:, 0], noise_mode)
        x = self.conv0(x, ws[:, 0], noise_mode)
        return self.conv1(x, ws[:, 1], noise_mode)

    def upsample_skip(self, img: torch.Tensor | None) -> torch.Tensor | None:
        """The skip image of the earlier blocks, brought to this block's resolution."""
        return None if img is None else upsample2d(img, self.resample_filter)

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
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Eq. 3.3–3.4: f_i = g(f_prev, w+) + m_i ⊙ Δf_i, then the image through toRGB."""
        _assert_feature(self, x, ws)
        x = self.features(x, ws, noise_mode)
        if delta is not None:
            x = x + mask * delta
        skip = self.upsample_skip(img)
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
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """§3.4's gated edit: inside m_i the unedited f_i and skip image are pasted, so a region
        inverted in F_i takes δw+ only in the layers after F_i."""
        _assert_feature(self, x, ws)
        x = self.features(x, ws, noise_mode)
        skip = self.upsample_skip(img)
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


def _assert_feature(block: SynthesisBlock, x: torch.Tensor | None, ws: torch.Tensor) -> None:
    """The block boundary's contract, checked where a block takes over: the features coming in
    are the previous block's f, (N, C_in, r/2, r/2) for this block's resolution r (None for b4),
    with N the rows' batch."""
    if block.is_first:
        return
    expected = (ws.shape[0], block.in_channels, block.resolution // 2, block.resolution // 2)
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
                    rec = block.reconstruct(rec[0], rec[2], rows, dfi, mi, noise_mode)
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
            ed = block.edit_gated(ed[0], ed[2], ed_rows, rec[0], rec[1], dfi, mi, noise_mode)
            if cache is not None:
                cache.store_edit(k, _Entry(ed_rows, None, None, *ed), block.resolution)
        return self.crop_output(rec[2] if w_edit is None else ed[2])

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        """Sample images from z (N, z_dim) — the plain forward pass, via `synthesize`."""
        return self.synthesize(self.map(z, truncation_psi), noise_mode=noise_mode)
