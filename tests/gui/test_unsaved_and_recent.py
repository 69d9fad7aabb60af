"""Closing with unsaved work asks Save / Discard / Cancel (and Save really saves); Open Recent
lists the projects saved and opened, beside the photos, and opens them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from .test_window import invert, open_and_map

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
B = QMessageBox.StandardButton


def _answer(window, button: QMessageBox.StandardButton, seen: list) -> None:  # noqa: ANN001
    """Click `button` of the unsaved-work box as soon as it is up (it runs its own event loop)."""

    def click() -> None:
        box = window.unsaved_box
        seen.append(box.standardButtons())
        box.button(button).click()

    QTimer.singleShot(0, click)


def test_close_offers_save_discard_cancel(window, qtbot, sample_png, tmp_path, tiny_bundle, temp_settings, monkeypatch):  # noqa: ANN001
    window.confirm_unsaved = True
    open_and_map(window, qtbot, sample_png)
    invert(window, qtbot, steps=2)
    assert window.session.dirty
    seen: list = []
    _answer(window, B.Cancel, seen)
    assert not window.close() and window.isVisible()  # Cancel: nothing happens
    assert seen[0] == B.Save | B.Discard | B.Cancel

    project = tmp_path / "closing.samproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(project), "")))
    _answer(window, B.Save, seen)
    assert window.close()  # Save: saved, then closed
    assert project.is_file() and not window.session.dirty
    projects, photos = window.recent_files()
    assert projects == [project] and photos == [sample_png]

    # a restart: Open Recent lists the project and the photo, and opens the project
    from sam_editor.gui.main_window import MainWindow

    again = MainWindow(bundle=tiny_bundle, settings=temp_settings)
    again.confirm_unsaved = True
    qtbot.addWidget(again)
    again.show()
    again._fill_recent()
    entries = [a for a in again.recent_menu.actions() if not a.isSeparator()]
    texts = [a.text() for a in entries]
    assert any(t.startswith("closing.samproj") for t in texts) and any(t.startswith(sample_png.name) for t in texts)
    entry = next(a for a in entries if a.text().startswith("closing.samproj"))
    entry.trigger()
    assert again.session.project_path == project and again.session.inversion is not None
    # Discard closes without writing
    again.session.dirty = True
    before = project.stat().st_mtime_ns
    _answer(again, B.Discard, seen)
    assert again.close()
    assert project.stat().st_mtime_ns == before
    again.editor.shutdown()
