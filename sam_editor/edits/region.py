"""Edits limited to a region of the image, through the gating of §3.4.

The gated pass already keeps a region inverted in F_i unedited up to F_i: there it takes the
unedited f_i (and skip image) of the reconstruction. To keep everything *outside* a chosen region
unedited, that region is added to the masks m_i of every feature space (F4…F10):

    m_i' = max(m_i, 1 − r_i),     Δf_i' = Δf_i ⊙ m_i / m_i'   (so m_i' ⊙ Δf_i' = m_i ⊙ Δf_i),

with r_i the region resized to F_i's grid like any latent-map mask. The reconstruction is unchanged
(same m ⊙ Δf at every F_i); an edit then reaches outside the region only through the style rows
after the last feature space (F10's toRGB). The masks at F4, F6, F8 are soft at the region's
border at their coarser resolutions, so edited and unedited parts blend instead of meeting at a
seam. Not in the paper: StyleCLIP and GANSpace edits are global; an image editor's "edit only the
selection" is what this adds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..gan.layers import FEATURE_SPACES
from ..gan.networks import Generator


def limit_to_region(
    G: Generator,
    delta_f: Mapping[int, torch.Tensor] | None,  # i → Δf_i (N, C_i, H_i, W_i)
    masks: Mapping[int, torch.Tensor] | None,  # i → m_i (N|1, 1, H_i, W_i) in [0, 1]
    region: np.ndarray | torch.Tensor,  # (H_out, W_out) bool/[0, 1]: where edits may act
) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """(Δf', m') of φ with everything outside `region` held unedited (see module docstring)."""
    delta_f = dict(delta_f or {})
    masks = dict(masks or {})
    r = torch.as_tensor(np.asarray(region, np.float32) if not isinstance(region, torch.Tensor) else region).float()
    if r.ndim != 2 or tuple(r.shape) != tuple(G.cfg.output_size):
        raise ValueError(f"region must be (H, W) = {tuple(G.cfg.output_size)}, got {tuple(r.shape)}")
    some = next(iter(masks.values()), None)
    device = some.device if some is not None else G.mapping.w_avg.device
    outside_full = (1.0 - r.clamp(0, 1)).to(device).view(1, 1, *r.shape)
    have = set(G.feature_indices())
    for space in FEATURE_SPACES:
        i = space.index
        if i not in have:
            continue
        outside = G.mask_to_feature(outside_full, i)
        m = masks.get(i)
        if m is None:
            masks[i] = outside
            continue
        new = torch.maximum(m, outside.to(m.dtype))
        if i in delta_f:
            delta_f[i] = delta_f[i] * (m / new.clamp_min(1e-6))
        masks[i] = new
    return delta_f, masks
