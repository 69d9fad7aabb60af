"""The empty canvas's welcome: where to drop a photo, a button to open one, the bundled samples
(one click opens one) and the recent projects and photos. It lies over the canvas while no
photo is open; a file dropped on it goes to the window like a drop on the canvas."""

from __future__ import annotations

from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

MAX_RECENT_SHOWN = 5


class WelcomeOverlay(QWidget):
    openRequested = Signal()
    pathRequested = Signal(Path)  # a sample, a recent photo or project
    dropped = Signal(QDropEvent)

    def __init__(self, over: QWidget) -> None:
        super().__init__(over)
        self.setObjectName("welcome")
        self.setAcceptDrops(True)
        over.installEventFilter(self)
        outer = QVBoxLayout(self)
        outer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        card = QFrame()
        card.setObjectName("welcomeCard")
        card.setStyleSheet(
            "#welcomeCard { background: rgba(38, 39, 43, 235); border: 2px dashed #4a4d55; border-radius: 12px; }"
            "#welcomeCard QLabel#welcomeTitle { font-size: 18px; font-weight: 600; color: #dfe1e6; }"
            "#welcomeCard QToolButton { padding: 4px; border-radius: 6px; }"
            "#welcomeCard QToolButton:hover { background: #34373d; }"
            "#welcomeCard QPushButton#link { text-align: left; border: none; color: #8ec5ff; padding: 1px 4px; }"
            "#welcomeCard QPushButton#link:hover { text-decoration: underline; }"
        )
        cl = QVBoxLayout(card)
        cl.setContentsMargins(28, 22, 28, 22)
        cl.setSpacing(10)
        icon = QLabel()
        icon.setPixmap(qta.icon("mdi6.image-plus", color="#8d9099").pixmap(56, 56))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("Drop a photo of a car here")
        title.setObjectName("welcomeTitle")
        title.setWordWrap(True)  # a narrow canvas (a large interface scale) wraps it instead of clipping
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("It is inverted into the generator; then edit it with the sliders or a text prompt on the right.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton(qta.icon("mdi6.folder-open-outline"), "Open a photo…")
        self.open_button.setObjectName("primary")
        self.open_button.clicked.connect(self.openRequested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_button)
        row.addStretch(1)
        cl.addWidget(icon)
        cl.addWidget(title)
        cl.addWidget(hint)
        cl.addLayout(row)
        self.samples_label = QLabel("Or open a sample:")
        self.samples_label.setObjectName("hint")
        cl.addWidget(self.samples_label)
        self.samples_row = QHBoxLayout()
        self.samples_row.setSpacing(8)
        cl.addLayout(self.samples_row)
        self.recent_grid = QGridLayout()
        self.recent_grid.setHorizontalSpacing(24)
        self.recent_grid.setVerticalSpacing(0)
        cl.addLayout(self.recent_grid)
        outer.addWidget(card)
        self.sample_buttons: list[QToolButton] = []
        self.recent_buttons: list[QPushButton] = []
        self.setGeometry(over.rect())

    # ---- contents ----------------------------------------------------------------------------
    def set_samples(self, paths: list[Path]) -> None:
        for b in self.sample_buttons:
            b.deleteLater()
        self.sample_buttons = []
        self.samples_row.addStretch(1)
        for p in paths:
            b = QToolButton()
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setText(p.stem.replace("_", " ").replace("car ", "").title())
            b.setToolTip(f"Open the sample {p.name}")
            pix = QPixmap(str(p))
            if not pix.isNull():
                b.setIcon(
                    QIcon(
                        pix.scaled(
                            96, 72, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                        )
                    )
                )
                b.setIconSize(QSize(96, 72))
            b.setAutoRaise(True)
            b.clicked.connect(lambda _=False, path=p: self.pathRequested.emit(path))
            self.samples_row.addWidget(b)
            self.sample_buttons.append(b)
        self.samples_row.addStretch(1)
        self.samples_label.setVisible(bool(paths))

    def set_recent(self, projects: list[Path], photos: list[Path]) -> None:
        while self.recent_grid.count():
            item = self.recent_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.recent_buttons = []
        for col, (title, paths, icon) in enumerate(
            (("Recent projects", projects, "mdi6.folder-star-outline"), ("Recent photos", photos, "mdi6.image-outline"))
        ):
            if not paths:
                continue
            head = QLabel(title)
            head.setObjectName("hint")
            self.recent_grid.addWidget(head, 0, col)
            shown = paths[:MAX_RECENT_SHOWN]
            names = [p.name for p in shown]
            for i, p in enumerate(shown):
                same = names.count(p.name) > 1  # one name in several folders: say which
                text = f"{p.name}  (…/{p.parent.parent.name}/{p.parent.name})" if same else p.name
                b = QPushButton(qta.icon(icon, color="#8ec5ff"), text)
                b.setObjectName("link")
                b.setFlat(True)
                b.setCursor(Qt.CursorShape.PointingHandCursor)
                b.setToolTip(str(p))
                b.clicked.connect(lambda _=False, path=p: self.pathRequested.emit(path))
                self.recent_grid.addWidget(b, i + 1, col)
                self.recent_buttons.append(b)

    # ---- placement and drops -----------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.dropped.emit(event)
