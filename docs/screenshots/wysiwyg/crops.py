"""Before / after crops at 100 % of the app's real edit on photos (issue 29's closing note).

    .venv/bin/python docs/screenshots/wysiwyg/crops.py PHOTO... --out DIR [--steps 200]

Each photo goes through the session as the window runs it: the demo bundle's invertibility map,
SAM inversion (the encoder's φ + `--steps` steps), "Car redder" (the demo preset) limited to the
car's segments (the segments the bundle's semantic segmenter calls car by majority), then blended
back into the photo twice: by the blend-back as it was before issue 29 (the frozen copy in
benchmarks/bench_blend_edges.py: bicubic Δ, reach feathered at frame size) and by today's
edge-aware `edits.blend.blend_back` (the export's own pixels, `Session.output_image`). Writes
per photo NAME-crops.png: photo | before | after at 100 %, and below it the same around the car's
outline enlarged 4× (nearest neighbour, so photo pixels stay visible), with a row between them
showing where each puts the change (|result − photo| × 4, white = unchanged), and prints how
much of the change each puts outside the car's segments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))


def noop(*_a: object) -> None:
    return None


def strip(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    h = images[0].shape[0]
    sep = np.full((h, gap, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for im in images:
        parts += [im, sep]
    return np.concatenate(parts[:-1], axis=1)


def main() -> None:
    from bench_blend_edges import legacy_blend_back

    from sam_editor.runtime import init_torch
    from sam_editor.session import Session, compute_ganspace, load_bundle, predict_latent_map, render, run_inversion

    ap = argparse.ArgumentParser()
    ap.add_argument("photos", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--preset", default="Car redder")
    args = ap.parse_args()
    init_torch()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle()
    comps = compute_ganspace(bundle, noop, lambda: False)
    for path in args.photos:
        s = Session(bundle)
        s.ganspace = comps
        s.open_image(path)
        lm = predict_latent_map(bundle, s.work, s.tau, noop, lambda: False, box=s.placement.box)
        s.apply_latent_map(lm)
        classes = bundle.segmenter.class_map(s.work)
        from sam_editor.demo import carworld

        car = [k for k in range(lm.num_segments) if np.mean(classes[lm.labels == k] == carworld.CAR) > 0.5 and s.photo_mask()[lm.labels == k].any()]
        inv = run_inversion(bundle, s.work, lm.with_tau(s.tau), "sam", args.steps, noop, lambda: False, valid=s.photo_mask(), init="auto")
        s.apply_inversion(inv)
        preset = next(p for p in s.presets() if args.preset in p.name)
        s.set_edit_region(car)
        s.set_edits([s.preset_edit(preset)])
        s.apply_render(render(s.render_request()))
        photo = s.source.rgb
        after = s.output_image("edited", True)
        before = legacy_blend_back(photo, s.edited, inv.reconstruction, s.reach_map(), s.placement)
        # the car's segments at the photo's size (nearest), for where the change lands
        rows, cols = s.placement.slices()
        region = cv2.resize(np.isin(lm.labels[rows, cols], car).astype(np.uint8), (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        for name, out in (("before", before), ("after", after)):
            d = np.abs(out.astype(int) - photo).sum(axis=2)
            shares = []
            for px in (2, 4):
                far = cv2.dilate(region.astype(np.uint8), np.ones((2 * px + 1,) * 2, np.uint8)) == 0  # > px outside
                shares.append(f"> {px} px: {d[far].sum() / max(d.sum(), 1) * 100:.1f} % (max {np.abs(out.astype(int) - photo)[far].max()} levels)")
            print(f"{path.name} {name}: |Δ| outside the car's segments " + ", ".join(shares), flush=True)
        # a detail around the car's outline: the box around the lower edge of the car region
        ys, xs = np.nonzero(region)
        cy, cx = int(ys.max()), int(np.median(xs[ys > ys.max() - 8])) if len(xs) else photo.shape[1] // 2
        ch, cw = 48, 64
        y0 = int(np.clip(cy - ch // 2, 0, photo.shape[0] - ch))
        x0 = int(np.clip(cx - cw // 2, 0, photo.shape[1] - cw))
        detail = [cv2.resize(im[y0 : y0 + ch, x0 : x0 + cw], (cw * 4, ch * 4), interpolation=cv2.INTER_NEAREST) for im in (photo, before, after)]
        top = strip([photo, before, after])
        # where each puts the change: |out − photo| × 4, white = none (the photo, greyed, beside)
        grey = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, 2) // 2 + 127
        maps = [np.clip(255 - 4 * np.abs(o.astype(int) - photo), 0, 255).astype(np.uint8) for o in (before, after)]
        top = np.concatenate([top, np.full((6, top.shape[1], 3), 255, np.uint8), strip([grey, *maps])], axis=0)
        bottom = strip(detail)
        pad = np.full((bottom.shape[0], max(0, top.shape[1] - bottom.shape[1]), 3), 255, np.uint8)
        sheet = np.concatenate([top, np.full((6, top.shape[1], 3), 255, np.uint8), np.concatenate([bottom, pad], axis=1)[:, : top.shape[1]]], axis=0)
        target = args.out / f"{path.stem}-crops.png"
        cv2.imwrite(str(target), sheet[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"wrote {target} ({target.stat().st_size // 1024} KB); detail box y {y0}–{y0 + ch}, x {x0}–{x0 + cw}", flush=True)


if __name__ == "__main__":
    main()
