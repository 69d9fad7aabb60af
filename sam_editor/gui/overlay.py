"""Widgets that explain the invertibility map: the legend (space colours + coverage) and the
segment inspector (predicted invertibility of one segment in every space, against τ)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from sam_editor.gan.layers import LayerSpace
from sam_editor.invertibility.latent_map import SPACE_COLORS
from sam_editor.session import SegmentInfo
from sam_editor.util import TAU_DEFAULT

SPACES = tuple(LayerSpace)
NOTES = {LayerSpace.W_PLUS: "most editable", LayerSpace.F10: "most faithful"}


def space_color(space: LayerSpace) -> QColor:
    return QColor(*SPACE_COLORS[space])


class Swatch(QWidget):
    def __init__(self, color: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.color = color
        self.setFixedSize(14, 14)

    def paintEvent(self, event) -> None:  # noqa: ANN001
        p = QPainter(self)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        p.setBrush(self.color)
        p.drawRoundedRect(QRectF(0.5, 0.5, 13, 13), 3, 3)


class Legend(QWidget):
    """One row per latent space: colour, name (shortcut key), share of the image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        self.shares: dict[LayerSpace, QLabel] = {}
        for row, space in enumerate(SPACES):
            grid.addWidget(Swatch(space_color(space)), row, 0)
            name = QLabel(f"<b>{space.value}</b> <span style='color:#888'>{NOTES.get(space, '')}</span>")
            name.setToolTip(f"Press {row + 1} to put the selected segments in {space.value}")
            grid.addWidget(name, row, 1)
            share = QLabel("–")
            share.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            share.setMinimumWidth(44)
            grid.addWidget(share, row, 2)
            self.shares[space] = share
        grid.setColumnStretch(1, 1)

    def set_coverage(self, coverage: dict[LayerSpace, float] | None) -> None:
        for space, label in self.shares.items():
            label.setText("–" if coverage is None else f"{coverage[space] * 100:.0f} %")


class InvertibilityBars(QWidget):
    """Predicted error of one segment per space as horizontal bars, with the τ line: a space
    whose bar ends left of the line is good enough; the chosen one is outlined."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info: SegmentInfo | None = None
        self.tau = TAU_DEFAULT
        self.scale_max = 0.5
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(5 * 18 + 18)

    def sizeHint(self) -> QSize:
        return QSize(220, 5 * 18 + 18)

    def set_info(self, info: SegmentInfo | None, tau: float) -> None:
        self.info, self.tau = info, tau
        self.update()

    def paintEvent(self, event) -> None:  # noqa: ANN001
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.windowText().color()
        label_w, right = 34, 46
        bar_w = max(10, self.width() - label_w - right)
        top_max = max(self.scale_max, self.tau * 1.6)
        for row, space in enumerate(SPACES):
            y = 4 + row * 18
            p.setPen(text)
            p.drawText(QRectF(0, y, label_w, 14), Qt.AlignmentFlag.AlignVCenter, space.value)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.base().color())
            p.drawRoundedRect(QRectF(label_w, y + 2, bar_w, 10), 3, 3)
            if self.info is None:
                continue
            err = self.info.errors[space]
            frac = min(1.0, err / top_max) if err < 1e8 else 1.0
            p.setBrush(space_color(space))
            p.drawRoundedRect(QRectF(label_w, y + 2, max(2.0, bar_w * frac), 10), 3, 3)
            if space is self.info.space:
                p.setPen(QPen(text, 1.5))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRoundedRect(QRectF(label_w - 1, y + 1, bar_w + 2, 12), 3, 3)
            p.setPen(text)
            value = "n/a" if err >= 1e8 else f"{err:.3f}"
            p.drawText(QRectF(label_w + bar_w + 4, y, right - 4, 14), Qt.AlignmentFlag.AlignVCenter, value)
        x = label_w + bar_w * min(1.0, self.tau / top_max)
        p.setPen(QPen(QColor(230, 80, 80), 1.5, Qt.PenStyle.DashLine))
        p.drawLine(int(x), 2, int(x), 4 + 5 * 18)
        p.drawText(QRectF(x - 30, 4 + 5 * 18, 60, 14), Qt.AlignmentFlag.AlignCenter, f"τ {self.tau:.3f}")
