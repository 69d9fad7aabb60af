"""The empty canvas's welcome: shown until a photo opens, a sample opens with one click, a drop
on it opens the photo, and the recent photos and projects are there after a restart."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

from sam_editor.session import sample_images

from .helpers import drop_files

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_welcome_opens_a_sample_and_goes_away(window, qtbot):  # noqa: ANN001
    welcome = window.welcome
    assert welcome.isVisible() and welcome.geometry() == window.canvas.rect()
    samples = sample_images()
    assert len(welcome.sample_buttons) == len(samples) >= 1
    assert welcome.recent_buttons == []  # nothing opened yet
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        qtbot.mouseClick(welcome.sample_buttons[-1], Qt.MouseButton.LeftButton)
    assert window.session.source.path == samples[-1]
    assert not welcome.isVisible()


def test_drop_on_the_welcome_and_recent_after_a_restart(window, qtbot, sample_png, tiny_bundle):  # noqa: ANN001
    assert window.welcome.isVisible()
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        assert drop_files(window.welcome, sample_png)  # dropped on the welcome itself
    assert window.session.source.path == sample_png and not window.welcome.isVisible()
    window.editor.shutdown()

    from sam_editor.gui.main_window import MainWindow

    again = MainWindow(bundle=tiny_bundle, settings=QSettings())
    qtbot.addWidget(again)
    again.show()
    assert again.welcome.isVisible()
    names = [b.text() for b in again.welcome.recent_buttons]
    assert names == [sample_png.name]
    with qtbot.waitSignal(again.editor.mapReady, timeout=30000):
        qtbot.mouseClick(again.welcome.recent_buttons[0], Qt.MouseButton.LeftButton)
    assert again.session.source.path == sample_png and not again.welcome.isVisible()
    again.editor.shutdown()
