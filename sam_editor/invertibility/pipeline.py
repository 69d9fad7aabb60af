"""Image → refined latent map (paper Fig. 3.1 right): predict e_l (eq. 3.2), segment, refine
by per-segment averaging (§3.1) and select a space per segment with threshold τ (§3.2)."""

from __future__ import annotations

import numpy as np

from sam_editor.invertibility.latent_map import TAU_DEFAULT, LatentMap
from sam_editor.invertibility.predictor import InvertibilityPredictor, predict
from sam_editor.invertibility.segmenters import Segmenter

__all__ = ["latent_map_for_image"]


def latent_map_for_image(
    image: np.ndarray,
    predictor: InvertibilityPredictor,
    segmenter: Segmenter,
    tau: float = TAU_DEFAULT,
    *,
    labels: np.ndarray | None = None,
    keep_pixels: bool = True,
) -> LatentMap:
    """Build the :class:`LatentMap` of an RGB uint8 image at its own resolution.

    ``labels`` skips the segmenter (e.g. a cached segmentation); ``keep_pixels`` keeps the raw
    predicted maps on the result (``pixel_errors``) for display.
    """
    errors = predict(predictor, image)
    if labels is None:
        labels = segmenter.segment(image)
    return LatentMap.from_predictions(errors, labels, tau, keep_pixels=keep_pixels)
