"""The image canvas: source (with the latent-map overlay), reconstruction and edited image,
one at a time or side by side; zoom, pan, hover, click and brush in generator pixels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QWidget

PANELS = ("source", "reconstruction", "edited")
TITLES = {"source": "Source", "reconstruction": "Reconstruction", "edited": "Edited"}
GAP = 0.06  # gap between side-by-side panels, as a fraction of the image width


def to_qimage(array: np.ndarray) -> QImage:
    """(H, W, 3|4) uint8 → an owning QImage."""
    array = np.ascontiguousarray(array)
    h, w, c = array.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    return QImage(array.data, w, h, c * w, fmt).copy()


def to_pixmap(array: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(array))


class ImageCanvas(QGraphicsView):
    """Scene units are pixels of the generator's frame, so every panel lines up; the source is
    the photo's crop at its own resolution, scaled into that frame."""

    hovered = Signal(float, float)  # y, x in frame pixels (source panel)
    left = Signal()
    clicked = Signal(float, float, QPointF)  # y, x, global position (for a popup)
    brushed = Signal(list, QPointF)  # [(y, x), …], global position
    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor(38, 39, 42))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)  # files dropped anywhere go to the window
        self.viewport().setAcceptDrops(False)
        self.frame = (1, 1)  # (H, W)
        self.photo_box: tuple[int, int, int, int] | None = None  # the photo's part of the frame
        self.mode = "source"
        self.brush_mode = False
        self._stroke: list[tuple[float, float]] | None = None
        self._pan_from: QPointF | None = None
        self._fitted = True
        self.items: dict[str, QGraphicsPixmapItem] = {}
        self.captions: dict[str, QGraphicsSimpleTextItem] = {}
        for name in PANELS:
            item = QGraphicsPixmapItem()
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
            self.scene().addItem(item)
            self.items[name] = item
            cap = QGraphicsSimpleTextItem(TITLES[name])
            cap.setBrush(QColor(200, 200, 205))
            cap.setFlag(cap.GraphicsItemFlag.ItemIgnoresTransformations)
            cap.setFont(QFont(cap.font().family(), 10))
            self.scene().addItem(cap)
            self.captions[name] = cap
        self.overlay = QGraphicsPixmapItem(self.items["source"])  # child: moves and scales with the source
        self.overlay.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.reach = QGraphicsPixmapItem(self.items["edited"])
        self.reach.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.reach.setVisible(False)
        self._placeholder = QGraphicsSimpleTextItem("Drop a photo here — or File ▸ Open Sample")
        self._placeholder.setBrush(QColor(150, 150, 155))
        self._placeholder.setFont(QFont(self._placeholder.font().family(), 14))
        self.scene().addItem(self._placeholder)
        self._layout()

    # ---- content ---------------------------------------------------------------------------
    def set_frame(self, height: int, width: int) -> None:
        self.frame = (int(height), int(width))
        self._layout()

    def set_photo_box(self, box: tuple[int, int, int, int] | None) -> None:
        """(top, left, h, w) of the frame that is the photo; the rest (letterbox padding) is
        dimmed on every panel and the photo outlined."""
        self.photo_box = None if box is None or tuple(box) == (0, 0, *self.frame) else tuple(int(v) for v in box)  # type: ignore[assignment]
        self.viewport().update()

    def set_image(self, name: str, array: np.ndarray | None) -> None:
        """Show `array` in panel `name` (None clears it); it is scaled to the frame."""
        item = self.items[name]
        if array is None:
            item.setPixmap(QPixmap())
        else:
            item.setPixmap(to_pixmap(array))
            item.setScale(self.frame[1] / array.shape[1])
        self._placeholder.setVisible(self.items["source"].pixmap().isNull())
        self._layout()

    def set_overlay(self, rgba: np.ndarray | None, opacity: float, visible: bool) -> None:
        if rgba is None:
            self.overlay.setPixmap(QPixmap())
        else:
            self.overlay.setPixmap(to_pixmap(rgba))
            src = self.items["source"]
            # the overlay is in frame pixels; undo the source's own scale
            self.overlay.setScale(1.0 / src.scale() if src.scale() else 1.0)
        self.overlay.setOpacity(opacity)
        self.overlay.setVisible(visible and rgba is not None)

    def set_reach(self, rgba: np.ndarray | None, visible: bool) -> None:
        if rgba is not None:
            self.reach.setPixmap(to_pixmap(rgba))
            ed = self.items["edited"]
            self.reach.setScale(1.0 / ed.scale() if ed.scale() else 1.0)
        self.reach.setVisible(visible and rgba is not None)

    def set_mode(self, mode: str) -> None:
        """'source' | 'reconstruction' | 'edited' | 'side' (all three)."""
        if mode != "side" and mode not in PANELS:
            raise ValueError(f"view mode must be 'side' or one of {PANELS}, got {mode!r}")
        self.mode = mode
        self._layout()
        if self._fitted:
            self.fit()

    def _layout(self) -> None:
        """Place the visible panels left to right with a gap, captions just above each."""
        h, w = self.frame
        shown = PANELS if self.mode == "side" else (self.mode,)
        x = 0.0
        for name in PANELS:
            item, cap = self.items[name], self.captions[name]
            visible = name in shown
            item.setVisible(visible)
            cap.setVisible(visible and self.mode == "side")
            if visible:
                item.setPos(x, 0)
                cap.setPos(x, -h * 0.07)
                x += w * (1 + GAP)
        width = x - w * GAP
        self._placeholder.setPos(0, h / 2)
        margin = 0.04 * max(h, w)
        self.setSceneRect(QRectF(-margin, -margin - h * 0.08, width + 2 * margin, h + 2 * margin + h * 0.08))

    # ---- zoom and pan ----------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fitted = True
        rect = self.sceneRect()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom)

    def set_zoom(self, factor: float) -> None:
        """Absolute zoom: 1.0 = one frame pixel per screen pixel."""
        self._fitted = False
        factor = max(0.05, min(64.0, factor))
        self.setTransform(self.transform().fromScale(factor, factor))
        self.zoomChanged.emit(self.zoom)

    def zoom_by(self, step: float) -> None:
        self.set_zoom(self.zoom * step)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.15 ** (delta / 120))
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    # ---- pointer ----------------------------------------------------------------------------
    def frame_point(self, view_pos: QPointF) -> tuple[float, float] | None:
        """(y, x) in frame pixels if `view_pos` is over the source panel."""
        src = self.items["source"]
        if not src.isVisible() or src.pixmap().isNull():
            return None
        p = self.mapToScene(view_pos.toPoint()) - src.pos()
        h, w = self.frame
        if 0 <= p.x() < w and 0 <= p.y() < h:
            return (p.y(), p.x())
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self.frame_point(event.position()) is None
        )
        if pan:
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif event.button() == Qt.MouseButton.LeftButton and self.brush_mode:
            self._stroke = [self.frame_point(event.position())]  # type: ignore[list-item]
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            return
        pt = self.frame_point(event.position())
        if pt is None:
            self.left.emit()
            return
        if self._stroke is not None:
            self._stroke.append(pt)
        self.hovered.emit(*pt)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        gpos = event.globalPosition()
        if self._stroke is not None:
            stroke, self._stroke = [p for p in self._stroke if p is not None], None
            if stroke:
                self.brushed.emit(stroke, gpos)
            return
        pt = self.frame_point(event.position())
        if pt is not None:
            self.clicked.emit(pt[0], pt[1], gpos)

    def leaveEvent(self, event) -> None:  # noqa: ANN001
        self.left.emit()
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        event.ignore()  # digits and shortcuts belong to the window

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """A thin frame around each visible panel; the letterbox padding dimmed and the photo
        outlined with a dashed line, so it is plain which part of the frame is the photo."""
        h, w = self.frame
        for item in self.items.values():
            if not item.isVisible() or item.pixmap().isNull():
                continue
            x0, y0 = item.pos().x(), item.pos().y()
            if self.photo_box is not None:
                t, left, bh, bw = self.photo_box
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(24, 25, 28, 190))
                for r in (QRectF(x0, y0, w, t), QRectF(x0, y0 + t + bh, w, h - t - bh), QRectF(x0, y0 + t, left, bh), QRectF(x0 + left + bw, y0 + t, w - left - bw, bh)):
                    if r.width() > 0 and r.height() > 0:
                        painter.drawRect(r)
                pen = QPen(QColor(235, 235, 240, 200), 0, Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(QRectF(x0 + left, y0 + t, bw, bh))
            painter.setPen(QPen(QColor(70, 72, 78), 0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(item.pos(), QPointF(x0 + w, y0 + h)))
