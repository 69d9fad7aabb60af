"""The edit stack as layers: each active edit is a row with a visibility switch, its name
(double-click to rename), strength, the style rows it may touch and a menu (rename, duplicate,
move, remove); rows are dragged to reorder. The view only asks — the editor turns every request
into one undoable change of the session's edit list, and the list comes back through `show`."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QRangeSlider

from sam_editor.session import EditSpec

STRENGTH_RANGE = (-6.0, 6.0)  # σ units (GANSpace)
OTHER_RANGE = (-3.0, 3.0)  # StyleCLIP / official directions: multiples of the found δw+
ROW_MIME = "application/x-qabstractitemmodeldatalist"  # what Qt's item views drag


def strength_slider(lo: float, hi: float, decimals: int = 1) -> QLabeledDoubleSlider:
    s = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(0.1)
    s.setValue(0.0)
    return s


class NameLabel(QLabel):
    """A name that asks to be renamed on double-click (edit layers, GANSpace components)."""

    doubleClicked = Signal()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: ANN001
        self.doubleClicked.emit()


class LayerRow(QWidget):
    """One layer of the stack."""

    strengthChanged = Signal(int, float, bool)  # index, strength, final
    layersChanged = Signal(int, tuple, bool)  # index, (start, end), final
    removeRequested = Signal(int)
    visibilityToggled = Signal(int, bool)
    renameRequested = Signal(int)
    duplicateRequested = Signal(int)
    moveRequested = Signal(int, int)  # index, new index

    def __init__(
        self, index: int, count: int, edit: EditSpec, title: str, num_ws: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.index = index
        grid = QGridLayout(self)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setVerticalSpacing(0)
        self.visible = QToolButton()
        self.visible.setCheckable(True)
        self.visible.setChecked(edit.enabled)
        self.visible.setAutoRaise(True)
        self.visible.setIcon(qta.icon("mdi6.eye-outline" if edit.enabled else "mdi6.eye-off-outline"))
        self.visible.setToolTip("Hide this edit (it stays in the stack)" if edit.enabled else "Show this edit again")
        self.visible.toggled.connect(lambda on: self.visibilityToggled.emit(self.index, on))
        icon = {"styleclip": "mdi6.format-text", "direction": "mdi6.arrow-top-right"}.get(
            edit.kind, "mdi6.tune-variant"
        )
        self.name = NameLabel(title)
        self.name.setToolTip(
            f"{title} ({edit.kind}{', ' + edit.name if edit.label else ''})\nDouble-click to rename, drag to reorder"
        )
        self.name.setFixedWidth(112)  # the sliders of all layers line up
        self.name.doubleClicked.connect(lambda: self.renameRequested.emit(self.index))
        if not edit.enabled:
            self.name.setStyleSheet("color: #777a82; font-style: italic;")
        lo, hi = STRENGTH_RANGE if edit.kind == "ganspace" else OTHER_RANGE
        lo, hi = min(lo, edit.strength), max(hi, edit.strength)
        self.strength = strength_slider(lo, hi)
        self.strength.setValue(edit.strength)
        self.strength.valueChanged.connect(lambda v: self.strengthChanged.emit(self.index, float(v), False))
        self.strength._slider.sliderReleased.connect(
            lambda: self.strengthChanged.emit(self.index, float(self.strength.value()), True)
        )
        self.layers = QRangeSlider(Qt.Orientation.Horizontal)
        self.layers.setRange(0, num_ws - 1)
        self.layers.setValue(edit.layers)
        self.layers.setToolTip("Style rows this edit may change")
        self.layers.valueChanged.connect(lambda v: self._layers(v, False))
        self.layers.sliderReleased.connect(lambda: self._layers(self.layers.value(), True))
        self.rows_label = QLabel(f"rows {edit.layers[0]}–{edit.layers[1]}")
        self.rows_label.setObjectName("hint")
        self.menu_button = QToolButton()
        self.menu_button.setIcon(qta.icon("mdi6.dots-vertical"))
        self.menu_button.setAutoRaise(True)
        self.menu_button.setToolTip("Rename, duplicate, move, remove")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.menu_button)
        self.rename_action = menu.addAction(qta.icon("mdi6.rename-outline"), "Rename…")
        self.rename_action.triggered.connect(lambda: self.renameRequested.emit(self.index))
        self.duplicate_action = menu.addAction(qta.icon("mdi6.content-duplicate"), "Duplicate")
        self.duplicate_action.triggered.connect(lambda: self.duplicateRequested.emit(self.index))
        menu.addSeparator()
        self.up_action = menu.addAction(qta.icon("mdi6.arrow-up"), "Move Up")
        self.up_action.setEnabled(index > 0)
        self.up_action.triggered.connect(lambda: self.moveRequested.emit(self.index, self.index - 1))
        self.down_action = menu.addAction(qta.icon("mdi6.arrow-down"), "Move Down")
        self.down_action.setEnabled(index < count - 1)
        self.down_action.triggered.connect(lambda: self.moveRequested.emit(self.index, self.index + 1))
        menu.addSeparator()
        self.remove_action = menu.addAction(qta.icon("mdi6.close"), "Remove")
        self.remove_action.triggered.connect(lambda: self.removeRequested.emit(self.index))
        self.menu_button.setMenu(menu)
        kind = QLabel()
        kind.setPixmap(qta.icon(icon, color="#aab").pixmap(14, 14))
        grid.addWidget(self.visible, 0, 0)
        grid.addWidget(self.name, 0, 1)
        grid.addWidget(self.strength, 0, 2)
        grid.addWidget(self.menu_button, 0, 3)
        grid.addWidget(kind, 1, 0, Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(self.rows_label, 1, 1)
        grid.addWidget(self.layers, 1, 2)
        grid.setColumnStretch(2, 1)
        for w in (self.strength, self.layers, self.rows_label):
            w.setEnabled(edit.enabled)

    def _layers(self, value: tuple, final: bool) -> None:
        a, b = (int(v) for v in value)
        self.rows_label.setText(f"rows {a}–{b}")
        self.layersChanged.emit(self.index, (a, b), final)

    def set_state(self, strength: float, layers: tuple[int, int]) -> None:
        for w in (self.strength, self.layers):
            w.blockSignals(True)
        self.strength.setValue(strength)
        self.layers.setValue(layers)
        self.rows_label.setText(f"rows {layers[0]}–{layers[1]}")
        for w in (self.strength, self.layers):
            w.blockSignals(False)


class EditStackView(QListWidget):
    """The layers, first edit on top. Every row's requests are re-emitted with its index."""

    strengthChanged = Signal(int, float, bool)
    layersChanged = Signal(int, tuple, bool)
    removed = Signal(int)
    visibilityChanged = Signal(int, bool)
    renamed = Signal(int, str)  # index, the user's label ("": back to the edit's name)
    duplicated = Signal(int)
    moved = Signal(int, int)  # from index, to index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("editStack")
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSpacing(1)
        self.rows: list[LayerRow] = []
        self._edits: list[EditSpec] = []
        self._signature: list[tuple] = []
        self.setFixedHeight(0)

    def show_edits(self, edits: list[EditSpec], titles: list[str], num_ws: int) -> None:
        """Rows are rebuilt only when the list's shape changed, so a slider being dragged is
        never destroyed under the pointer; otherwise strengths and rows are updated in place."""
        self._edits = list(edits)
        signature = [(e.kind, e.name, e.key, e.enabled, e.label, t) for e, t in zip(edits, titles, strict=True)]
        if signature == self._signature:
            for row, e in zip(self.rows, edits, strict=True):
                row.set_state(e.strength, e.layers)
            return
        self._signature = signature
        with QSignalBlocker(self):
            self.clear()
        self.rows = []
        for i, (e, title) in enumerate(zip(edits, titles, strict=True)):
            row = LayerRow(i, len(edits), e, title, num_ws)
            row.strengthChanged.connect(self.strengthChanged)
            row.layersChanged.connect(self.layersChanged)
            row.removeRequested.connect(self.removed)
            row.visibilityToggled.connect(self.visibilityChanged)
            row.renameRequested.connect(self.rename)
            row.duplicateRequested.connect(self.duplicated)
            row.moveRequested.connect(self._move)
            item = QListWidgetItem(self)
            item.setSizeHint(QSize(1, row.sizeHint().height()))  # as wide as the list, never clipped
            item.setToolTip("Drag to reorder")
            self.setItemWidget(item, row)
            self.rows.append(row)
        height = sum(self.sizeHintForRow(i) + 2 * self.spacing() for i in range(self.count()))
        self.setFixedHeight(height + 2 * self.frameWidth() if edits else 0)

    def rename(self, index: int) -> None:
        if not 0 <= index < len(self._edits):
            return
        e = self._edits[index]
        text, ok = QInputDialog.getText(self, "Rename edit", f"Name of this layer (empty: “{e.name}”):", text=e.title)
        if ok:
            label = text.strip()
            self.renamed.emit(index, "" if label == e.name else label)

    def _move(self, index: int, to: int) -> None:
        if 0 <= index < self.count() and 0 <= to < self.count() and to != index:
            self.moved.emit(index, to)

    def _ours(self, event: QDragMoveEvent) -> bool:
        """A drag of this list's own rows (a dropped file goes on to the window: a new photo)."""
        return event.source() in (self, None) and event.mimeData().hasFormat(ROW_MIME)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._ours(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._ours(event):
            super().dragMoveEvent(event)  # the drop indicator
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """A row dropped elsewhere in the list: ask for the move, let the rebuild show it (Qt's
        own move would drop the row widgets)."""
        source = self.currentRow()
        target_item = self.itemAt(event.position().toPoint())
        if target_item is None:
            target = self.count()
        else:
            target = self.row(target_item)
            rect = self.visualItemRect(target_item)
            if event.position().y() > rect.center().y():
                target += 1
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        to = target - 1 if target > source else target
        if source >= 0:
            self._move(source, to)
