"""The SAM encoder: one feed-forward pass from an image and its latent map to φ (paper §3.3,
"encoder-based approach"; Table 4.1 and Fig. 4.1, encoder rows).

    E(x, m) → φ̂ = {w+, Δf4, Δf6, Δf8, Δf10}

The encoder sees the image together with the invertibility map m (one channel per latent
space, one-hot), as the paper's encoder does, so that it puts detail into Δf_i only where the
map asks for F_i. One residual backbone is shared by every head (pSp / e4e style): the W+ head
reads the pooled pyramid and predicts w+ as an offset from the generator's mean w (as e4e does
with `latent_avg`); each Δf_i head reads the backbone level at F_i's resolution and starts at
zero, so an untrained head means "no feature change". With an all-W+ map the encoder is a
plain W+ encoder (the e4e row of Table 4.1) — the same network, trained on both kinds of map.

The result seeds the optimisation (`invert(..., init_phi=...)`, the hybrid regime) or is used
alone (`steps=0`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..gan.layers import LayerSpace
from ..gan.networks import Generator
from ..util import UnreadableFile, atomic_write, safe_torch_load
from . import latent_maps as lm
from .e4e import E4EEncoder, E4EFormatError, e4e_from_checkpoint, is_e4e_checkpoint
from .phi import Phi

SPACES = tuple(LayerSpace)
FORMAT = "sam-editor-encoder-v1"


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Shapes of one encoder; `feature_shapes` = {i: (C_i, H_i, W_i)} of the generator's F_i."""

    resolution: int  # square input frame = the generator's synthesis frame
    num_ws: int
    w_dim: int
    feature_shapes: dict[int, tuple[int, int, int]]
    base_channels: int = 24  # at full resolution; doubles per level down to `max_channels`
    max_channels: int = 96
    hidden: int = 256  # width of the W+ head

    @classmethod
    def for_generator(cls, G: Generator, **kw: Any) -> EncoderConfig:
        shapes = {}
        for space in SPACES[1:]:
            try:
                shapes[space.index] = tuple(int(v) for v in G.feature_shape(space.index))
            except ValueError:  # a small generator has no F10
                continue
        return cls(resolution=G.cfg.resolution, num_ws=G.num_ws, w_dim=G.w_dim, feature_shapes=shapes, **kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["feature_shapes"] = {str(k): list(v) for k, v in self.feature_shapes.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        d = dict(d)
        d["feature_shapes"] = {int(k): tuple(int(x) for x in v) for k, v in d["feature_shapes"].items()}
        return cls(**d)

    def channels(self, res: int) -> int:
        return min(self.max_channels, self.base_channels * (self.resolution // res))


class _Down(nn.Module):
    """Residual block that halves the resolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, stride=2)
        self.norm = nn.GroupNorm(8, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(self.norm(self.conv2(h) + self.skip(x)), 0.2)


class SAMEncoder(nn.Module):
    """E(x, m): x (N, 3, R, R) in [-1, 1] and the one-hot latent map m (N, 5, R, R) → (w+, Δf)."""

    def __init__(self, cfg: EncoderConfig, w_avg: torch.Tensor | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        r = cfg.resolution
        self.stem = nn.Conv2d(3 + len(SPACES), cfg.channels(r), 3, padding=1)
        self.levels = nn.ModuleDict()
        self.resolutions = []
        while r > 4:
            self.levels[str(r // 2)] = _Down(cfg.channels(r), cfg.channels(r // 2))
            r //= 2
            self.resolutions.append(r)
        pooled = sum(cfg.channels(q) for q in self.resolutions if q > 4)
        flat = cfg.channels(4) * 16
        self.w_head = nn.Sequential(
            nn.Linear(flat + pooled, cfg.hidden), nn.LeakyReLU(0.2), nn.Linear(cfg.hidden, cfg.num_ws * cfg.w_dim)
        )
        nn.init.zeros_(self.w_head[-1].weight)
        nn.init.zeros_(self.w_head[-1].bias)
        self.f_heads = nn.ModuleDict()
        for i, (c, h, _w) in cfg.feature_shapes.items():
            cin = cfg.channels(h) + len(SPACES)
            head = nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(cin, c, 3, padding=1))
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)
            self.f_heads[str(i)] = head
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim) if w_avg is None else w_avg.detach().clone().float())

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        cfg = self.cfg
        if tuple(x.shape[1:]) != (3, cfg.resolution, cfg.resolution) or onehot.shape[1] != len(SPACES):
            raise ValueError(f"encoder input must be (N, 3, {cfg.resolution}, {cfg.resolution}) + a 5-channel map")
        h = F.leaky_relu(self.stem(torch.cat([x, onehot], 1)), 0.2)
        feats = {cfg.resolution: h}
        for key, level in self.levels.items():
            h = level(h)
            feats[int(key)] = h
        pooled = [feats[q].mean(dim=(2, 3)) for q in self.resolutions if q > 4]
        code = torch.cat([feats[4].flatten(1), *pooled], 1)
        w_plus = self.w_avg + self.w_head(code).view(-1, cfg.num_ws, cfg.w_dim)
        delta_f = {}
        for key, head in self.f_heads.items():
            i = int(key)
            res = cfg.feature_shapes[i][1]
            m = F.interpolate(onehot, size=(res, res), mode="area")
            delta_f[i] = head(torch.cat([feats[res], m], 1))
        return w_plus, delta_f


def onehot_map(
    ranks: np.ndarray | torch.Tensor, resolution: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Rank maps (N, H, W) (0 = W+ … 4 = F10) → one-hot (N, 5, R, R) float, nearest-resized."""
    r = torch.as_tensor(np.asarray(ranks), dtype=torch.long, device=device)
    if r.ndim == 2:
        r = r[None]
    oh = F.one_hot(r.clamp(0, len(SPACES) - 1), len(SPACES)).permute(0, 3, 1, 2).float()
    if tuple(oh.shape[-2:]) != (resolution, resolution):
        oh = F.interpolate(oh, size=(resolution, resolution), mode="nearest")
    return oh


def _to_frame(G: Generator, images: torch.Tensor) -> torch.Tensor:
    """Images at the generator's output size → the square synthesis frame the encoder reads
    (a crop, e.g. the cars' 4:3, is padded back to the square at its place in the frame, where
    the generator renders it)."""
    from .optimise import prepare_images

    x = prepare_images(G, images)
    r = G.cfg.resolution
    if tuple(x.shape[-2:]) == (r, r):
        return x
    top, left, h, w = G.cfg.crop  # a non-square output is always the crop (top, left, h, w) of the frame
    return F.pad(x, (left, r - w - left, top, r - h - top), value=0.0)


def encode(
    encoder: SAMEncoder,
    G: Generator,
    images: torch.Tensor,
    latent_map: Any = None,
) -> Phi:
    """φ̂ for `images` (N, 3, H_out, W_out) in [-1, 1] from one forward pass. `latent_map`: as for
    `invert` (None: the whole image in W+, the plain W+ encoder). An official e4e / pSp encoder
    (`e4e.E4EEncoder`) gives the w+ only, Δf_i = 0, as the official SAM code starts from it."""
    dev = next(encoder.parameters()).device
    x = images.to(dev, torch.float32)
    n = x.shape[0]
    if latent_map is None:
        ranks = np.zeros((n, *G.cfg.output_size), np.uint8)
    else:
        ranks = lm.rank_maps(latent_map, n, G.cfg.output_size)
    if isinstance(encoder, E4EEncoder):
        return Phi(
            w_plus=encoder.w_plus(x),
            rank_map=torch.from_numpy(np.asarray(ranks, np.uint8)),
            metadata={"method": "sam" if latent_map is not None else "wplus", "init": "e4e", "steps": 0},
        )
    frame = _to_frame(G, x)
    full = _ranks_in_frame(G, ranks)
    with torch.no_grad():
        w_plus, delta_f = encoder(frame, onehot_map(full, G.cfg.resolution, dev))
    masks = lm.feature_masks(G, ranks, dev)
    return Phi(
        w_plus=w_plus,
        delta_f={i: delta_f[i] for i in masks if i in delta_f},
        masks={i: m for i, m in masks.items() if i in delta_f},
        rank_map=torch.from_numpy(np.asarray(ranks, np.uint8)),
        metadata={"method": "sam" if latent_map is not None else "wplus", "init": "encoder", "steps": 0},
    )


def _ranks_in_frame(G: Generator, ranks: np.ndarray) -> np.ndarray:
    """Rank maps at the output size → the square frame, the crop at its place (padding counts as W+)."""
    r = G.cfg.resolution
    h, w = ranks.shape[-2:]
    if (h, w) == (r, r):
        return ranks
    out = np.zeros((ranks.shape[0], r, r), ranks.dtype)
    top, left = G.cfg.crop[:2]
    out[:, top : top + h, left : left + w] = ranks
    return out


# ---- files ---------------------------------------------------------------------------------
def save_encoder(encoder: SAMEncoder, path: str | os.PathLike, metadata: dict | None = None, half: bool = True) -> Path:
    """Our own format: {"format", "config", "state_dict" (float16 by default: half the size),
    "metadata"}, written atomically."""
    state = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in encoder.state_dict().items()}
    blob = {"format": FORMAT, "config": encoder.cfg.to_dict(), "state_dict": state, "metadata": dict(metadata or {})}
    path = Path(path)
    atomic_write(path, lambda tmp: torch.save(blob, tmp))
    return path


class EncoderError(ValueError):
    """The file is not an encoder this program can read (the message says why)."""


def load_encoder(
    path: str | os.PathLike, device: torch.device | str = "cpu", G: Generator | None = None
) -> SAMEncoder | E4EEncoder:
    """Read an encoder written by `save_encoder`, or an official e4e / pSp checkpoint (the
    `e4e-*` registry entries); with `G`, check that it fits that generator."""
    try:
        blob = safe_torch_load(Path(path), "encoder")
    except UnreadableFile as exc:
        raise EncoderError(str(exc)) from exc
    if is_e4e_checkpoint(blob):
        try:
            e4e = e4e_from_checkpoint(blob, None if G is None else tuple(G.cfg.output_size), Path(path).name)
        except E4EFormatError as exc:
            raise EncoderError(str(exc)) from exc
        if G is not None and (e4e.num_ws, e4e.spec["w_dim"]) != (G.num_ws, G.w_dim):
            raise EncoderError(
                f"{Path(path).name} encodes {e4e.num_ws}×{e4e.spec['w_dim']} w+ "
                f"(a {e4e.spec['stylegan_size']} px StyleGAN2); this generator has {G.num_ws}×{G.w_dim}"
            )
        return e4e.to(device)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise EncoderError(
            f"{Path(path).name} is not a SAM Editor encoder (format {blob.get('format') if isinstance(blob, dict) else None!r})"
        )
    try:
        cfg = EncoderConfig.from_dict(blob["config"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise EncoderError(f"{Path(path).name}: a damaged SAM Editor encoder (its config: {type(exc).__name__}: {str(exc)[:160]})") from exc
    if G is not None and (cfg.resolution, cfg.num_ws, cfg.w_dim) != (G.cfg.resolution, G.num_ws, G.w_dim):
        raise EncoderError(
            f"the encoder was trained for a {cfg.resolution} px generator with {cfg.num_ws}×{cfg.w_dim} w+, "
            f"this generator is {G.cfg.resolution} px with {G.num_ws}×{G.w_dim}"
        )
    try:
        enc = SAMEncoder(cfg)
        enc.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
        enc.metadata = dict(blob.get("metadata", {}))  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        raise EncoderError(f"{Path(path).name}: encoder weights do not match their config ({type(exc).__name__}: {str(exc)[:160]})") from exc
    return enc.to(device).eval()


def parameter_count(encoder: nn.Module) -> int:
    return sum(p.numel() for p in encoder.parameters())


def feature_indices(encoder: SAMEncoder) -> Sequence[int]:
    return sorted(encoder.cfg.feature_shapes)
