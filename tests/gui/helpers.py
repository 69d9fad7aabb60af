"""Driving the real window the way a user does: drops, clicks, keys."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget


def drop_files(target: QWidget, *paths: Path) -> bool:
    """Simulate dragging files from a file manager and dropping them on `target`."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(target.width() // 2, target.height() // 2)
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:  # PySide6 ≥ 6.12 takes a QPointF, earlier releases a QPoint
        enter = QDragEnterEvent(QPointF(pos), *args)
    except TypeError:
        enter = QDragEnterEvent(pos, *args)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()


def source_point(window, y: float, x: float) -> QPoint:  # noqa: ANN001
    """Viewport position of frame pixel (y, x) on the source view: the photo at its own size
    (its box's corner at the scene's origin), or the frame's source panel."""
    canvas = window.canvas
    if canvas.photo_source:
        top, left = canvas.photo_box_origin()
        return canvas.mapFromScene(QPointF(x + 0.5 - left, y + 0.5 - top))
    item = canvas.items["source"]
    return canvas.mapFromScene(item.pos() + QPointF(x + 0.5, y + 0.5))


def reopen_in_new_window(project: Path, qtbot, bundle, settings):  # noqa: ANN001, ANN201
    """A second window on the same bundle, its GANSpace ready, with `project` opened in it."""
    from sam_editor.gui.main_window import MainWindow

    other = MainWindow(bundle=bundle, settings=settings)
    qtbot.addWidget(other)
    with qtbot.waitSignal(other.editor.ganspaceReady, timeout=30000):
        pass
    with qtbot.waitSignal(other.editor.rendered, timeout=30000):
        assert other.open_project(project)
    return other
