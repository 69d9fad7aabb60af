"""Invertibility prediction and adaptive latent-space selection (paper §3.1–3.2).

* :mod:`.predictor` — the predictor S (eq. 3.2): shared backbone, one head per latent space;
* :mod:`.segmenters` — segmentations used to refine the prediction per segment (§3.1);
* :mod:`.latent_map` — :class:`LatentMap`: per-segment means, threshold τ, overrides, masks (§3.2);
* :mod:`.data` / :mod:`.train` — LPIPS error-map targets (eq. 3.1) and ℓ2 training (eq. 3.2);
* :mod:`.commands` — ``latent-map`` and ``train-invertibility`` CLI sub-commands.

Names are imported lazily so that ``from sam_editor.invertibility.commands import register``
does not load torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "SPACE_COLORS": "latent_map",
    "TAU_DEFAULT": "latent_map",
    "TAU_MAX": "latent_map",
    "TAU_MIN": "latent_map",
    "LatentMap": "latent_map",
    "legend_entries": "latent_map",
    "legend_image": "latent_map",
    "latent_map_for_image": "pipeline",
    "InvertibilityPredictor": "predictor",
    "OfficialSAMPredictor": "predictor",
    "TinyInvertibilityNet": "predictor",
    "load_official_predictor": "predictor",
    "load_predictor": "predictor",
    "predict": "predictor",
    "save_predictor": "predictor",
    "Segmenter": "segmenters",
    "OversegSegmenter": "segmenters",
    "TorchvisionSemanticSegmenter": "segmenters",
    "make_segmenter": "segmenters",
    "generate_targets": "data",
    "train_predictor": "train",
    "TrainResult": "train",
    "register": "commands",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
