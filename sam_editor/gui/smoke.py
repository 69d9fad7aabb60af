"""`SAMEditor --smoke-test IMAGE OUT.png`: drive the real window through one whole job, unattended.

It is what the packaging smoke test runs against the frozen app (and what an artist's IT can run
to check an install): load the models the app ships, open a photo, let the invertibility map
be predicted, run a short SAM inversion on the worker thread, apply one GANSpace edit, export
the edited PNG and quit. It prints one JSON line of timings; the exit code says how it went
(0 done, 1 a problem the window reported, 2 a time-out). Settings go to a throw-away file so
a smoke run never touches the user's recent files or window layout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="SAMEditor --smoke-test", description=__doc__.splitlines()[0])
    p.add_argument("image", type=Path)
    p.add_argument("out", type=Path, help="edited PNG to write")
    p.add_argument("--steps", type=int, default=20, help="inversion steps (short: this checks the plumbing)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
    return p.parse_args(argv)


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): start-up time as the
    user sees it, including the frozen app's bootloader and the torch import."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_smoke(argv: list[str], app: QApplication, t_process: float) -> int:
    args = parse(argv)
    from .main_window import MainWindow

    settings_dir = tempfile.TemporaryDirectory(prefix="sam-editor-smoke-")
    settings = QSettings(str(Path(settings_dir.name) / "settings.ini"), QSettings.Format.IniFormat)
    t0 = time.perf_counter()
    window = MainWindow(settings=settings)
    window.confirm_unsaved = False
    window.show()
    editor = window.editor
    age = process_age()
    if age is not None:  # count from the process's own start, not from main.py
        t_process = age - (time.perf_counter() - t0)
    times: dict[str, float] = {"window_s": round(time.perf_counter() - t0 + t_process, 3)}
    state = {"code": None, "message": "", "inverted": False, "edited": False}

    def done(code: int, message: str = "") -> None:
        if state["code"] is None:
            state["code"], state["message"] = code, message
            app.exit(code)

    def since() -> float:
        return round(time.perf_counter() - t0 + t_process, 3)

    # Any error the window shows the user ends the run with that message.
    show_problem = window.show_problem

    def on_problem(title: str, message: str, kind: str = "error", timeout_ms: int = 0) -> None:
        show_problem(title, message, kind, timeout_ms)
        if kind == "error":
            done(1, f"{title}: {message}" if title else message)

    window.show_problem = on_problem  # type: ignore[method-assign]
    editor.problem.connect(lambda m: done(1, m))

    def on_map() -> None:
        if "map_s" not in times:
            times["map_s"] = since()
            editor.start_inversion("sam", args.steps)

    def on_inverted(inversion) -> None:  # noqa: ANN001
        times["inversion_s"] = since()
        times["inversion_steps"] = inversion.steps_run
        state["inverted"] = True
        maybe_edit()

    def maybe_edit() -> None:
        if not state["inverted"] or state["edited"] or window.session.ganspace is None:
            return
        state["edited"] = True
        editor.on_component(0, 2.0, (0, window.session.bundle.G.num_ws - 1), True)
        editor.rendered.connect(lambda _latency: export())

    def export() -> None:
        if state["code"] is not None or "export_s" in times:
            return
        s = window.session
        if s.edited is None or s.inversion is None or np.array_equal(s.edited, s.inversion.reconstruction):
            return  # a render from before the edit: wait for the edited one
        times["export_s"] = since()
        if window.export_to(args.out, which="edited"):
            done(0)
        else:
            done(1, window.message_bar.text() or "export failed")

    editor.mapReady.connect(on_map)
    editor.inversionFinished.connect(on_inverted)
    editor.ganspaceReady.connect(maybe_edit)
    QTimer.singleShot(int(args.timeout * 1000), lambda: done(2, f"timed out after {args.timeout:.0f} s"))
    if not args.image.is_file():
        print(json.dumps({"ok": False, "error": f"{args.image}: no such file"}), flush=True)
        return 1
    QTimer.singleShot(0, lambda: window.open_path(args.image))
    app.exec()
    window.editor.shutdown()
    ok = state["code"] == 0
    report = {"ok": ok, **times, "out": str(args.out)}
    if not ok:
        report["error"] = state["message"]
    print(json.dumps(report), flush=True)
    return int(state["code"] or 0) if state["code"] is not None else 1


def main_smoke(argv: list[str], t_process: float = 0.0) -> int:  # python -m sam_editor.gui.smoke
    from .app import create_app

    app = create_app([])
    return run_smoke(argv, app, t_process)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_smoke(sys.argv[1:]))
