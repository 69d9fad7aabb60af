"""Image → refined latent map (paper Fig. 3.1 right): predict e_l (eq. 3.2), segment, refine
by per-segment averaging (§3.1) and select a space per segment with threshold τ (§3.2)."""

from __future__ import annotations

import numpy as np

from sam_editor.invertibility.latent_map import TAU_DEFAULT, LatentMap, segment_means
from sam_editor.invertibility.predictor import InvertibilityPredictor, predict
from sam_editor.invertibility.segmenters import Segmenter

__all__ = ["latent_map_for_image", "refine_in_box", "restrict_labels"]


def latent_map_for_image(
    image: np.ndarray,
    predictor: InvertibilityPredictor,
    segmenter: Segmenter,
    tau: float = TAU_DEFAULT,
    *,
    labels: np.ndarray | None = None,
    keep_pixels: bool = True,
    box: tuple[int, int, int, int] | None = None,
) -> LatentMap:
    """Build the :class:`LatentMap` of an RGB uint8 image at its own resolution.

    ``labels`` skips the segmenter (e.g. a cached segmentation); ``keep_pixels`` keeps the raw
    predicted maps on the result (``pixel_errors``) for display. ``box`` = (top, left, h, w):
    the part of the image that is the photo (`sam_editor.imageio.letterbox`); the padding
    outside it neither forms segments nor counts in a segment's mean invertibility (§3.1) —
    each padding pixel joins the segment of the photo pixel nearest to it.
    """
    errors = predict(predictor, image)
    if labels is None:
        labels = segmenter.segment(image)
    if box is None or tuple(box[2:]) == labels.shape:
        return LatentMap.from_predictions(errors, labels, tau, keep_pixels=keep_pixels)
    full, means = refine_in_box(errors, labels, box)
    return LatentMap(full, means, tau, pixel_errors=np.asarray(errors, np.float32) if keep_pixels else None)


def refine_in_box(
    errors: np.ndarray, labels: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Refinement (§3.1) of error maps ``errors`` (S, H, W) over the photo's ``box`` only: the
    labels of `restrict_labels` (H, W) and each segment's mean error inside the box (K, S)."""
    t, left, h, w = (int(v) for v in box)
    full = restrict_labels(labels, box)
    return full, segment_means(errors[:, t : t + h, left : left + w], full[t : t + h, left : left + w])


def restrict_labels(labels: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """The segments of the photo's `box` = (top, left, h, w) only: labels renumbered 0..K-1
    over the box (segments lying wholly in the padding vanish) and the padding filled by
    repeating the box's edge labels outwards, i.e. with the segment of the nearest photo pixel."""
    if box is None or tuple(box[2:]) == labels.shape:
        return labels
    t, left, h, w = (int(v) for v in box)
    inner = labels[t : t + h, left : left + w]
    _, renumbered = np.unique(inner, return_inverse=True)
    inner = renumbered.reshape(inner.shape).astype(np.int32)
    rows = np.clip(np.arange(labels.shape[0]) - t, 0, h - 1)
    cols = np.clip(np.arange(labels.shape[1]) - left, 0, w - 1)
    return np.ascontiguousarray(inner[np.ix_(rows, cols)])
