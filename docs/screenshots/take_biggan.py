"""Screenshot of a BigGAN-deep class edit in the main window (issue 33), from the real app under X11:

    Xvfb :97 -screen 0 1600x1000x24 &
    DISPLAY=:97 QT_QPA_PLATFORM=xcb python docs/screenshots/take_biggan.py [--generator FOLDER] [--class 511]
    DISPLAY=:97 QT_QPA_PLATFORM=xcb python docs/screenshots/take_biggan.py --ganspace 0:-3@3-6 \
        --out docs/screenshots/biggan/ganspace_class_window.png

Drives the window like a user: File ▸ Open Generator Folder… (the published format, config.json +
pytorch_model.bin; without --generator a tiny random 32-px BigGAN-deep of that format is written
to a temp folder, since no BigGAN weights ship), opens a sample car, inverts it with SAM (the map
measured from the Z+ error), picks a class in the class picker at a strength and grabs the screen
into biggan/class_edit_window.png; the edited image is also exported next to it in a temp folder.
With --ganspace K:S@A-B (as `sam-editor edit`) it then opens the GANSpace (z) tab, waits for the
directions (found on the worker) and moves those sliders before grabbing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from take import HERE, grab, open_window, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", type=Path, default=None, help="BigGAN-deep folder (default: a tiny random one)")
    ap.add_argument("--class", dest="class_index", type=int, default=None, help="target class (default 511, or 7 of 10)")
    ap.add_argument("--strength", type=float, default=0.8)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--tau", type=float, default=0.02)
    ap.add_argument("--sample", default="car_street.png")
    ap.add_argument("--ganspace", action="append", metavar="K:S@A-B", help="GANSpace on z after the class edit")
    ap.add_argument("--out", type=Path, default=HERE / "biggan" / "class_edit_window.png")
    args = ap.parse_args()
    folder = args.generator
    if folder is None:
        from sam_editor.gan.biggan.checkpoint import save_port_format
        from sam_editor.testing.biggan import random_biggan

        folder = Path(tempfile.mkdtemp()) / "biggan-deep-tiny-random"
        save_port_format(random_biggan(seed=3), folder)
    app, w = open_window(None)
    from sam_editor.session import SAMPLES_DIR

    def later(ms: int, fn) -> None:  # noqa: ANN001
        QTimer.singleShot(ms, fn)

    def start() -> None:
        if w.session.bundle is None:
            return later(300, start)
        w.open_generator(folder)
        later(300, opened)

    def opened() -> None:
        fam = w.family
        if fam is None:
            return later(300, opened)
        w.open_path(SAMPLES_DIR / args.sample)
        fam.map_panel.tau.setValue(args.tau)
        p = fam.panel
        p.method.setCurrentIndex(p.method.findData("sam"))
        p.steps.setValue(args.steps)
        fam.inverted.connect(edit)
        p.invert.click()

    def edit() -> None:
        fam = w.family
        box = fam.panel.edit
        n = fam.session.num_classes()
        to = args.class_index if args.class_index is not None else (511 if n == 1000 else 7)
        box.picker.search.setText(str(to) if n != 1000 else "convertible")
        row = box.picker.shown_classes().index(to)
        box.picker.list.setCurrentRow(row)
        box.picker.list.itemClicked.emit(box.picker.list.item(row))
        box.picker.strength.setValue(args.strength)
        if args.ganspace:
            return ganspace()
        fam.rendered.connect(lambda: later(800, shoot))

    def ganspace() -> None:
        from sam_editor.edits.commands import parse_ganspace_arg

        fam = w.family
        gs = fam.panel.ganspace
        fam.panel.edit_tabs.setCurrentWidget(gs)  # its first showing finds the directions on the worker
        if not gs.components:
            return later(300, ganspace)
        for text in args.ganspace:
            k, strength, (a, b) = parse_ganspace_arg(text, None, fam.session.G.num_ws)
            gs.components[k].layers.setValue((a, b))
            gs.components[k].strength.setValue(strength)
        fam.rendered.connect(lambda: later(800, shoot))

    def shoot() -> None:
        if getattr(shoot, "done", False):
            return
        shoot.done = True  # type: ignore[attr-defined]
        w.canvas.set_mode("side")
        grab(app, args.out)
        out = Path(tempfile.mkdtemp()) / "edited.png"
        w.export_to(out)
        print("exported", out, flush=True)
        app.quit()

    run(app, w, start, 600_000)


if __name__ == "__main__":
    main()
