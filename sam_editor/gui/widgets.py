"""Small widgets: the in-window message bar (problems and hints without modal dialogs) and the
export options dialog."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

KIND_STYLE = {
    "info": ("mdi6.information-outline", "#2d4a6b", "#8ec5ff"),
    "warning": ("mdi6.alert-outline", "#5a4a1e", "#ffd27a"),
    "error": ("mdi6.alert-circle-outline", "#5e2626", "#ff9b9b"),
}


class MessageBar(QFrame):
    """A dismissable strip above the canvas. Errors stay until closed; info fades after a while."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        close = QToolButton()
        close.setIcon(qta.icon("mdi6.close"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        row.addWidget(self.icon)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.hide()

    def show_message(self, kind: str, title: str, text: str, timeout_ms: int = 0) -> None:
        icon, bg, fg = KIND_STYLE[kind]
        self.kind = kind
        self.setStyleSheet(f"#messageBar {{ background: {bg}; border-radius: 4px; }} #messageBar QLabel {{ color: {fg}; }}")
        self.icon.setPixmap(qta.icon(icon, color=fg).pixmap(20, 20))
        self.label.setText(f"<b>{title}</b> — {text}" if title else text)
        self.show()
        self._timer.stop()
        if timeout_ms:
            self._timer.start(timeout_ms)

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()


class ExportDialog(QDialog):
    """What to export: edited or reconstruction, alone or side by side; at the photo's own size
    (the edit blended into the photo) or the generator's image only."""

    def __init__(self, photo_size: tuple[int, int], box_size: tuple[int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export PNG")
        layout = QVBoxLayout(self)
        self.edited = QRadioButton("Edited image")
        self.edited.setChecked(True)
        self.reconstruction = QRadioButton("Reconstruction")
        self.side = QCheckBox("Side by side: source | reconstruction | edited")
        self.side.toggled.connect(lambda on: (self.edited.setEnabled(not on), self.reconstruction.setEnabled(not on)))
        group = QButtonGroup(self)
        for w in (self.edited, self.reconstruction):
            group.addButton(w)
        for w in (self.edited, self.reconstruction, self.side):
            layout.addWidget(w)
        layout.addSpacing(8)
        ph, pw = photo_size
        bh, bw = box_size
        self.full_size = QRadioButton(f"Your photo at full size ({pw} × {ph}) with the edit applied")
        self.full_size.setToolTip(
            "The edit's change is scaled up and added to the original photo, where the edit acts;\n"
            "everything it does not touch stays exactly as in the photo."
        )
        self.full_size.setChecked(True)
        self.generator_only = QRadioButton(f"Generator image only ({bw} × {bh})")
        self.generator_only.setToolTip("What the generator draws, at its own resolution (the reconstruction itself).")
        sizes = QButtonGroup(self)
        for w in (self.full_size, self.generator_only):
            sizes.addButton(w)
            layout.addWidget(w)
        layout.addWidget(QLabel("The edit recipe (τ, layers, edits, model checksums) is saved inside the PNG."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def options(self) -> dict:
        return {
            "which": "edited" if self.edited.isChecked() else "reconstruction",
            "side_by_side": self.side.isChecked(),
            "full_size": self.full_size.isChecked(),
        }
