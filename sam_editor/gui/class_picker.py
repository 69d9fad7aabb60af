"""A searchable class picker for a class-conditional generator (BigGAN-deep's class edits).

Typing filters the list by index or name ('car', 'wagon', '511'); with an empty query the car
shortlist shows first. Choosing a class (click, Enter on the list or in the search field) emits
`classChosen(index)`; a strength slider gives the class-interpolation s of the edit
(`ClassConditionedBigGAN.class_delta`). The maths and the names live in the core
(`gan.biggan.classes`); this widget only shows them.

The window shows it as the edit panel of a family whose `edit_panel_kind` is 'class'
(`gui/family_panel.ClassEditBox`, after File ▸ Open Generator Folder…).
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget
from superqt import QLabeledDoubleSlider

from sam_editor.gan.biggan.classes import CAR_SHORTLIST, class_name, search_classes


class ClassPicker(QWidget):
    classChosen = Signal(int)
    strengthChanged = Signal(float)

    def __init__(self, num_classes: int = 1000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.num_classes = num_classes
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search classes: car, wagon, 511 …")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._choose_first)
        self.list = QListWidget()
        self.list.itemActivated.connect(self._choose)
        self.list.itemClicked.connect(self._choose)
        self.strength = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0.0, 1.0)
        self.strength.setValue(1.0)
        self.strength.setToolTip("Class interpolation: 0 keeps the inverted class, 1 is the chosen one")
        self.strength.valueChanged.connect(lambda v: self.strengthChanged.emit(float(v)))
        self.status = QLabel("")
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(QLabel("Strength"))
        layout.addWidget(self.strength)
        layout.addWidget(self.status)
        self._filter("")

    def shown_classes(self) -> list[int]:
        return [int(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())]

    def _filter(self, text: str) -> None:
        hits = search_classes(text, self.num_classes)
        with QSignalBlocker(self.list):
            self.list.clear()
            for index in hits:
                label = class_name(index, self.num_classes)
                item = QListWidgetItem(("★ " if index in CAR_SHORTLIST and self.num_classes == 1000 else "") + label)
                item.setData(Qt.ItemDataRole.UserRole, index)
                self.list.addItem(item)
        self.status.setText("no class matches" if not hits else f"{len(hits)} classes")

    def _choose(self, item: QListWidgetItem) -> None:
        self.classChosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _choose_first(self) -> None:
        if self.list.count():
            self._choose(self.list.item(0))
