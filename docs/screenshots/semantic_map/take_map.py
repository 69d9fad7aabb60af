"""Screenshot the invertibility map of the demo bundle on the shared car photos (issue 35).

    Xvfb :96 -screen 0 1600x1000x24 &
    DISPLAY=:96 QT_QPA_PLATFORM=xcb python docs/screenshots/semantic_map/take_map.py \
        ../shared/photos/cars/*.png --out docs/screenshots/semantic_map

Drops each photo into the window like a user and grabs the screen once its map is shown (the
bundle's semantic segmenter, its calibrated τ). For every photo it also prints where the car went:
the segmenter's car pixels inside the photo's box of the frame, the segments that hold them
(≥ 5 % of the car), the spaces those pixels were given, and the car segment's predicted errors
against τ — if the car is not in W+, the predictor says W+ would reconstruct it worse than τ.
The photos are licensed for noncommercial use only: they are read from where they are, never
copied into the repository (only the screenshots are).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from take import grab, open_window, run  # noqa: E402  the sibling folder's script: same window, same grab

SPACES = ("W+", "F4", "F6", "F8", "F10")


def car_report(session) -> dict:  # noqa: ANN001
    """Where the car of the open photo went, from the segmenter's class map and the shown map."""
    seg, lm = session.bundle.segmenter, session.latent_map
    work = session.work
    names = list(getattr(seg, "class_names", ()))
    if "car" not in names:
        return {"note": f"segmenter {session.bundle.segmenter_label} has no car class"}
    car = seg.class_map(work) == names.index("car")
    top, left, h, w = session.placement.box if hasattr(session.placement, "box") else (0, 0, *car.shape)
    inside = np.zeros_like(car)
    inside[top : top + h, left : left + w] = True
    car &= inside
    if car.sum() == 0:
        return {"car_pixels": 0}
    ranks = lm.space_map()
    share = np.bincount(ranks[car], minlength=5) / car.sum()
    seg_share = np.bincount(lm.labels[car], minlength=lm.labels.max() + 1) / car.sum()
    segs = [int(k) for k in np.flatnonzero(seg_share >= 0.05)]
    main = int(np.argmax(seg_share))
    classes = seg.class_map(work)
    seg_ranks = lm.segment_ranks()
    segments = []  # every segment of the photo: size, its majority class, its space, its W+ error
    for k in range(int(lm.labels.max()) + 1):
        inside_k = (lm.labels == k) & inside
        if inside_k.sum() == 0:
            continue
        cls = np.bincount(classes[inside_k], minlength=len(names))
        segments.append({"pixels": int(inside_k.sum()), "class": names[int(np.argmax(cls))], "space": SPACES[int(seg_ranks[k])],
                         "e_wplus": round(float(lm.segment_errors[k][0]), 3), "car_share": round(float(seg_share[k]), 3)})
    segments.sort(key=lambda d: -d["pixels"])
    return {
        "car_pixels": int(car.sum()),
        "car_fraction_of_frame": round(float(car.mean()), 3),
        "segments_on_car": len(segs),
        "main_segment_share": round(float(seg_share[main]), 3),
        "car_spaces": {s: round(float(v), 3) for s, v in zip(SPACES, share, strict=True) if v > 0.005},
        "main_segment_space": SPACES[int(lm.segment_ranks()[main])],
        "main_segment_errors": {s: round(float(v), 3) for s, v in zip(SPACES, lm.segment_errors[main], strict=True)},
        "tau": lm.tau,
        "segments_in_image": int(lm.labels.max() + 1),
        "class_share_in_photo": {n: round(float((classes[inside] == i).mean()), 3) for i, n in enumerate(names)},
        "segments": segments,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--weights-dir", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app, w = open_window(args.weights_dir)
    e, s = w.editor, w.session
    queue = list(args.photos)
    report: dict[str, dict] = {}
    current: list[Path] = []

    def later(ms: int, fn) -> None:  # noqa: ANN001
        QTimer.singleShot(ms, fn)

    def next_photo() -> None:
        if s.bundle is None:
            return later(300, next_photo)
        if not queue:
            (args.out / "where_the_car_went.json").write_text(json.dumps(report, indent=1) + "\n")
            print(json.dumps(report, indent=1), flush=True)
            return later(300, app.quit)
        current[:] = [queue.pop(0)]
        if not w.open_path(current[0]):
            print("could not open", current[0], flush=True)
            later(100, next_photo)

    def on_map() -> None:
        if not current or s.latent_map is None:
            return
        photo = current.pop()
        e.cancel() if hasattr(e, "cancel") else None
        grab(app, args.out / f"map-{photo.stem}.png", small=True)
        report[photo.name] = car_report(s)
        print(photo.name, json.dumps(report[photo.name]), flush=True)
        later(300, next_photo)

    e.mapReady.connect(on_map)
    run(app, w, next_photo, 900_000)


if __name__ == "__main__":
    main()
