"""Keys shown beside a popup menu's entries ("F8  4") work while the menu is open: a popup takes
the keyboard, so the window's own shortcuts do not fire until it closes."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QMenu


class MenuKeys(QObject):
    def __init__(self, menu: QMenu, keys: dict[str, QAction]) -> None:
        """`keys`: the key as the platform writes it ("4", "Shift+E") → the menu entry it triggers."""
        super().__init__(menu)
        self.menu, self.keys = menu, dict(keys)
        menu.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.menu and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            pressed = QKeySequence(event.keyCombination()).toString(QKeySequence.SequenceFormat.NativeText)
            entry = self.keys.get(pressed)
            if entry is not None and entry.isEnabled():
                self.menu.close()
                entry.trigger()
                return True
        return False
