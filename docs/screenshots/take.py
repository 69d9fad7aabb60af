"""Re-take the screenshots in this folder from the real app (X11, e.g. under Xvfb):

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/screenshots/take.py [--weights-dir DIR]

Drives the window like a user — opens a sample, inspects a segment, forces the clutter into a
late feature space, inverts, applies a preset and a GANSpace slider, shows where edits act,
brushes over the car and runs a StyleCLIP text edit on those segments only, drops a broken
file — and grabs the screen with ImageMagick's `import` after each step (small 8-bit PNGs).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer

from sam_editor.gan.layers import LayerSpace
from sam_editor.runtime import init_torch

HERE = Path(__file__).resolve().parent
CAR_STROKE = [(88, 60), (87, 75), (88, 90), (89, 105)]  # (y, x) on the 128-px frame of car_fence.png


def open_window(weights_dir: Path | None):  # noqa: ANN201
    """The app and its main window, on screen at a fixed size, with settings in a temp file."""
    init_torch()
    from sam_editor.gui.app import create_app
    from sam_editor.gui.main_window import MainWindow

    app = create_app([])
    MainWindow.confirm_unsaved = False
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "take.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, weights_dirs=[weights_dir] if weights_dir else None)
    w.resize(1560, 950)
    w.move(20, 20)
    w.show()
    return app, w


def grab(app, path: Path, small: bool = True) -> None:  # noqa: ANN001
    """Let the window settle, then grab the screen into `path` (small: 1100 px wide, 8-bit)."""
    for _ in range(5):
        app.processEvents()
        time.sleep(0.1)
    raw = path.with_name(f".{path.name}") if small else path
    subprocess.run(["import", "-window", "root", "-crop", "1600x1000+0+0", str(raw)], check=True)
    if small:
        subprocess.run(["convert", str(raw), "-resize", "1100x", "-colors", "200", f"PNG8:{path}"], check=True)
        raw.unlink()
    print("wrote", path, flush=True)


def run(app, w, start, timeout_ms: int) -> None:  # noqa: ANN001
    """Start the scripted session half a second after the window shows; quit after `timeout_ms`."""
    QTimer.singleShot(500, start)
    QTimer.singleShot(timeout_ms, app.quit)
    app.exec()
    w.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights-dir", type=Path, default=None, help="folder with demo/ (default: the app's own search)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--sample", default="car_fence.png")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--text", default="a blue car")
    ap.add_argument("--text-steps", type=int, default=100)
    args = ap.parse_args()
    app, w = open_window(args.weights_dir)
    from sam_editor.session import SAMPLES_DIR

    e, s = w.editor, w.session

    def shot(name: str) -> None:
        grab(app, args.out / f"{name}.png")

    def later(ms: int, fn) -> None:  # noqa: ANN001
        QTimer.singleShot(ms, fn)

    def start() -> None:
        if s.bundle is None or s.ganspace is None:
            return later(300, start)
        w.open_path(SAMPLES_DIR / args.sample)

    def on_map() -> None:
        if s.bundle.predictor is None:  # no predictor: put the clutter (fence, lamp post) in late spaces by hand
            h, wd = s.frame_size
            fence = s.segments_in([(h * 0.85, wd * x) for x in (0.35, 0.5, 0.65, 0.8, 0.95)])
            e.select(fence)
            e.override(LayerSpace.F8)
            pole = s.segment_at(h * 0.45, wd * 0.8)
            if pole is not None and pole not in fence:
                e.select([pole])
                e.override(LayerSpace.F10)
        e.select([])
        e.on_hover(s.frame_size[0] * 0.55, s.frame_size[1] * 0.3)
        shot("1-invertibility-map")
        w.inversion_panel.set_steps(args.steps)
        e.start_inversion("sam", args.steps)

    previews: list[int] = []

    def on_preview(step: int) -> None:
        previews.append(step)
        if len(previews) == 8:
            shot("2-inverting")

    def on_inverted(_inv) -> None:  # noqa: ANN001
        # a named preset measured for this generator (the demo bundle ships some), then a slider
        names = [getattr(p, "name", "") for p in e.presets]
        pick = next((i for key in ("Car moves right", "Car redder") for i, n in enumerate(names) if key in n), None)
        if pick is not None:
            w.edit_panel.presets.setCurrentIndex(pick)
            e.on_preset(pick)
        e.on_component(0, 2.5, (2, 5), True)  # rows 2-5 (sky colour here): regions in F6…F10 keep their look
        later(2500, edited)

    def edited() -> None:
        shot("3-edited")
        w.set_view("edited")
        e.set_reach(True)
        later(1200, reach)

    def reach() -> None:
        shot("4-where-edits-act")
        e.set_reach(False)
        w.set_view("side")
        e.reset_edits()
        e.select(s.segments_in(CAR_STROKE))  # a brush stroke along the car's roof …
        e.limit_edits(True)  # … and "Edit only these"
        w.edit_panel.tabs.setCurrentIndex(1)  # the Text (StyleCLIP) tab
        w.edit_panel.text.setText(args.text)
        e.start_text_edit(args.text, 1.0, steps=args.text_steps)
        later(1000, text_done)

    def text_done() -> None:
        if not any(ed.kind == "styleclip" for ed in s.edits):
            return later(500, text_done)
        later(2500, lambda: (shot("5-text-edit"), broken()))

    def broken() -> None:
        bad = args.out / ".broken.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
        w.open_path(bad)
        bad.unlink()
        later(500, lambda: (shot("6-bad-file-message"), app.quit()))

    e.mapReady.connect(on_map)
    e.previewShown.connect(on_preview)
    e.inversionFinished.connect(on_inverted)
    run(app, w, start, 900_000)


if __name__ == "__main__":
    main()
