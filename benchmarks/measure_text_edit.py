"""Does "a blue car" make the car bluer while F-layer clutter stays put? (issue: demo bundle)

Run by hand; prints numbers. It renders cluttered car-world images with their ground-truth car
and clutter masks, inverts each with SAM (predicted latent map), runs the StyleCLIP text edit
through the CLI exactly as a user would, and compares edited vs reconstruction:

* car pixels not covered by clutter: mean change of (B − R), 0–255 scale (bluer → positive),
  over the whole car and over the part the map left editable (W+/F4),
* clutter pixels: mean |ΔRGB|, split by the space the latent map gave them — in F6/F8/F10
  gating lets the edit reach only the last few layers, so they should barely move; clutter the
  map left in W+/F4 is editable by design,
* the rest of the background: mean |ΔRGB|, and its (B − R) change (a blue cast over everything
  is not a blue car),
* and, pooled over all images, mean |ΔRGB| per region and per latent space (W+, F4, F6, …):
  the gating of §3.4 should show as smaller changes in later spaces.
* the price of editability: PSNR of the reconstruction over the visible car pixels.

`--car-space W+` does what an artist does before recolouring the car: after the predicted map,
every segment that is mostly car is overridden to W+ (`sam-editor latent-map --override X,Y=W+`,
one pixel per segment, as clicks in the window would), the rest keeps the predicted spaces. The
ground-truth car mask stands in for the artist's eye that picks those segments. `--region` selects
the same segments and limits the edit to them (`sam-editor edit --region`, "Edit only these").

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
    ap.add_argument("--text-strength", type=float, default=1.0, help="multiplier of the optimised δw+ (the window's strength)")
    ap.add_argument("--text-views", type=int, default=None, help="CLIP views per step (default: the model's)")
    ap.add_argument("--generator", default=str(ROOT / "weights" / "demo" / "generator.pt"))
    ap.add_argument("--predictor", default=str(ROOT / "weights" / "demo" / "invertibility.pt"))
    ap.add_argument("--text-layers", default=None, help="style rows the edit may change, e.g. 4-11 (default all)")
    ap.add_argument("--clip", default="auto", help="CLIP model or a folder with a tiny one (see `sam-editor edit --clip`)")
    ap.add_argument("--car-space", default=None, help="override the segments that are mostly car to this space (e.g. W+)")
    ap.add_argument("--region", action="store_true", help="limit the edit to the segments that are mostly car (edit --region)")
    ap.add_argument("--out", default="runs/text_edit")
    ap.add_argument("--reuse", action="store_true", help="keep edits already in --out (re-measure only)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from sam_editor.demo.clutter import write_samples
    from sam_editor.inversion.phi import Phi
    from sam_editor.invertibility.latent_map import LatentMap

    out = Path(args.out)
    photos = [PHOTOS / f for f in ("e.png", "f.png", "g.png") if (PHOTOS / f).is_file()]
    write_samples(out / "images", args.n, args.seed, size=128, clutter=True, photo_paths=photos, masks=True)
    cli = [sys.executable, "-m", "sam_editor.cli"]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    def car_segments(labels: np.ndarray, car: np.ndarray) -> list[int]:
        """Segments that are mostly car: what an artist selects to mean "the car"."""
        return [int(k) for k in np.unique(labels[car]) if (car & (labels == k)).sum() >= 0.5 * (labels == k).sum()]

    def latent_map(img: Path, car: np.ndarray, path: Path) -> str:
        """'auto', or the predicted map as a file (with the car's segments overridden to --car-space)."""
        if args.car_space is None and not args.region:
            return "auto"
        base = [*cli, "latent-map", str(img), "--predictor", args.predictor, "--out", str(path)]
        subprocess.run(base, check=True, env=env, capture_output=True)
        labels = LatentMap.load(path).labels
        if args.region:  # the selection, as a mask for `edit --region`
            cv2.imwrite(str(path.with_suffix(".region.png")), np.isin(labels, car_segments(labels, car)).astype(np.uint8) * 255)
        if args.car_space is None:
            return str(path)
        clicks = []
        for k in car_segments(labels, car):
            ys, xs = np.nonzero(labels == k)
            j = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)  # the segment's pixel nearest its centre
            clicks += ["--override", f"{xs[j]},{ys[j]}={args.car_space}"]
        subprocess.run([*base, *clicks], check=True, env=env, capture_output=True)
        return str(path)

    def invert_and_edit(img: Path, inv: Path, edited: Path, car: np.ndarray) -> None:
        lmap = latent_map(img, car, inv.with_suffix(".latent.json"))
        subprocess.run([*cli, "invert", str(img), "--method", "sam", "--latent-map", lmap, "--predictor", args.predictor,
                        "--out", str(inv), "--generator", args.generator, "--steps", str(args.inversion_steps)],
                       check=True, env=env, capture_output=True)  # fmt: skip
        subprocess.run([*cli, "edit", str(inv / f"{img.stem}_phi.pt"), "--generator", args.generator,
                        "--text", args.text, "--text-steps", str(args.text_steps), "--out", str(edited),
                        "--text-strength", str(args.text_strength), "--clip", args.clip,
                        *(["--text-views", str(args.text_views)] if args.text_views else []),
                        *(["--text-layers", args.text_layers] if args.text_layers else []),
                        *(["--region", str(inv.with_suffix(".latent.region.png"))] if args.region else [])],
                       check=True, env=env, capture_output=True)  # fmt: skip

    rows = []
    per_space: dict[tuple[str, int], list[np.ndarray]] = {}  # (region, space) → per-pixel mean |ΔRGB|
    for i in range(args.n):
        img = out / "images" / f"img_{i:05d}.png"
        inv = out / f"inv_{i:05d}"
        edited = out / f"edited_{i:05d}.png"
        car = cv2.imread(str(out / "images" / f"car_{i:05d}.png"), 0) > 127
        clutter = cv2.imread(str(out / "images" / f"clutter_{i:05d}.png"), 0) > 127
        visible_car, rest = car & ~clutter, ~car & ~clutter
        if not (edited.is_file() and args.reuse):
            invert_and_edit(img, inv, edited, visible_car)
        rec, ed = rgb(inv / f"img_{i:05d}_reconstruction.png"), rgb(edited)
        car_mse = float(((rec - rgb(img)) ** 2)[visible_car].mean())
        phi = Phi.load(inv / f"img_{i:05d}_phi.pt")
        space = np.zeros(car.shape, int)  # the latent space each pixel was inverted in: 0 = W+, k = F_k
        for k in sorted(phi.masks):
            up = torch.nn.functional.interpolate(phi.masks[k].float(), size=car.shape, mode="bilinear", align_corners=False)
            space[up[0, 0].numpy() > 0.5] = k
        late = space >= 6  # pixels inverted in F6 or later
        d = ed - rec
        for name, region in (("car", visible_car), ("clutter", clutter), ("background", rest)):
            for k in np.unique(space[region]):
                per_space.setdefault((name, int(k)), []).append(np.abs(d).mean(-1)[region & (space == k)])
        row = {
            "image": img.name,
            "car_blue_minus_red_change": round(float((d[..., 2] - d[..., 0])[visible_car].mean()), 1),
            "car_editable_blue_minus_red_change": round(float((d[..., 2] - d[..., 0])[visible_car & ~late].mean()), 1) if (visible_car & ~late).any() else None,
            "car_reconstruction_psnr": round(10 * np.log10(255**2 / max(car_mse, 1e-6)), 2),
            "car_fraction_in_wplus": round(float((visible_car & (space == 0)).sum() / max(visible_car.sum(), 1)), 2),
            "car_fraction_in_f6plus": round(float((visible_car & late).sum() / max(visible_car.sum(), 1)), 2),
            "clutter_abs_change": round(float(np.abs(d)[clutter].mean()), 1) if clutter.any() else None,
            "clutter_in_f6plus_abs_change": round(float(np.abs(d)[clutter & late].mean()), 1) if (clutter & late).any() else None,
            "clutter_in_wplus_f4_abs_change": round(float(np.abs(d)[clutter & ~late].mean()), 1) if (clutter & ~late).any() else None,
            "clutter_fraction_in_f6plus": round(float((clutter & late).sum() / max(clutter.sum(), 1)), 2),
            "background_abs_change": round(float(np.abs(d)[rest].mean()), 1),
            "background_blue_minus_red_change": round(float((d[..., 2] - d[..., 0])[rest].mean()), 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    mean = {k: round(float(np.mean([r[k] for r in rows if r[k] is not None])), 1) for k in rows[0] if k != "image"}
    print(json.dumps({"text": args.text, "n": args.n, "car_space": args.car_space or "predicted", "strength": args.text_strength,
                      "region": "car segments" if args.region else "whole image", "mean": mean}))
    # Gating (§3.4): a pixel inverted in F_k feels the edit only in the layers after F_k.
    by_space = {f"{name} {'W+' if k == 0 else f'F{k}'}": {"pixels": int(sum(a.size for a in v)), "mean_abs_change": round(float(np.concatenate(v).mean()), 1)}
                for (name, k), v in sorted(per_space.items())}  # fmt: skip
    print(json.dumps({"abs_change_by_space": by_space}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
