"""Start the window: `run(argv) -> exit code` (main.py and `sam-editor gui` call it)."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from sam_editor import __version__
from sam_editor.runtime import init_torch

RESOURCES = Path(__file__).resolve().parents[2] / "resources"

STYLE = """
QGroupBox { font-weight: 600; border: 1px solid #3a3b40; border-radius: 6px; margin-top: 14px; padding: 8px 6px 6px 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #c9cbd1; }
QLabel#hint { color: #8d9099; font-size: 11px; }
QLabel#warning { color: #ffd27a; }
QLabel#mono { font-family: monospace; font-size: 11px; color: #b8bbc4; }
QPushButton { padding: 4px 10px; }
QPushButton#primary { background: #2f6fca; color: white; border: 1px solid #3d80dd; border-radius: 4px; font-weight: 600; padding: 5px 12px; }
QPushButton#primary:hover { background: #3a7ee0; }
QPushButton#primary:disabled { background: #34373d; color: #777; border-color: #3a3b40; }
QDockWidget::title { padding: 6px; background: #2a2b2f; font-weight: 600; }
QStatusBar QLabel#statusField { color: #a7aab3; padding: 0 8px; border-left: 1px solid #3a3b40; }
QStatusBar QLabel#statusField[demo="true"] { color: #ffd27a; }
QToolBar { spacing: 4px; padding: 3px; border: none; }
QProgressBar { border: 1px solid #3a3b40; border-radius: 3px; text-align: center; height: 14px; }
QProgressBar::chunk { background: #2f6fca; border-radius: 2px; }
"""


def apply_theme(app: QApplication) -> None:
    """A dark Fusion theme: images read better on a neutral dark background."""
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 44, 48), QColor(222, 224, 229)
    for role, color in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, window),
        (QPalette.ColorRole.ToolTipBase, QColor(50, 52, 58)),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor(52, 54, 59)),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.Highlight, QColor(47, 111, 202)),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Link, QColor(120, 170, 255)),
        (QPalette.ColorRole.PlaceholderText, QColor(130, 132, 140)),
    ):
        p.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 112, 118))
    app.setPalette(p)
    app.setStyleSheet(STYLE)
    qta.set_defaults(color="#d6d8de", color_disabled="#5d6066")


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication([sys.argv[0], *(argv or [])])
    app.setOrganizationName("SAM Editor")
    app.setApplicationName("SAM Editor")
    app.setApplicationVersion(__version__)
    icon = RESOURCES / "icons" / "sam-editor.png"
    app.setWindowIcon(QIcon(str(icon)) if icon.is_file() else qta.icon("mdi6.car-sports"))
    apply_theme(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def run(argv: list[str], t_start: float | None = None) -> int:
    """Open the window (and the image or project named in `argv`, if any); → exit code.

    `--smoke-test IMAGE OUT.png` instead runs one whole job unattended (see `smoke.py`), and
    `--check-imports` checks that this build holds every module (see `sam_editor/selfcheck.py`);
    `t_start` is the `time.perf_counter()` of process start, for its start-up timing."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    init_torch()
    if argv and argv[0] == "--check-imports":
        from sam_editor.selfcheck import main as check_imports

        return check_imports()
    if argv and argv[0] == "--smoke-test":
        from .smoke import run_smoke

        t_process = 0.0 if t_start is None else time.perf_counter() - t_start
        return run_smoke(argv[1:], create_app([]), t_process)
    from .preferences import apply_ui_scale_env

    apply_ui_scale_env(QSettings("SAM Editor", "SAM Editor"))  # the same file as QSettings() once the app is named
    app = create_app(argv)
    from .main_window import MainWindow

    window = MainWindow(settings=QSettings())
    geometry = window.settings.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    state = window.settings.value("window_state")
    if state is not None:
        window.restoreState(state)
    window.fit_to_screen()  # a layout saved at another interface scale or on a bigger screen
    window.show()
    # Ctrl+C in the terminal closes the window like the close button (Python only sees signals
    # while it runs, hence the idle timer)
    signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QTimer(window)
    tick.timeout.connect(lambda: None)
    tick.start(300)
    if argv:
        path = Path(argv[0])
        if path.suffix.lower() == ".samproj":
            QTimer.singleShot(0, lambda: window.open_project(path))
        else:
            window.open_path(path)
    return app.exec()
