"""Blend-back: an edit made at the generator's resolution, applied to the photo at its own.

The generator reconstructs a photo only approximately and at its own small size, so exporting
the edited generator image throws the photo's detail away. Instead the *change* the edit makes,

    Δ = x̂_edit − x̂_rec                       (both at the generator's size, sRGB 0…255),

is cropped to the photo's box, upsampled to the photo's size and added to the photo, weighted
by a soft mask r̃ of where the edit can act (the reach map of the §3.4 gating, feathered):

    y = photo + up(r̃) ⊙ up(Δ).

Where r̃ = 0 the photo comes back bit-identical; where the edit acts it keeps the photo's
detail and takes the edit's (low-frequency) change. Edits that move things (a car moving right)
leave a ghost this way — "generator image only" exports the generator's image instead.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..imageio import Placement

FEATHER_SIGMA = 1.0  # frame pixels: the reach map's edge is softened over about ±2 px


def soft_reach(reach: np.ndarray, sigma: float = FEATHER_SIGMA) -> np.ndarray:
    """(H, W) bool → (H, W) float32 in [0, 1]: the reach map with a Gaussian-feathered edge.
    The kernel is finite, so pixels more than ~3σ outside the reach stay exactly 0."""
    r = reach.astype(np.float32)
    if sigma <= 0:
        return r
    k = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(r, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)


def edit_delta(edited: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Δ = edited − reconstruction, (H, W, 3) float32 in −255…255."""
    if edited.shape != reconstruction.shape:
        raise ValueError(f"edited {edited.shape} and reconstruction {reconstruction.shape} differ in size")
    return edited.astype(np.float32) - reconstruction.astype(np.float32)


def blend_back(
    photo: np.ndarray,  # (Hp, Wp, 3) uint8, the photo at its own resolution
    edited: np.ndarray,  # (H, W, 3) uint8 at the generator's frame size
    reconstruction: np.ndarray,  # (H, W, 3) uint8, same size
    reach: np.ndarray | None,  # (H, W) bool or float in [0, 1]: where the edit may act; None: everywhere
    placement: Placement,
) -> np.ndarray:
    """The photo with the edit applied at its own resolution, (Hp, Wp, 3) uint8 (see module doc)."""
    if photo.shape[:2] != placement.photo:
        raise ValueError(f"photo {photo.shape[:2]} is not the placed photo {placement.photo}")
    rows, cols = placement.slices()
    delta = edit_delta(edited, reconstruction)[rows, cols]
    if reach is None:
        weight = np.ones(delta.shape[:2], np.float32)
    else:
        weight = (soft_reach(reach) if reach.dtype == bool else reach.astype(np.float32))[rows, cols]
    acting = (weight > 0) & (np.abs(delta).max(axis=2) > 0)
    if not acting.any():
        return photo.copy()
    hp, wp = placement.photo
    # Only the rows/columns the edit touches are upsampled and blended: a local edit on a
    # 24-Mpx photo costs what its area costs.
    y0, y1, x0, x1 = _bounds(acting, (hp, wp))
    w_up = _resize_part(weight, (hp, wp), (y0, y1, x0, x1), cv2.INTER_LINEAR)  # linear: zeros stay 0
    d_up = _resize_part(delta, (hp, wp), (y0, y1, x0, x1), cv2.INTER_CUBIC)
    out = photo.copy()
    part = out[y0:y1, x0:x1].astype(np.float32)
    part += d_up * w_up[..., None]
    np.clip(part, 0, 255, out=part)
    out[y0:y1, x0:x1] = (part + 0.5).astype(np.uint8)
    return out


def _bounds(acting: np.ndarray, photo: tuple[int, int]) -> tuple[int, int, int, int]:
    """Photo-pixel bounds (y0, y1, x0, x1) of the box pixels where the edit acts (`acting`,
    at box size), grown by two box pixels so the interpolation near the edge is complete."""
    h, w = acting.shape
    ys, xs = np.nonzero(acting)
    sy, sx = photo[0] / h, photo[1] / w
    y0 = max(0, int(np.floor((ys.min() - 2) * sy)))
    y1 = min(photo[0], int(np.ceil((ys.max() + 3) * sy)))
    x0 = max(0, int(np.floor((xs.min() - 2) * sx)))
    x1 = min(photo[1], int(np.ceil((xs.max() + 3) * sx)))
    return y0, y1, x0, x1


def _resize_part(a: np.ndarray, size: tuple[int, int], part: tuple[int, int, int, int], interp: int) -> np.ndarray:
    """The rows y0:y1, columns x0:x1 of `a` resized to `size` = (H, W), without resizing the rest:
    cv2.warpAffine with the full-size scale, evaluated only over the part."""
    y0, y1, x0, x1 = part
    h, w = a.shape[:2]
    sy, sx = size[0] / h, size[1] / w
    if (y0, y1, x0, x1) == (0, size[0], 0, size[1]):
        return cv2.resize(a, (size[1], size[0]), interpolation=interp)
    # destination pixel (x, y) of the part samples source ((x + x0 + ½)/sx − ½, (y + y0 + ½)/sy − ½),
    # the same pixel-centre convention as cv2.resize
    m = np.array([[1 / sx, 0, (x0 + 0.5) / sx - 0.5], [0, 1 / sy, (y0 + 0.5) / sy - 0.5]], np.float64)
    return cv2.warpAffine(a, m, (x1 - x0, y1 - y0), flags=interp | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
