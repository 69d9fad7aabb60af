"""Screenshot the window on a photo of your own, and export its edit at the photo's own size.

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/screenshots/take_photo.py PHOTO --out DIR

Drives the window like a user: drops PHOTO in (the whole frame is letterboxed into the generator's
frame; the padding is dimmed), inverts it with SAM, applies a measured preset, and exports the
edit at full size through the export dialog's default ("Your photo at full size"). Writes into DIR:
window screenshots, the full-size export, and 100 % crops of photo / export / generator-only
upscale side by side. DIR should be outside the repository when PHOTO is not ours to publish
(the shared car photos are licensed for noncommercial use only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from take import grab, open_window, run  # the sibling script: same window, same grab


def crop_strip(photo: np.ndarray, full: np.ndarray, gen_only: np.ndarray, size: int = 160) -> np.ndarray:
    """The same centre crop (size × size, 100 % zoom) of the three images, side by side."""
    h, w = photo.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    gap = np.full((s, 4, 3), 255, np.uint8)
    return np.concatenate([photo[y:y + s, x:x + s], gap, full[y:y + s, x:x + s], gap, gen_only[y:y + s, x:x + s]], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photo", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--preset", default="Car redder")
    ap.add_argument("--weights-dir", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app, w = open_window(args.weights_dir)
    import cv2

    from sam_editor.imageio import read_image

    e, s = w.editor, w.session

    def shot(name: str) -> None:
        grab(app, args.out / f"{name}.png", small=False)

    def later(ms: int, fn) -> None:  # noqa: ANN001
        QTimer.singleShot(ms, fn)

    def start() -> None:
        if s.bundle is None or s.ganspace is None:
            return later(300, start)
        if not w.open_path(args.photo):
            print("could not open", args.photo)
            app.quit()

    def on_map() -> None:
        e.refine_after_encoding = args.steps > 0  # --steps 0: the encoder's φ alone (a bundle with an encoder)
        shot("photo-1-map")
        w.inversion_panel.set_steps(args.steps)
        e.start_inversion("sam", args.steps)

    def on_inverted(_inv) -> None:  # noqa: ANN001
        names = [getattr(p, "name", "") for p in e.presets]
        pick = next((i for i, n in enumerate(names) if args.preset in n), None)
        if pick is not None:
            w.edit_panel.presets.setCurrentIndex(pick)
            e.on_preset(pick)
        later(2500, edited)

    def edited() -> None:
        shot("photo-2-edited")
        full = s.export_png(args.out / "export-full-size.png")
        gen = s.export_png(args.out / "export-generator-only.png", full_size=False)
        print("export:", full, gen, flush=True)
        photo = read_image(args.photo).rgb
        out_full = read_image(args.out / "export-full-size.png").rgb
        gen_img = read_image(args.out / "export-generator-only.png").rgb
        # "generator image only" is the photo's box of the frame; scaled to the photo's size it is what export gave before blend-back
        gen_up = cv2.resize(gen_img, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_CUBIC)
        strip = crop_strip(photo, out_full, gen_up)
        cv2.imwrite(str(args.out / "crops-photo-export-generator.png"), strip[..., ::-1])
        changed = np.abs(out_full.astype(int) - photo.astype(int)).max(axis=2) > 0
        print(f"photo {photo.shape[1]}x{photo.shape[0]}; pixels changed by the edit: {changed.mean() * 100:.1f} %", flush=True)
        later(300, app.quit)

    e.mapReady.connect(on_map)
    e.inversionFinished.connect(on_inverted)
    run(app, w, start, 600_000)


if __name__ == "__main__":
    main()
