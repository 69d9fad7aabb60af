"""Blend-back: an edit made at the generator's resolution, applied to the photo at its own.

The generator reconstructs a photo only approximately and at its own small size, so exporting
the edited generator image throws the photo's detail away. Instead the *change* the edit makes,

    Δ = x̂_edit − x̂_rec                       (both at the generator's size, sRGB 0…255),

restricted to where the edit can act (the reach map of the §3.4 gating: r ⊙ Δ), is carried to
the photo's resolution *guided by the photo itself* and added to it:

    y = photo + A(p) · photo(p) + b(p).

A and b are the coefficients of a guided filter (He, Sun & Tang) fitted at the generator's size:
in every window of (2·RADIUS + 1)² frame pixels the change is modelled as a local affine function
of the photo's colour there (the photo reduced to the frame, as the generator saw it), r ⊙ Δ ≈
A·photo + b, a 3×3 colour matrix A and an offset b. They vary slowly, so they are upsampled
bilinearly and applied to every photo pixel with *its own* colour ("fast guided filter"
upsampling, He & Sun 2015). Consequences:

- an edge of the photo is an edge of the change: a frame pixel that straddles the car's outline
  holds a mix of car and road, and the model says how much of the change goes with which colour,
  so each photo pixel takes the share its own colour calls for — the change stops where the
  photo's edge is, not 1–2 frame pixels (30–60 photo pixels at 4000 px) outside it;
- the change is carried as a function of colour, so shading and texture inside the edited part
  keep their contrast (a darker panel gets the darker version of the new colour: the luminance
  change scales with the luminance, the chroma change follows the chroma);
- pixels whose windows see no change (r ⊙ Δ = 0 within RADIUS + 1 frame pixels) get A = 0 and
  b = 0 and stay bit-identical.

OpenCV's ximgproc.guidedFilter computes the filtered image at the guide's resolution: run at
12 Mpx it takes ~15 s on one core, and it does not hand out A and b, which upsampling needs;
the coefficients are therefore computed here (box filters and a batched 3×3 solve at the
frame's size, a few ms). Edits that move things (a car moving right) leave a ghost this way —
"generator image only" exports the generator's image instead.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..imageio import Placement

RADIUS = 1  # frame pixels: the window of the local colour model is 3×3 frame pixels
EPS = 3e-4  # regularisation of A (guide in 0…1): colour variation below ~0.02 counts as flat
STRIP = 32  # photo rows per pass at full size: the float32 temporaries stay in the CPU's cache


def edit_delta(edited: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Δ = edited − reconstruction, (H, W, 3) float32 in −255…255."""
    if edited.shape != reconstruction.shape:
        raise ValueError(f"edited {edited.shape} and reconstruction {reconstruction.shape} differ in size")
    return edited.astype(np.float32) - reconstruction.astype(np.float32)


def guided_coefficients(guide: np.ndarray, target: np.ndarray, radius: int = RADIUS, eps: float = EPS) -> np.ndarray:
    """Guided-filter coefficients of `target` ≈ A · guide + b, fitted in the window centred on
    each pixel (not averaged over the windows that hold it, as the guided filter itself does: that
    would mix the model of a window that sees only the car into the road pixels beside it).

    guide (h, w, 3) float32 in 0…1, target (h, w, C) float32 → (h, w, 4C) float32: A as
    [A[:, 0], A[:, 1], A[:, 2]] (the change per unit of guide channel 0, 1, 2; C output
    channels each), then b. Where `target` is 0 over a whole window, A and b are exactly 0."""
    k = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k, normalize=True, borderType=cv2.BORDER_REFLECT)

    h, w = guide.shape[:2]
    n = target.shape[2]
    mean_i = box(guide)  # (h, w, 3)
    mean_p = box(target).reshape(h, w, n)  # (cv2 drops a single channel's axis)
    # covariance of the guide (3×3) and between guide and target (3×C), per window
    ii = np.stack([guide[..., a] * guide[..., b] for a in range(3) for b in range(3)], -1)
    ip = np.stack([guide[..., a] * target[..., c] for a in range(3) for c in range(n)], -1)
    cov_ii = (box(ii).reshape(h, w, 3, 3) - mean_i[..., :, None] * mean_i[..., None, :]) + eps * np.eye(3, dtype=np.float32)
    cov_ip = box(ip).reshape(h, w, 3, n) - mean_i[..., :, None] * mean_p[..., None, :]
    a = _solve_3x3(cov_ii, cov_ip)  # (h, w, 3 in, C out); float32 is enough: eps bounds the condition number
    b = mean_p - (mean_i[..., None, :] @ a)[..., 0, :]
    coef = np.concatenate([a.reshape(h, w, 3 * n), b], -1)
    # exact zeros where a window sees no change (box filters' running sums leave ~1e-9 there)
    acting = (np.abs(target).max(axis=2) > 0).astype(np.uint8)
    kernel = np.ones(k, np.uint8)
    seen = cv2.dilate(acting, kernel, borderType=cv2.BORDER_REFLECT)
    coef[seen == 0] = 0
    return coef


def _solve_3x3(m: np.ndarray, r: np.ndarray) -> np.ndarray:
    """m⁻¹ · r for a field of symmetric positive-definite 3×3 matrices m (…, 3, 3), by cofactors:
    ~20× faster than np.linalg.solve's batched LU for 3×3 systems."""
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 1], m[..., 1, 2], m[..., 2, 2]
    inv = np.empty_like(m)
    inv[..., 0, 0] = d * f - e * e
    inv[..., 0, 1] = inv[..., 1, 0] = c * e - b * f
    inv[..., 0, 2] = inv[..., 2, 0] = b * e - c * d
    inv[..., 1, 1] = a * f - c * c
    inv[..., 1, 2] = inv[..., 2, 1] = b * c - a * e
    inv[..., 2, 2] = a * d - b * b
    det = a * inv[..., 0, 0] + b * inv[..., 0, 1] + c * inv[..., 0, 2]
    return (inv @ r) / det[..., None, None]


def photo_output(
    which: str,  # 'source' | 'reconstruction' | 'edited'
    image: np.ndarray,  # (H, W, 3) uint8 at the generator's frame size: what `which` shows there
    photo: np.ndarray,  # (Hp, Wp, 3) uint8, the photo at its own resolution
    reconstruction: Callable[[], np.ndarray],  # the frame's reconstruction, asked for only when blending
    reach: Callable[[], np.ndarray | None],  # where the edit may act, asked for only when blending
    placement: Placement,
    full_size: bool = True,
) -> np.ndarray | None:
    """What an export writes for `which`: only the photo's pixels, never the letterbox padding. At the
    generator's size, `image` cropped to the photo; at the photo's own size, the photo itself, the
    reconstruction scaled up, or the edit blended back (`blend_back`). One rule for every generator
    family, so the StyleGAN2 and the BigGAN sessions export alike."""
    rows, cols = placement.slices()
    if not full_size:
        return np.ascontiguousarray(image[rows, cols])
    if which == "source":
        return photo
    if which == "reconstruction":
        ph, pw = placement.photo
        return cv2.resize(np.ascontiguousarray(image[rows, cols]), (pw, ph), interpolation=cv2.INTER_CUBIC)
    return blend_back(photo, image, reconstruction(), reach(), placement)


def blend_back(
    photo: np.ndarray,  # (Hp, Wp, 3) uint8, the photo at its own resolution
    edited: np.ndarray,  # (H, W, 3) uint8 at the generator's frame size
    reconstruction: np.ndarray,  # (H, W, 3) uint8, same size
    reach: np.ndarray | None,  # (H, W) bool or float in [0, 1]: where the edit may act; None: everywhere
    placement: Placement,
    *,
    guide: np.ndarray | None = None,
    window: tuple[int, int, int, int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """The photo with the edit applied at its own resolution, (Hp, Wp, 3) uint8 (see module doc).

    `guide`: the photo letterboxed into the frame (`imageio.letterbox`, the session's `work`),
    saves reducing `photo` again; the result is the same. `window` = (y0, y1, x0, x1): only that
    part of the result, (y1 − y0, x1 − x0, 3) — a view's visible part, at a reduced `photo`
    (with `placement.photo` its size) for a screen-resolution preview. `should_stop` is polled
    between strips of rows (the job contract of `util.ShouldStop`): True → None, nothing done."""
    if photo.shape[:2] != placement.photo:
        raise ValueError(f"photo {photo.shape[:2]} is not the placed photo {placement.photo}")
    hp, wp = placement.photo
    wy0, wy1, wx0, wx1 = (0, hp, 0, wp) if window is None else _clip_window(window, (hp, wp))
    rows, cols = placement.slices()
    delta = edit_delta(edited, reconstruction)[rows, cols]
    if reach is not None:
        # grown by one frame pixel: a frame pixel on an object's rim that the selection left out
        # (it holds less than half of the object) still carries its part of the change, which
        # the colour model then gives to the photo pixels of the object's colour only
        grown = cv2.dilate(reach.astype(np.float32), np.ones((3, 3), np.uint8))
        delta *= grown[rows, cols, None]
    acting = np.abs(delta).max(axis=2) > 0
    if not acting.any():
        return photo[wy0:wy1, wx0:wx1].copy()
    bh, bw = delta.shape[:2]
    if guide is not None:
        small = guide[rows, cols]
    else:
        small = photo if (bh, bw) == (hp, wp) else cv2.resize(photo, (bw, bh), interpolation=cv2.INTER_AREA)
    coef = _coefficients(small, delta)
    # Only the rows/columns the model touches are upsampled and applied: a local edit on a
    # 24-Mpx photo costs what its area costs.
    live = np.abs(coef).max(axis=2) > 0
    y0, y1, x0, x1 = _bounds(live, (hp, wp))
    y0, y1, x0, x1 = max(y0, wy0), min(y1, wy1), max(x0, wx0), min(x1, wx1)
    out = photo[wy0:wy1, wx0:wx1].copy()
    if y0 >= y1 or x0 >= x1:
        return out
    # bilinear upsampling (cv2.resize's pixel centres), done separably and channel-planar so every
    # full-size operation below runs over long contiguous rows: first along x for all frame rows …
    planar = np.ascontiguousarray(coef.transpose(2, 0, 1))  # (12, bh, bw)
    j0, j1, wx = _linear_taps(x0, x1, wp, bw)
    across = np.ascontiguousarray(planar[:, :, j0] * (1 - wx) + planar[:, :, j1] * wx)  # (12, bh, x1 - x0)
    step = np.empty_like(across)  # … then along y: row i of `across` + w · (row i+1 − row i)
    step[:, :-1] = across[:, 1:] - across[:, :-1]
    step[:, -1] = 0
    i0, _, wy = _linear_taps(y0, y1, hp, bh)
    for s0 in range(0, y1 - y0, STRIP):
        if should_stop is not None and should_stop():
            return None
        s1 = min(y1 - y0, s0 + STRIP)
        rows_i = i0[s0:s1]
        c = np.take(across, rows_i, axis=1)  # (12, rows, cols)
        c += np.take(step, rows_i, axis=1) * wy[None, s0:s1, None]
        g = photo[y0 + s0 : y0 + s1, x0:x1].transpose(2, 0, 1).astype(np.float32)  # (3, rows, cols)
        d = c[9:12]
        d += g  # b + the photo …
        for ch in range(3):  # … + A · photo
            d += c[3 * ch : 3 * ch + 3] * g[ch]
        d += 0.5
        np.clip(d, 0, 255, out=d)
        out[y0 - wy0 + s0 : y0 - wy0 + s1, x0 - wx0 : x1 - wx0] = cv2.merge(list(d.astype(np.uint8)))
    return out


_CACHE: dict[tuple, np.ndarray] = {}  # the last few coefficient fields, by content


def _coefficients(small: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """`guided_coefficients` with A per unit of the 0…255 photo (so the photo needs no rescaling),
    cached by the inputs' content: a preview per slider move and the full composite that follows
    share one fit (20 ms at 128 px, 0.35 s at 512 px)."""
    key = (hash(np.ascontiguousarray(small).tobytes()), hash(delta.tobytes()), small.shape, RADIUS, EPS)
    coef = _CACHE.get(key)
    if coef is None:
        coef = guided_coefficients(small.astype(np.float32) / 255, delta, RADIUS, EPS)
        coef[..., :9] /= 255
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = coef
    return coef


def _clip_window(window: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = (int(v) for v in window)
    y0, y1 = max(0, min(y0, size[0])), max(0, min(y1, size[0]))
    x0, x1 = max(0, min(x0, size[1])), max(0, min(x1, size[1]))
    if y1 <= y0 or x1 <= x0:
        raise ValueError(f"window {window} has no pixels of the {size[0]}×{size[1]} photo")
    return y0, y1, x0, x1


def _linear_taps(p0: int, p1: int, full: int, small: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For full-size pixels p0…p1−1 of an axis `small` → `full` long: the two source indices and
    the weight of the second, as cv2.resize(INTER_LINEAR) samples them (edge pixels replicated)."""
    src = (np.arange(p0, p1, dtype=np.float64) + 0.5) * (small / full) - 0.5
    src = np.clip(src, 0, small - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, small - 1)
    return lo, hi, (src - lo).astype(np.float32)


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


# ---- segment labels at the photo's resolution ---------------------------------------------------
# The same guided upsampling carries the invertibility map's segments to the photo (the source
# view's overlay, and which segment a click on a photo pixel means): each segment's mask is a
# target of the colour model above, its coefficients upsampled bilinearly and applied to each
# photo pixel's colour, and a pixel takes the segment whose mask is largest there.

_LABEL_CACHE: dict[tuple, dict[int, tuple[int, int, np.ndarray]]] = {}


def _segment_coefficients(small: np.ndarray, labels: np.ndarray) -> dict[int, tuple[int, int, np.ndarray]]:
    """Per segment k: (top, left, coef) — the colour model of its mask (labels == k) over the
    segment's bounding box grown by RADIUS + 1 frame pixels (outside it the coefficients are
    exactly 0; inside they equal a whole-frame fit), A per unit of the 0…255 photo. Cached by the
    inputs' content: the overlay is redrawn on every hover and pan."""
    key = (hash(np.ascontiguousarray(small).tobytes()), hash(np.ascontiguousarray(labels).tobytes()), small.shape, RADIUS, EPS)
    coefs = _LABEL_CACHE.get(key)
    if coefs is not None:
        return coefs
    coefs = {}
    guide = small.astype(np.float32) / 255
    h, w = labels.shape
    grow = 2 * (RADIUS + 1)  # the fit of a pixel within RADIUS + 1 of the box sees RADIUS more
    for k in np.unique(labels).tolist():
        ys, xs = np.nonzero(labels == k)
        y0, y1 = max(0, int(ys.min()) - grow), min(h, int(ys.max()) + 1 + grow)
        x0, x1 = max(0, int(xs.min()) - grow), min(w, int(xs.max()) + 1 + grow)
        target = (labels[y0:y1, x0:x1] == k).astype(np.float32)[..., None]
        coef = guided_coefficients(guide[y0:y1, x0:x1], target, RADIUS, EPS)
        coef[..., :3] /= 255
        coefs[int(k)] = (y0, x0, coef)
    if len(_LABEL_CACHE) >= 4:
        _LABEL_CACHE.pop(next(iter(_LABEL_CACHE)))
    _LABEL_CACHE[key] = coefs
    return coefs


def upsample_labels(
    photo: np.ndarray,  # (Hp, Wp, 3) uint8, the photo (or a reduced copy, with placement.photo its size)
    labels: np.ndarray,  # (H, W) int at the generator's frame size (the latent map's segments)
    placement: Placement,
    *,
    guide: np.ndarray | None = None,
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """The segments at the photo's resolution, (Hp, Wp) int32 (or the `window` = (y0, y1, x0, x1)
    part of it), following the photo's own edges: the segment whose mask, carried up like
    `blend_back` carries a change, is largest at each pixel. A pixel all of whose interpolation
    taps lie inside one segment (with their RADIUS windows) gets that segment, as nearest
    upsampling would give; only pixels near a segment boundary are decided by colour. `guide`
    as for `blend_back`."""
    if photo.shape[:2] != placement.photo:
        raise ValueError(f"photo {photo.shape[:2]} is not the placed photo {placement.photo}")
    if labels.shape != tuple(placement.frame):
        raise ValueError(f"labels {labels.shape} are not at the frame size {placement.frame}")
    hp, wp = placement.photo
    y0, y1, x0, x1 = (0, hp, 0, wp) if window is None else _clip_window(window, (hp, wp))
    rows, cols = placement.slices()
    lab = np.ascontiguousarray(labels[rows, cols]).astype(np.int32)
    bh, bw = lab.shape
    i0, i1, wy = _linear_taps(y0, y1, hp, bh)
    j0, j1, wx = _linear_taps(x0, x1, wp, bw)
    near_i = np.where(wy < 0.5, i0, i1)
    near_j = np.where(wx < 0.5, j0, j1)
    out = np.take(np.take(lab, near_i, axis=0), near_j, axis=1)  # separable: ~5× faster than a 2-D gather
    # frame pixels whose window holds more than one segment; a photo pixel is decided by colour
    # if one of its four taps is such a pixel
    kernel = np.ones((2 * RADIUS + 1,) * 2, np.uint8)
    lab_f = lab.astype(np.float32)  # exact for < 2^24 segments; cv2 has no int32 morphology
    mixed = cv2.dilate(lab_f, kernel) != cv2.erode(lab_f, kernel)
    if not mixed.any():
        return out
    rows_mixed = np.take(mixed, i0, axis=0) | np.take(mixed, i1, axis=0)
    amb = np.take(rows_mixed, j0, axis=1) | np.take(rows_mixed, j1, axis=1)
    py, px = np.nonzero(amb)
    if py.size == 0:
        return out
    if guide is not None:
        small = guide[rows, cols]
    else:
        small = photo if (bh, bw) == (hp, wp) else cv2.resize(photo, (bw, bh), interpolation=cv2.INTER_AREA)
    coefs = _segment_coefficients(small, lab)
    g = photo[y0 + py, x0 + px].astype(np.float32)  # (N, 3)
    ti0, ti1, tj0, tj1 = i0[py], i1[py], j0[px], j1[px]
    ty, tx = wy[py], wx[px]
    taps = ((ti0, tj0, (1 - ty) * (1 - tx)), (ti0, tj1, (1 - ty) * tx), (ti1, tj0, ty * (1 - tx)), (ti1, tj1, ty * tx))
    best = np.full(py.size, -np.inf, np.float32)
    best_k = out[py, px].copy()
    # a segment can win only where its coefficients reach one of the pixel's taps: its box's
    # rows of pixels (py is sorted), then its columns
    for k in np.unique(lab[cv2.dilate(mixed.astype(np.uint8), kernel).astype(bool)]).tolist():
        top, left, coef = coefs[k]
        ch, cw = coef.shape[:2]
        r0, r1 = np.searchsorted(i1, top), np.searchsorted(i0, top + ch)
        s0, s1 = np.searchsorted(py, r0), np.searchsorted(py, r1)
        c0, c1 = np.searchsorted(j1, left), np.searchsorted(j0, left + cw)
        idx = s0 + np.nonzero((px[s0:s1] >= c0) & (px[s0:s1] < c1))[0]
        if idx.size == 0:
            continue
        flat = coef.reshape(-1, 4)
        acc = np.zeros((idx.size, 4), np.float32)  # the coefficients interpolated: A (3), b
        for ti, tj, tw in taps:
            ri, rj = ti[idx] - top, tj[idx] - left
            inside = (ri >= 0) & (ri < ch) & (rj >= 0) & (rj < cw)
            acc += flat[np.clip(ri, 0, ch - 1) * cw + np.clip(rj, 0, cw - 1)] * (tw[idx] * inside)[:, None]
        soft = np.einsum("nc,nc->n", acc[:, :3], g[idx]) + acc[:, 3]
        win = soft > best[idx]
        best[idx[win]] = soft[win]
        best_k[idx[win]] = k
    out[py, px] = best_k
    return out
