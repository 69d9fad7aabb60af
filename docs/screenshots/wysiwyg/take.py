"""Screenshots of issue 29 (what you see is what you export) from the real app under Xvfb:

    Xvfb :97 -screen 0 1600x1000x24 &
    DISPLAY=:97 QT_QPA_PLATFORM=xcb .venv/bin/python docs/screenshots/wysiwyg/take.py

The photo is a car-world scene rendered at 2048 × 2048 px (our own renderer, no licence
question; 16 photo pixels per pixel of the demo generator's 128-px frame). Drives the window
like a user: drops the photo (map, encoder, SAM refinement as the app runs them), the source
view fitted and at 100 % over the car's outline (the invertibility map carried to the photo's
size edge-aware), "Car redder" on the car's segments only,
the result view fitted and at 100 %, the before/after wipe at 100 % and fitted; 7-crops-100.png:
photo | export at 100 % by the front wheel and at the car's rear. Prints the source view's overlay
time, the result view's full-composite time and how much of the change lands outside the car.
Last, 8-source-100-spaces.png: the source view at 100 % again with τ lowered to 0.3, so the car
segment goes to F4 while the rest stays in W+.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QTimer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from take import grab, open_window, run  # noqa: E402 — the sibling script: same window, same grab


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=9_100_002)
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args()
    from sam_editor.demo import carworld

    params = carworld.sample_params(np.random.default_rng(args.seed))
    photo, car = carworld.render_with_mask(params, args.size)
    path = Path(tempfile.mkdtemp()) / f"carworld-{args.seed}.png"
    cv2.imwrite(str(path), photo[..., ::-1])
    # a point on the car's outline: its left side, 70 % down the car
    ys, xs = np.nonzero(car)
    row = int(ys.min() + 0.7 * (ys.max() - ys.min()))
    edge = (row, int(xs[ys == row].min()))
    print(f"photo {path} {args.size} px; the car's outline at {edge}", flush=True)

    app, w = open_window(None)
    e, s, c = w.editor, w.session, w.canvas
    state = {"mapped": False}

    def shot(name: str) -> None:
        grab(app, args.out / f"{name}.png")

    def later(ms: int, fn) -> None:  # noqa: ANN001
        QTimer.singleShot(ms, fn)

    def centre_100(point: tuple[int, int]) -> None:
        c.set_zoom(1.0)
        c.centerOn(QPointF(point[1] / c.unit, point[0] / c.unit))

    def start() -> None:
        if s.bundle is None or s.ganspace is None:
            return later(300, start)
        w.inversion_panel.set_steps(args.steps)  # the encoder's φ, then this many steps (the app's own flow)
        if not w.open_path(path):
            print("could not open", path)
            app.quit()

    def on_inverted(inv) -> None:  # noqa: ANN001
        if state["mapped"] or inv.steps_run == 0:  # the encoder's φ first, then its refinement
            return
        state["mapped"] = True
        e.select(car_segments())  # selected: the white outline shows where the map's car segment runs
        w.set_view("source")
        c.fit()
        later(1500, source_fit)

    def car_segments() -> list[int]:
        """The map's segments that are mostly car (the render's exact mask, at the frame's size)."""
        lm = s.latent_map
        rows, cols = s.placement.slices()
        frame_car = np.zeros(s.placement.frame, bool)
        bh, bw = s.placement.box[2:]
        frame_car[rows, cols] = cv2.resize(car.astype(np.float32), (bw, bh), interpolation=cv2.INTER_AREA) > 0.5
        return [k for k in range(lm.num_segments) if frame_car[lm.labels == k].mean() > 0.5]

    def source_fit() -> None:
        print(f"source view fitted: zoom {c.zoom:.3f}, overlay {c.source_view.level_size} in {c.source_view.last_overlay_seconds:.3f} s", flush=True)
        shot("1-source-fit")
        centre_100(edge)
        later(1500, source_100)

    def source_100() -> None:
        print(f"source view 100 %: overlay {c.source_view.level_size}, window {c.source_view.window} in {c.source_view.last_overlay_seconds:.3f} s", flush=True)
        shot("2-source-100")
        c.fit()
        edit()

    def edit() -> None:
        segs = car_segments()
        print(f"car segments {segs}", flush=True)
        e.select(segs)
        e.limit_edits(True)
        e.select([])
        names = [getattr(p, "name", "") for p in e.presets]
        pick = next(i for i, n in enumerate(names) if "Car redder" in n)
        w.edit_panel.presets.setCurrentIndex(pick)
        e.on_preset(pick)
        later(3000, result_fit)

    def when_settled(fn) -> None:  # noqa: ANN001
        t0 = time.perf_counter()

        def poll() -> None:
            if c.result.settled or time.perf_counter() - t0 > 60:
                later(800, fn)
            else:
                later(200, poll)

        poll()

    def result_fit() -> None:
        w.set_view("result")
        c.fit()
        when_settled(result_fit_shot)

    def result_fit_shot() -> None:
        print(f"full composite {c.result.last_full_seconds:.2f} s", flush=True)
        shot("3-result-fit")
        centre_100(edge)
        when_settled(result_100)

    def result_100() -> None:
        shot("4-result-100")
        c.set_wipe(True)
        c.result.set_split((edge[1] + 120) / args.size)  # the divider across the car, right of its outline
        later(800, wipe_100)

    def wipe_100() -> None:
        shot("5-wipe-100")
        c.result.set_split(0.5)
        c.fit()
        when_settled(wipe_fit)

    def wipe_fit() -> None:
        shot("6-wipe-fit")
        out = s.output_image("edited", True)  # the export's pixels (the result view shows them)
        d = np.abs(out.astype(int) - photo).sum(axis=2)
        for px in (2, 8):
            far = cv2.dilate(car.astype(np.uint8), np.ones((2 * px + 1,) * 2, np.uint8)) == 0
            print(f"|Δ| more than {px} px outside the car (the render's exact mask): {d[far].sum() / max(d.sum(), 1) * 100:.2f} %, max {np.abs(out.astype(int) - photo)[far].max()} levels", flush=True)
        # 100 % crops, photo | export: the car's outline by the front wheel, and its rear
        ys, xs = np.nonzero(car)
        crops = []
        for cy, cx in (edge, (edge[0], int(xs.max()))):
            y0, x0 = int(np.clip(cy - 128, 0, args.size - 256)), int(np.clip(cx - 128, 0, args.size - 256))
            crops += [photo[y0 : y0 + 256, x0 : x0 + 256], np.full((256, 4, 3), 255, np.uint8), out[y0 : y0 + 256, x0 : x0 + 256], np.full((256, 12, 3), 255, np.uint8)]
        cv2.imwrite(str(args.out / "7-crops-100.png"), np.concatenate(crops[:-1], axis=1)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        # the source view again with τ lowered so the car goes to F4 and the rest stays W+: the
        # spaces' colours meet on the car's own outline
        c.set_wipe(False)
        w.set_view("source")
        e.select([])
        w.map_panel.tau.setValue(0.3)
        centre_100(edge)
        later(2500, spaces_100)

    def spaces_100() -> None:
        cov = {k.value: round(v * 100) for k, v in s.latent_map.coverage().items() if v > 0}
        print(f"τ {s.tau:.3f}: coverage {cov}; overlay {c.source_view.window} in {c.source_view.last_overlay_seconds:.3f} s", flush=True)
        shot("8-source-100-spaces")
        later(300, app.quit)

    e.inversionFinished.connect(on_inverted)
    run(app, w, start, 600_000)


if __name__ == "__main__":
    main()
