"""Calibrate a bundle's threshold τ (paper §3.2) to the metric its predictor predicts.

The paper's τ = 0.225 is a threshold on predicted LPIPS-VGG error. The demo predictor predicts
another error (the l2+SSIM fallback: LPIPS-VGG weights are not shipped), on another scale, so
its τ must be chosen again. The paper chose τ "empirically such that the inversion is
perceptually close to the input image, without severely sacrificing editability" and shows the
result in Fig. 3.3: the car in W+, the regions the generator cannot draw in F4/F6. On the car world
both halves of that trade-off are measurable, because the renderer labels every pixel:

1. Render ``n`` held-out cluttered scenes (``seed``, a seed no training uses; clutter drawn by
   `demo.clutter`, photo crops from ``photos`` when given) with their class maps.
2. Predict e_l (eq. 3.2) with the bundle's predictor, segment with the bundle's segmenter and
   average per segment (§3.1) — exactly what the app does.
3. For every τ on a grid (0.02–1.5, step 0.005) select the spaces (§3.2) and measure, over all
   images' pixels: **car in W+** (share of car pixels whose segment is in W+: editability) and
   **clutter in F** (share of clutter pixels in F4–F10: what W+ cannot draw is kept faithful).
4. The default τ is the grid value that maximises min(car in W+, clutter in F) (the balanced
   operating point; ties → the smaller, more faithful τ).
5. The slider range keeps the paper's proportions around its default (0.10–0.40 around 0.225):
   [0.444 τ, 1.778 τ], widened if needed so that it contains every τ where the balanced score is
   within 5 points of its best.

Step 3 also reports the *predicted* mean error of the SAM map next to W+ alone and the best
single space, so the file records the reconstruction side; `benchmarks/bench_semantic_map.py`
measures it with real inversions (PSNR of SAM vs W+, car and clutter shares at the chosen τ).
The result is written as the bundle's ``tau.json`` (read by `invertibility.latent_map.read_tau_scale`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..invertibility.latent_map import TAU_FORMAT, segment_means, select_spaces
from ..invertibility.predictor import predict
from ..util import atomic_write
from . import carworld
from .clutter import cluttered_scene

GRID = np.round(np.arange(0.02, 1.5001, 0.005), 4)
PAPER_RANGE = (0.10 / 0.225, 0.40 / 0.225)


def heldout_scenes(n: int, seed: int, size: int = 128, photos: Sequence[str | Path] = ()) -> tuple[np.ndarray, np.ndarray]:
    """n cluttered renders and their class maps (seed `seed`): ((n, s, s, 3) uint8, (n, s, s) uint8)."""
    rng = np.random.default_rng(seed)
    out = [cluttered_scene(rng, size, photo_paths=tuple(str(p) for p in photos))[:2] for _ in range(n)]
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def segment_tables(images: np.ndarray, predictor: Any, segmenter: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: (labels, segment means (K, 5), predicted errors (5, H, W)) — τ-independent."""
    out = []
    for img in images:
        errors = predict(predictor, img)
        labels = segmenter.segment(img)
        out.append((labels, segment_means(errors, labels), errors))
    return out


def curves(tables, classes: np.ndarray, grid: np.ndarray = GRID) -> dict[str, np.ndarray]:
    """car in W+, clutter in F and the predicted mean error of the map, for every τ in `grid`."""
    car_w, clutter_f, err = np.zeros(len(grid)), np.zeros(len(grid)), np.zeros(len(grid))
    n_car = sum(int((c == carworld.CAR).sum()) for c in classes)
    n_clutter = sum(int((c == carworld.CLUTTER).sum()) for c in classes)
    n_px = sum(c.size for c in classes)
    for (labels, means, errors), cls in zip(tables, classes, strict=True):
        car, clutter = cls == carworld.CAR, cls == carworld.CLUTTER
        for i, tau in enumerate(grid):
            ranks = select_spaces(means, float(tau))[labels]
            car_w[i] += (ranks[car] == 0).sum()
            clutter_f[i] += (ranks[clutter] > 0).sum()
            err[i] += np.take_along_axis(errors, ranks[None], 0).sum()
    return {"tau": grid, "car_in_wplus": car_w / max(n_car, 1), "clutter_in_f": clutter_f / max(n_clutter, 1),
            "predicted_error": err / n_px}


def choose_tau(c: dict[str, np.ndarray]) -> tuple[float, float, float]:
    """(default τ, range low, range high) by steps 4–5 of the module docstring."""
    score = np.minimum(c["car_in_wplus"], c["clutter_in_f"])
    best = int(np.argmax(score))  # first maximum: the smallest τ
    tau = float(c["tau"][best])
    near = c["tau"][score >= score[best] - 0.05]
    lo = min(round(PAPER_RANGE[0] * tau, 3), float(near.min()))
    hi = max(round(PAPER_RANGE[1] * tau, 3), float(near.max()))
    return tau, lo, hi


def calibrate(predictor: Any, segmenter: Any, n: int = 80, seed: int = 8_300_000, size: int = 128,
              photos: Sequence[str | Path] = ()) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Steps 1–5 → (figures for tau.json, the curves)."""
    images, classes = heldout_scenes(n, seed, size, photos)
    tables = segment_tables(images, predictor, segmenter)
    c = curves(tables, classes)
    tau, lo, hi = choose_tau(c)
    i = int(np.flatnonzero(c["tau"] == tau)[0])
    mean_e = np.mean([e.mean(axis=(1, 2)) for _, _, e in tables], 0)  # per space, whole images
    figures = {
        "heldout": f"{n} cluttered renders, seed {seed}" + (f", photo clutter from {len(photos)} photos" if photos else ""),
        "segmenter": getattr(segmenter, "label", type(segmenter).__name__),
        "segments_per_image": round(float(np.mean([t[1].shape[0] for t in tables])), 2),
        "at_tau": {"car_in_wplus": round(float(c["car_in_wplus"][i]), 4), "clutter_in_f": round(float(c["clutter_in_f"][i]), 4),
                   "predicted_error_sam": round(float(c["predicted_error"][i]), 4)},
        "predicted_error_single_space": {s: round(float(v), 4) for s, v in zip(("W+", "F4", "F6", "F8", "F10"), mean_e, strict=True)},
        "curve": {f"{t:g}": [round(float(a), 3), round(float(b), 3)]
                  for t, a, b in zip(c["tau"], c["car_in_wplus"], c["clutter_in_f"], strict=True) if round(t * 1000) % 25 == 0},
    }
    return {"tau": tau, "range": [lo, hi], **figures}, c


def write_tau_file(path: Path, metric: str, result: dict[str, Any], command: str) -> Path:
    data = {"format": TAU_FORMAT, "metric": metric, "tau": result["tau"], "range": result["range"],
            "source": "sam-editor demo calibrate-tau (procedure: sam_editor/demo/calibrate_tau.py)", "command": command,
            **{k: v for k, v in result.items() if k not in ("tau", "range")}}
    return atomic_write(path, json.dumps(data, indent=1) + "\n")
