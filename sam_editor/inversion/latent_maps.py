"""Latent maps as inversion input: for each pixel, the latent space (§3.2) its segment uses.

Accepted forms (one image each):

* any object with `.masks() -> dict[LayerSpace, bool array (H, W)]` (e.g.
  `sam_editor.invertibility.latent_map.LatentMap`);
* a dict `{LayerSpace | 'W+' | 'F6' …: bool mask (H, W)}` — pixels in no mask are W+;
* an integer rank map (H, W): 0 = W+, 1 = F4, 2 = F6, 3 = F8, 4 = F10 (`LayerSpace.rank`).

Everything is normalised to a rank map, and the feature masks m_i of eq. 3.3 come from
`G.mask_to_feature` (bilinear resize to each feature's grid).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from ..gan.layers import FEATURE_SPACES, LayerSpace
from ..gan.networks import Generator

SPACES: tuple[LayerSpace, ...] = tuple(LayerSpace)  # index = rank
log = logging.getLogger(__name__)


def _as_numpy(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _resize_ranks(ranks: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or tuple(ranks.shape) == tuple(size):
        return ranks
    return cv2.resize(ranks, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def to_rank_map(latent_map: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """One latent map in any accepted form → uint8 ranks (H, W), nearest-resized to `size`."""
    if hasattr(latent_map, "masks") and callable(latent_map.masks):
        latent_map = latent_map.masks()
    if isinstance(latent_map, Mapping):
        ranks: np.ndarray | None = None
        covered: np.ndarray | None = None
        for key, mask in latent_map.items():
            space = key if isinstance(key, LayerSpace) else LayerSpace.parse(str(key))
            m = _as_numpy(mask)
            if m.ndim == 3 and m.shape[0] == 1:
                m = m[0]
            if m.ndim != 2:
                raise ValueError(f"mask for {space} must be (H, W), got shape {m.shape}")
            m = m.astype(bool)
            if ranks is None:
                ranks = np.zeros(m.shape, np.uint8)
                covered = np.zeros(m.shape, bool)
            if m.shape != ranks.shape:
                raise ValueError(f"latent-map masks differ in size: {m.shape} vs {ranks.shape}")
            assert covered is not None
            if space is not LayerSpace.W_PLUS:
                if (covered & m).any():
                    raise ValueError(f"latent map assigns some pixels to {space} and to another feature space")
                covered |= m
                ranks[m] = space.rank
        if ranks is None:
            raise ValueError("empty latent map")
        return _resize_ranks(ranks, size)
    a = _as_numpy(latent_map)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"a rank latent map must be (H, W), got shape {a.shape}")
    if a.dtype == bool:
        raise ValueError("a bare bool mask is ambiguous: pass {LayerSpace.F6: mask} or an int rank map")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.mod(a, 1) == 0):
            raise ValueError("a rank latent map holds integers 0 (W+) … 4 (F10)")
    if a.size and (a.min() < 0 or a.max() >= len(SPACES)):
        raise ValueError(f"latent-map ranks must lie in 0…{len(SPACES) - 1} (W+ … F10), got {a.min()}…{a.max()}")
    return _resize_ranks(a.astype(np.uint8), size)


def rank_maps(latent_map: Any, n: int, size: tuple[int, int]) -> np.ndarray:
    """One map for all N images, or a sequence of N maps → uint8 (N, H, W) at `size`."""
    if isinstance(latent_map, Sequence) and not isinstance(latent_map, (str, bytes)) and len(latent_map) == n and n > 0:
        first = latent_map[0]
        if hasattr(first, "masks") or isinstance(first, Mapping) or _as_numpy(first).ndim == 2:
            return np.stack([to_rank_map(m, size) for m in latent_map])
    if (
        isinstance(latent_map, (np.ndarray, torch.Tensor))
        and latent_map.ndim == 3
        and latent_map.shape[0] == n
        and n > 1
    ):
        return np.stack([to_rank_map(m, size) for m in latent_map])
    one = to_rank_map(latent_map, size)
    return np.repeat(one[None], n, axis=0)


def spaces_used(ranks: np.ndarray) -> list[LayerSpace]:
    return [s for s in SPACES if (ranks == s.rank).any()]


def feature_masks(G: Generator, ranks: np.ndarray, device: torch.device | str | None = None) -> dict[int, torch.Tensor]:
    """Ranks (N, H_out, W_out) → {i: m_i (N, 1, H_i, W_i)} for the feature spaces present, via
    `G.mask_to_feature` (the paper's bilinear resize). Raises if G lacks a space the map uses."""
    device = device if device is not None else G.mapping.w_avg.device
    available = set(G.feature_indices())
    out: dict[int, torch.Tensor] = {}
    for space in FEATURE_SPACES:
        sel = ranks == space.rank
        if not sel.any():
            continue
        if space.index not in available:
            raise ValueError(
                f"the latent map assigns pixels to {space}, but this {G.cfg.resolution}px generator's "
                f"features are F{min(available)}…F{max(available)}"
            )
        m = torch.from_numpy(sel[:, None].astype(np.float32)).to(device)
        out[space.index] = G.mask_to_feature(m, space.index)
    return out


def full_feature_mask(G: Generator, index: int, device: torch.device | str | None = None) -> torch.Tensor:
    """m_i = 1 over the whole feature grid (1, 1, H_i, W_i): single-space inversion in F_i, as the
    official `single_latent_inv.py` (it adds Δf_i unmasked, crop margin included)."""
    if index not in G.feature_indices():
        raise ValueError(f"F{index} does not exist in a {G.cfg.resolution}px generator")
    _, h, w = G.feature_shape(index)
    device = device if device is not None else G.mapping.w_avg.device
    return torch.ones(1, 1, h, w, device=device)
