"""Blend-back at the photo's edges, against a ground truth (issue 29).

The car world renders any scene at any size with exact labels, so a recolouring has a ground
truth: the same scene rendered with another car colour. Each held-out scene (seeds 9 100 000 +
i, never used for training) is rendered at `--size` px (the "photo") and again with the car's
colour changed (the truth). The blend-back gets the exact low-resolution change, letterboxed to
the generator's frame like a photo is (truth at frame size − scene at frame size, as if the
generator had made it) and the reach of the user's selection (the car's pixels at frame size),
blends it back at full size and is compared with the truth there:

- PSNR inside the car, outside it, and in a band of ±16 px around the car's outline;
- the share of the total |change| (sum over pixels and channels) that lands outside the car;
- the 10–90 % width of the change across the outline: for every pixel within 24 px of the
  outline, the change it got divided by the true change at the nearest point ≥ 8 px inside the
  car (pixels whose truth there changes by < 30 are skipped: wheels, glass, lights keep their
  colour), binned by signed distance to the outline (1 px bins, median), and the distance between
  the 10 % and 90 % points of the rise from the level well outside (< −12 px) to the level
  well inside (> 8 px); the truth's own width (anti-aliasing) is printed next to it.

    .venv/bin/python benchmarks/bench_blend_edges.py [--scenes 20] [--size 2048] [--frame 128]
        [--noise 0] [--out docs/benchmarks/blend_edges.md]

Methods: "bicubic (before #29)" is the blend-back as it was before issue 29 (a frozen copy
below: bicubic Δ, reach feathered at frame size); "edge-aware" is `edits.blend.blend_back`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from sam_editor.demo import carworld
from sam_editor.edits import blend
from sam_editor.imageio import Placement, letterbox

SEED0 = 9_100_000
BAND = 16


# ---------------------------------------------------------------- the blend-back before issue 29
def legacy_blend_back(photo, edited, reconstruction, reach, placement):
    """edits/blend.py as of commit d61b7af: Δ upsampled bicubic, reach feathered (σ = 1 frame px)
    at frame size and upsampled bilinear, y = photo + up(r̃)·up(Δ). (The original blended only the
    box where the edit acts; the pixels are the same, its time is not: see bench_export.py.)"""
    rows, cols = placement.slices()
    delta = (edited.astype(np.float32) - reconstruction.astype(np.float32))[rows, cols]
    r = np.ones(edited.shape[:2], np.float32) if reach is None else reach.astype(np.float32)
    weight = cv2.GaussianBlur(r, (7, 7), 1.0, borderType=cv2.BORDER_REPLICATE)[rows, cols]
    hp, wp = placement.photo
    w_up = cv2.resize(weight, (wp, hp), interpolation=cv2.INTER_LINEAR)
    d_up = cv2.resize(delta, (wp, hp), interpolation=cv2.INTER_CUBIC)
    out = photo.astype(np.float32) + d_up * w_up[..., None]
    return (np.clip(out, 0, 255) + 0.5).astype(np.uint8)


METHODS = {"bicubic (before #29)": legacy_blend_back, "edge-aware": blend.blend_back}


# ------------------------------------------------------------------------------------- scenes
@dataclasses.dataclass
class Scene:
    seed: int
    caption: str
    photo: np.ndarray  # (S, S, 3) uint8
    truth: np.ndarray  # the same scene, car recoloured
    car: np.ndarray  # (S, S) bool
    small_photo: np.ndarray  # frame-sized (letterboxed) photo and truth
    small_truth: np.ndarray
    small_car: np.ndarray  # the reach: the car at frame size
    placement: Placement


def make_scene(i: int, size: int, frame: tuple[int, int], noise: float, cache: Path | None = None) -> Scene:
    """Scene i; with `cache`, the full-size renders (8 s each at 2048 px) are kept there as .npz."""
    seed = SEED0 + i
    f = None if cache is None else cache / f"scene_{seed}_{size}.npz"
    if f is not None and f.exists():
        z = np.load(f)
        photo, truth, car, cap = z["photo"], z["truth"], z["car"], str(z["caption"])
    else:
        rng = np.random.default_rng(seed)
        p = carworld.sample_params(rng)
        others = [c for c in carworld.COLOURS if c != p.colour_name]
        new = others[int(rng.integers(len(others)))]
        q = dataclasses.replace(p, colour_name=new, colour_rgb=carworld.COLOURS[new])
        photo, car = carworld.render_with_mask(p, size)
        truth = carworld.render(q, size)
        cap = f"{p.colour_name} → {new} {p.body_type}, {p.view}"
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, photo=photo, truth=truth, car=car, caption=cap)
    if noise > 0:  # the same sensor noise on both: the truth is still "this photo, recoloured"
        n = np.random.default_rng([seed, 1]).normal(0, noise, photo.shape).astype(np.float32)
        photo = np.clip(photo + n + 0.5, 0, 255).astype(np.uint8)
        truth = np.clip(truth + n + 0.5, 0, 255).astype(np.uint8)
    return _small(seed, cap, photo, truth, car, frame)


def _small(seed: int, cap: str, photo: np.ndarray, truth: np.ndarray, car: np.ndarray, frame: tuple[int, int]) -> Scene:
    small_photo, place = letterbox(photo, frame)
    small_truth, _ = letterbox(truth, frame)
    small_car, _ = letterbox(np.repeat(car[..., None].astype(np.uint8) * 255, 3, 2), frame)
    return Scene(seed, cap, photo, truth, car, small_photo, small_truth, small_car[..., 0] > 127, place)


# ------------------------------------------------------------------------------------ metrics
def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    mse = float(((a[where].astype(np.float64) - b[where]) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


class Geometry:
    """Per-scene masks and distances used by every method's metrics."""

    def __init__(self, s: Scene) -> None:
        car = s.car.astype(np.uint8)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
        self.band = (cv2.dilate(car, k) > 0) & ~(cv2.erode(car, k) > 0)
        d_in = cv2.distanceTransform(car, cv2.DIST_L2, 5)
        d_out = cv2.distanceTransform(1 - car, cv2.DIST_L2, 5)
        self.signed = np.where(s.car, d_in - 0.5, 0.5 - d_out)  # > 0 inside, the outline at 0
        truth_change = np.abs(s.truth.astype(np.float32) - s.photo).sum(2)
        deep = (d_in >= 8).astype(np.uint8)
        # the nearest deep-inside pixel of every pixel: distanceTransform labels each zero pixel
        _, lab = cv2.distanceTransformWithLabels(1 - deep, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        ys, xs = np.nonzero(deep)
        ref_at = np.zeros(lab.max() + 1, np.float32)
        ref_at[lab[ys, xs]] = truth_change[ys, xs]
        self.ref = ref_at[lab]
        self.near = (np.abs(self.signed) <= 24) & (self.ref >= 30)


def transition_width(change: np.ndarray, g: Geometry) -> float:
    """10–90 % width (px) of the change across the outline (see module doc)."""
    t = change[g.near] / g.ref[g.near]
    d = g.signed[g.near]
    edges = np.arange(-24, 25)
    centres, prof = [], []
    for lo in edges[:-1]:
        sel = (d >= lo) & (d < lo + 1)
        if sel.sum() >= 20:
            centres.append(lo + 0.5)
            prof.append(float(np.median(t[sel])))
    c, p = np.array(centres), np.array(prof)
    p = np.maximum.accumulate(p)  # monotone envelope outside → inside
    lo, hi = p[c < -12].mean(), p[c > 8].mean()  # the levels well outside and well inside

    def crossing(frac: float) -> float:
        level = lo + frac * (hi - lo)
        j = int(np.argmax(p >= level))
        if j == 0:
            return float(c[0])
        return float(c[j - 1] + (level - p[j - 1]) / max(p[j] - p[j - 1], 1e-9) * (c[j] - c[j - 1]))

    return crossing(0.9) - crossing(0.1)


def measure(out: np.ndarray, s: Scene, g: Geometry) -> dict[str, float]:
    change = np.abs(out.astype(np.float32) - s.photo).sum(2)
    total = float(change.sum())
    return {
        "psnr_in": psnr(out, s.truth, s.car),
        "psnr_out": psnr(out, s.truth, ~s.car),
        "psnr_band": psnr(out, s.truth, g.band),
        "rmse_band": float(np.sqrt(((out[g.band].astype(np.float64) - s.truth[g.band]) ** 2).mean())),
        "outside": float(change[~s.car].sum()) / total if total > 0 else 0.0,
        "width": transition_width(change, g),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--size", type=int, default=2048, help="photo side in px")
    ap.add_argument("--frame", type=int, default=128, help="generator frame side (demo 128, official 512)")
    ap.add_argument("--noise", type=float, default=0.0, help="Gaussian sensor noise σ added to photo and truth")
    ap.add_argument("--out", type=Path, help="write the table (markdown) here")
    ap.add_argument("--cache", type=Path, help="keep the full-size renders here (.npz) for reruns")
    ap.add_argument("--no-reach", action="store_true", help="no selection: the edit may act everywhere (reach None)")
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    frame = (args.frame, args.frame)
    methods = {m: METHODS[m] for m in args.methods}
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    truth_width, secs = [], {m: [] for m in methods}
    for i in range(args.scenes):
        s = make_scene(i, args.size, frame, args.noise, args.cache)
        g = Geometry(s)
        truth_width.append(transition_width(np.abs(s.truth.astype(np.float32) - s.photo).sum(2), g))
        line = [f"{s.seed} {s.caption:<38}"]
        for name, fn in methods.items():
            t0 = time.perf_counter()
            out = fn(s.photo, s.small_truth, s.small_photo, None if args.no_reach else s.small_car, s.placement)
            secs[name].append(time.perf_counter() - t0)
            m = measure(out, s, g)
            rows[name].append(m)
            line.append(f"{m['psnr_band']:6.2f} dB {100 * m['outside']:5.1f} % {m['width']:5.1f} px")
        print(" | ".join(line), flush=True)

    def mean(name: str, key: str) -> float:
        return float(np.mean([r[key] for r in rows[name]]))

    head = (f"{args.scenes} held-out car-world scenes (seeds {SEED0}…{SEED0 + args.scenes - 1}), photo {args.size} px, "
            f"frame {args.frame} px, sensor noise σ = {args.noise:g}; the car recoloured, "
            f"{'no selection (the edit may act everywhere)' if args.no_reach else 'the car selected (the reach)'}; means over scenes. "
            f"The truth's own 10–90 % width across the outline: {np.mean(truth_width):.2f} px.")
    names = list(methods)
    table = [head, "", "| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, key, fmt in (("PSNR inside the car (dB)", "psnr_in", "{:.2f}"), ("PSNR outside the car (dB)", "psnr_out", "{:.2f}"),
                            (f"PSNR in the ±{BAND} px outline band (dB)", "psnr_band", "{:.2f}"),
                            (f"RMSE in the ±{BAND} px outline band", "rmse_band", "{:.2f}"),
                            ("share of the change outside the car (%)", "outside", "{:.1%}"),
                            ("10–90 % transition across the outline (px)", "width", "{:.2f}")):
        vals = [fmt.format(mean(n, key)).replace("%", "") for n in names]
        table.append(f"| {label} | " + " | ".join(vals) + " |")
    table.append("| blend-back time per scene (s, 1 thread; the frozen copy blends the whole photo) | " + " | ".join(f"{np.median(secs[n]):.3f}" for n in names) + " |")
    if len(names) == 2:
        a, b = names
        ratio = mean(a, "rmse_band") / max(mean(b, "rmse_band"), 1e-9)
        table += ["", f"Outline-band RMSE {a} / {b}: {ratio:.2f}× (MSE {ratio**2:.2f}×)."]
    text = "\n".join(table)
    print("\n" + text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Blend-back at the car's edges\n\n`{' '.join(['benchmarks/bench_blend_edges.py', *sys.argv[1:]])}`\n\n{text}\n")


if __name__ == "__main__":
    main()
