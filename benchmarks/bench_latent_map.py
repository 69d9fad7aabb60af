"""Timing of the latent-map pipeline (paper §3.1–3.2) on CPU.

Prints milliseconds (median of ``--repeat`` runs) for: the predictor S (eq. 3.2), the
over-segmentation, the refinement (per-segment means + selection), the whole
``latent_map_for_image``, and re-thresholding an existing map (``with_tau`` + masks), at 512×384
and at the demo size (128×128).

    .venv/bin/python benchmarks/bench_latent_map.py [--predictor FILE] [--image FILE] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch

from sam_editor.invertibility.data import load_image
from sam_editor.invertibility.latent_map import LatentMap
from sam_editor.invertibility.pipeline import latent_map_for_image
from sam_editor.invertibility.predictor import TinyInvertibilityNet, load_predictor, predict
from sam_editor.invertibility.segmenters import OversegSegmenter


def scene(h: int, w: int) -> np.ndarray:
    """A synthetic road/sky/car image (used when no --image is given)."""
    rng = np.random.default_rng(0)
    img = np.zeros((h, w, 3), np.float32)
    hz = int(0.45 * h)
    t = np.linspace(0, 1, hz)[:, None, None]
    img[:hz] = (1 - t) * np.array([70, 130, 220]) + t * np.array([170, 200, 235])
    img[hz:] = 95 + rng.normal(0, 6, (h - hz, w, 1))
    s = w / 512
    cv2.rectangle(img, (int(90 * s), int(170 * s * h / 384)), (int(420 * s), int(290 * s * h / 384)), (190, 30, 35), -1)
    for cx in (160, 350):
        cv2.circle(img, (int(cx * s), int(290 * s * h / 384)), int(34 * s), (20, 20, 20), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


CPU_TIMES: list[float] = []


def ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall-clock ms; the median process-CPU ms is appended to CPU_TIMES (with one torch
    thread it approximates the wall time on an idle machine, which a shared box does not give)."""
    fn()  # warm-up
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    CPU_TIMES.append(statistics.median(cpu))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictor", default=None, help="predictor file (default: an untrained TinyInvertibilityNet)")
    ap.add_argument("--image", default=None, help="image to use instead of the synthetic scene")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_predictor(args.predictor) if args.predictor else TinyInvertibilityNet().eval()
    segmenter = OversegSegmenter()
    print(f"predictor {type(model).__name__} input {model.input_size}, torch threads {torch.get_num_threads()}")
    print(f"{'size (W×H)':>11} {'predict':>8} {'segment':>8} {'refine':>7} {'total':>7} {'re-τ':>7} {'segs':>5}")
    for h, w in ((384, 512), (128, 128)):
        image = load_image(args.image, (h, w)) if args.image else scene(h, w)
        errors = predict(model, image)
        labels = segmenter.segment(image)
        lmap = LatentMap.from_predictions(errors, labels)
        t_pred = ms(lambda image=image: predict(model, image), args.repeat)
        t_seg = ms(lambda image=image: segmenter.segment(image), args.repeat)
        t_ref = ms(lambda e=errors, lab=labels: LatentMap.from_predictions(e, lab).space_map(), args.repeat)
        t_all = ms(lambda image=image: latent_map_for_image(image, model, segmenter).masks(), args.repeat)
        taus = iter(np.tile(np.linspace(0.1, 0.4, 13), 100))
        t_tau = ms(lambda m=lmap, it=taus: m.with_tau(float(next(it))).masks(), args.repeat)
        c = CPU_TIMES[-5:]
        print(
            f"{f'{w}×{h}':>11} {t_pred:8.1f} {t_seg:8.1f} {t_ref:7.1f} {t_all:7.1f} {t_tau:7.2f} {lmap.num_segments:5d}"
            f"   wall\n{'':>11} {c[0]:8.1f} {c[1]:8.1f} {c[2]:7.1f} {c[3]:7.1f} {c[4]:7.2f} {'':>5}   cpu"
        )
    print("milliseconds, median; total = predict + segment + refine + masks; re-τ = with_tau + masks")


if __name__ == "__main__":
    main()
