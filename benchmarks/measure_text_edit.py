"""Does "a blue car" make the car bluer while F-layer clutter stays put? (issue: demo bundle)

Run by hand; prints numbers. It renders cluttered car-world images with their ground-truth car
and clutter masks, inverts each with SAM (predicted latent map), runs the StyleCLIP text edit
through the CLI exactly as a user would, and compares edited vs reconstruction:

* car pixels not covered by clutter: mean change of (B − R), 0–255 scale (bluer → positive),
* clutter pixels: mean |ΔRGB| (gating should keep them, they are mostly in F-spaces),
* the rest of the background: mean |ΔRGB|.

    .venv/bin/python benchmarks/measure_text_edit.py --n 8 --out runs/text_edit
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "photos" / "cars"


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7000)
    ap.add_argument("--text", default="a blue car")
    ap.add_argument("--inversion-steps", type=int, default=100)
    ap.add_argument("--text-steps", type=int, default=100)
    ap.add_argument("--generator", default=str(ROOT / "weights" / "demo" / "generator.pt"))
    ap.add_argument("--predictor", default=str(ROOT / "weights" / "demo" / "invertibility.pt"))
    ap.add_argument("--out", default="runs/text_edit")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from sam_editor.demo.clutter import write_samples

    out = Path(args.out)
    photos = [PHOTOS / f for f in ("e.png", "f.png", "g.png") if (PHOTOS / f).is_file()]
    write_samples(out / "images", args.n, args.seed, size=128, clutter=True, photo_paths=photos, masks=True)
    cli = [sys.executable, "-m", "sam_editor.cli"]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    rows = []
    for i in range(args.n):
        img = out / "images" / f"img_{i:05d}.png"
        inv = out / f"inv_{i:05d}"
        subprocess.run([*cli, "invert", str(img), "--method", "sam", "--latent-map", "auto", "--predictor", args.predictor, "--out", str(inv),
                        "--generator", args.generator, "--steps", str(args.inversion_steps)],
                       check=True, env=env, capture_output=True)  # fmt: skip
        edited = out / f"edited_{i:05d}.png"
        subprocess.run([*cli, "edit", str(inv / f"img_{i:05d}_phi.pt"), "--generator", args.generator,
                        "--text", args.text, "--text-steps", str(args.text_steps), "--out", str(edited)],
                       check=True, env=env, capture_output=True)  # fmt: skip
        rec, ed = rgb(inv / f"img_{i:05d}_reconstruction.png"), rgb(edited)
        car = cv2.imread(str(out / "images" / f"car_{i:05d}.png"), 0) > 127
        clutter = cv2.imread(str(out / "images" / f"clutter_{i:05d}.png"), 0) > 127
        visible_car, rest = car & ~clutter, ~car & ~clutter
        d = ed - rec
        row = {
            "image": img.name,
            "car_blue_minus_red_change": round(float((d[..., 2] - d[..., 0])[visible_car].mean()), 1),
            "clutter_abs_change": round(float(np.abs(d)[clutter].mean()), 1) if clutter.any() else None,
            "background_abs_change": round(float(np.abs(d)[rest].mean()), 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    mean = {k: round(float(np.mean([r[k] for r in rows if r[k] is not None])), 1) for k in rows[0] if k != "image"}
    print(json.dumps({"text": args.text, "n": args.n, "mean": mean}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
