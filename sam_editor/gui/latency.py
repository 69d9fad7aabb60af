"""Measure latency in the real window: `python -m sam_editor.gui.latency [--drop PHOTO …]`.

Opens the window on the installed bundle (demo unless official weights are present), inverts a
sample briefly, then moves a GANSpace slider the way a hand does and times, for each movement,
the span from the slider's value change to the canvas having repainted the new edit.

`--view result`: the moves are timed with the result view showing (the photo at its own size,
a screen-resolution preview of the visible part per move), and after the last move the time
until the full-resolution composite is on screen; `--photo` opens that photo instead of the
sample (e.g. a 12-Mpx one).

`--drop`: drops each photo on the window (a real QDropEvent) and times drop → the encoder's φ
on screen → the first edited frame (a slider moved as soon as the result shows, repainted),
then slider moves while the optimisation refines in the background. Needs a bundle with an
encoder (the demo bundle ships one).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer

from sam_editor.runtime import init_torch

from .result_view import SETTLE_MS


def _wait(signal, timeout_ms: int = 600_000) -> list:  # noqa: ANN001
    loop = QEventLoop()
    got: list = []

    def done(*args: object) -> None:
        got.append(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(done)
    if not got:
        raise TimeoutError("no signal")
    return got[0]


def _drop(w, path) -> None:  # noqa: ANN001
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    w.dropEvent(event)


def measure_drop(app, w, paths: list, moves: int = 5) -> list[dict]:  # noqa: ANN001
    """Per photo: seconds from the drop to the encoder's φ shown, to the first edited frame,
    and the median slider → repaint while the refinement runs."""
    e = w.editor
    if w.session.bundle.encoder is None:
        raise SystemExit("--drop needs a bundle with an encoder")
    if w.session.ganspace is None:  # once per generator (cached on disk), not per photo
        _wait(e.ganspaceReady)
    rows = []
    for path in paths:
        shown: list[float] = []
        marks: dict[str, float] = {}

        def on_encoded(_s: float, marks: dict = marks) -> None:
            marks.setdefault("encoded", time.perf_counter())

        e.encoded.connect(on_encoded)
        t0 = time.perf_counter()
        _drop(w, path)
        while "encoded" not in marks:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 20)
        e.encoded.disconnect(on_encoded)
        w.canvas.viewport().repaint()
        t_shown = time.perf_counter() - t0
        row = w.edit_panel.components[0]  # the user moves the first slider as soon as the result shows
        t1 = time.perf_counter()
        target = 1.6 if abs(row.strength.value() - 1.6) > 1e-6 else -1.6
        row.strength.setValue(target)
        while abs(w.session.edits[0].strength - target) > 1e-6 or e._render_t0:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 10)
        w.canvas.viewport().repaint()
        t_edit = time.perf_counter() - t0
        refining = e.inverting
        for i in range(moves):
            t = time.perf_counter()
            row.strength.setValue(((i % 4) - 1.5) * 1.1)
            _wait(e.rendered)
            w.canvas.viewport().repaint()
            shown.append(time.perf_counter() - t)
        e.cancel()
        while e.inverting:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 20)
        rows.append({"photo": str(path), "drop_to_encoder_s": t_shown, "drop_to_first_edit_s": t_edit,
                     "first_edit_render_s": t_edit - (t1 - t0),
                     "refining_during_moves": refining, "slider_median_ms": statistics.median(shown) * 1000})  # fmt: skip
        print(
            f"{Path(path).name}: drop → encoder φ on screen {t_shown:.2f} s, → first edited frame {t_edit:.2f} s; "
            f"slider → repaint while refining: median {statistics.median(shown) * 1000:.0f} ms"
            + ("" if refining else " (the refinement had already finished)"),
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="inversion steps before editing")
    ap.add_argument("--moves", type=int, default=15, help="slider movements per case")
    ap.add_argument("--drag-hz", type=float, default=60.0, help="event rate of the simulated drag")
    ap.add_argument(
        "--drop", nargs="+", default=None, metavar="PHOTO", help="time drop → first edited frame for these photos"
    )
    ap.add_argument("--view", default="side", choices=("side", "edited", "result"), help="the view shown while timing")
    ap.add_argument("--photo", type=Path, help="open this photo instead of the sample")
    args = ap.parse_args(argv)
    init_torch()
    from .app import create_app
    from .main_window import MainWindow

    app = create_app([])
    MainWindow.confirm_unsaved = False
    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    e = w.editor
    while w.session.bundle is None:  # the models load on a worker
        app.processEvents()
        time.sleep(0.05)
    if args.drop:
        print(f"generator {w.session.bundle.describe()['generator']}, encoder {w.session.bundle.encoder_name}")
        rows = measure_drop(app, w, args.drop, moves=5)
        worst = max(r["drop_to_first_edit_s"] for r in rows)
        med = statistics.median(r["drop_to_first_edit_s"] for r in rows)
        print(f"drop → first edited frame: median {med:.2f} s, worst {worst:.2f} s over {len(rows)} photos")
        w.close()
        w.deleteLater()
        app.processEvents()
        return 0
    from sam_editor.session import sample_images

    w.open_path(args.photo or sample_images()[0])
    _wait(e.mapReady)
    if w.session.ganspace is None:
        _wait(e.ganspaceReady)
    w.inversion_panel.set_steps(args.steps)
    e.start_inversion("sam", args.steps)
    _wait(e.inversionFinished)
    _wait(e.rendered)
    w.set_view(args.view)
    G = w.session.bundle.G
    n = G.num_ws
    row = w.edit_panel.components[0]
    print(f"generator {w.session.bundle.describe()['generator']}, {w.session.bundle.describe()['device']}")
    for label, layers in (
        ("late rows", (n - 4, n - 1)),
        ("middle rows", (n // 2 - 2, n // 2 + 1)),
        ("all rows", (0, n - 1)),
    ):
        row.set_state(0.0, layers)
        e.on_component(0, 0.0, layers, True)
        latencies = []
        for i in range(args.moves):
            t0 = time.perf_counter()
            row.strength.setValue(((i % 6) - 2.5) * 0.8)
            _wait(e.rendered)
            w.canvas.viewport().repaint()  # the paint itself, synchronously
            latencies.append(time.perf_counter() - t0)
        med = statistics.median(latencies) * 1000
        print(
            f"single move, {label} {layers}: median {med:.0f} ms, p90 {sorted(latencies)[int(0.9 * len(latencies))] * 1000:.0f} ms"
        )
    # a continuous drag: slider events at drag-hz from the event loop; renders coalesce
    row.set_state(0.0, (0, n - 1))
    shown: list[float] = []
    e.rendered.connect(shown.append)
    total = args.moves * 2
    state = {"i": 0, "t_last": 0.0}
    timer = QTimer()
    timer.setInterval(int(1000 / args.drag_hz))

    def tick() -> None:
        state["i"] += 1
        row.strength.setValue(state["i"] * 0.2)
        if state["i"] == total:
            timer.stop()
            state["t_last"] = time.perf_counter()

    timer.timeout.connect(tick)
    t0 = time.perf_counter()
    timer.start()
    while not state["t_last"] or w.session.edits[0].strength != row.strength.value() or e._render_t0:
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
    w.canvas.viewport().repaint()
    end = time.perf_counter()
    if args.view == "result":
        r = w.canvas.result
        while not r.settled:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 20)
        w.canvas.viewport().repaint()
        ph, pw = w.session.placement.photo
        print(
            f"result view, photo {pw}×{ph}: last event → full composite on screen {1000 * (time.perf_counter() - state['t_last']):.0f} ms "
            f"(the composite itself {1000 * (r.last_full_seconds or 0):.0f} ms after the {SETTLE_MS} ms pause; "
            f"last preview {1000 * (r.last_preview_seconds or 0):.0f} ms at zoom {w.canvas.zoom:.2f})"
        )
    print(
        f"drag: {total} slider events at {args.drag_hz:.0f} Hz over {state['t_last'] - t0:.2f} s → {len(shown)} repaints "
        f"(coalesced; median change→repaint {statistics.median(shown) * 1000:.0f} ms), "
        f"last event → final repaint {1000 * (end - state['t_last']):.0f} ms"
    )
    w.close()  # shuts the workers down
    w.deleteLater()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
