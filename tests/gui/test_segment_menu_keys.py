"""The number keys shown in the segment menu work while the menu is open."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from sam_editor.gan.layers import LayerSpace

from .helpers import source_point
from .test_window import open_and_map

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_keys_in_the_open_segment_menu(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s = window.session
    seg = s.segment_at(40, 40)
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=source_point(window, 40, 40))
    menu = window.segment_menu
    assert menu.isVisible()
    qtbot.keyClick(menu, Qt.Key.Key_5)  # F10: shown, but a 64 px generator has none → nothing
    assert s.latent_map.overrides == {} and menu.isVisible()
    qtbot.keyClick(menu, Qt.Key.Key_3)  # key 3 = F6, as the menu says
    assert s.latent_map.overrides == {seg: LayerSpace.F6}
    qtbot.waitUntil(lambda: not menu.isVisible())
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=source_point(window, 40, 40))
    qtbot.keyClick(window.segment_menu, Qt.Key.Key_0)  # back to the τ rule
    assert s.latent_map.overrides == {}
