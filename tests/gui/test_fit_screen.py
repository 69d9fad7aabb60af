"""The window never opens larger than its screen (the interface scale makes screens smaller)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication


def test_window_fits_the_screen(qtbot, tiny_bundle, temp_settings):  # noqa: ANN001
    from sam_editor.gui.main_window import MainWindow

    avail = QApplication.primaryScreen().availableGeometry()
    assert avail.width() < 1440 or avail.height() < 900  # offscreen: 800 × 600, smaller than the default size
    w = MainWindow(bundle=tiny_bundle, settings=temp_settings)
    qtbot.addWidget(w)
    assert w.width() <= avail.width() and w.height() <= avail.height()
    w.resize(3000, 2000)  # e.g. a layout saved at 1× restored at 1.5×
    w.move(5000, 5000)
    w.fit_to_screen()
    assert w.width() <= avail.width() and w.height() <= avail.height()
    assert avail.contains(w.frameGeometry().topLeft())
    w.editor.shutdown()
