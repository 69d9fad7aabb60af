"""The image canvas: source (with the latent-map overlay), reconstruction and edited image,
one at a time or side by side, and the result (the photo at its own resolution with the edit
blended in, `result_view`); zoom, pan, hover, click and brush in generator pixels.

"Source" alone shows the photo at its own resolution with the map carried up to it
(`source_view`); side by side, and with "generator image only" chosen, the panels show the
generator's frame."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QWidget

from .result_view import ResultView
from .source_view import SourceView

PANELS = ("source", "reconstruction", "edited")
MODES = (*PANELS, "side", "result")
WIPE_GRAB_PX = 8  # how near (screen px) to the wipe's divider a press grabs it
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
        self.result = ResultView(self)
        self.source_view = SourceView(self, self.result)
        self._dragging_split = False
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

    def set_overlay(
        self, rgba: np.ndarray | None, opacity: float, visible: bool, highlight: int | None = None, selection: list[int] | None = None
    ) -> None:
        """The map's overlay at frame size (the frame's source panel); the photo-size source
        view draws its own from the map with the same `highlight` and `selection` marked."""
        self.source_view.set_overlay(opacity, visible and rgba is not None, highlight, selection or [])
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
        """'source' | 'reconstruction' | 'edited' | 'side' (all three) | 'result' (the photo at
        its own size with the edit blended in: what the export writes)."""
        if mode not in MODES:
            raise ValueError(f"view mode must be one of {MODES}, got {mode!r}")
        zoom = self.zoom
        self.mode = mode
        self._layout()
        if self._fitted:
            self.fit()
        else:
            self.set_zoom(zoom)  # the same zoom in the new view's own pixels

    def _layout(self) -> None:
        """Place the visible panels left to right with a gap, captions just above each."""
        h, w = self.frame
        result = self.mode == "result"
        photo = self.photo_source
        self.result.set_visible(result)
        self.source_view.set_visible(photo)
        shown = PANELS if self.mode == "side" else () if result or photo else (self.mode,)
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
        if result or photo:
            r = self.result.scene_rect()
            self._placeholder.setVisible(self.result.photo_size() is None)
            margin = 24 / self.result.unit()  # 24 photo pixels
            self.setSceneRect(r.adjusted(-margin, -margin, margin, margin))
            return
        margin = 0.04 * max(h, w)
        self.setSceneRect(QRectF(-margin, -margin - h * 0.08, width + 2 * margin, h + 2 * margin + h * 0.08))

    @property
    def photo_source(self) -> bool:
        """The source view shows the photo at its own size (not the generator's frame)."""
        return self.mode == "source" and self.source_view.available()

    def refresh_layout(self) -> None:
        """What a view shows changed ("generator image only" switched): lay out again."""
        self.set_mode(self.mode)

    # ---- zoom and pan ----------------------------------------------------------------------
    @property
    def unit(self) -> float:
        """Pixels of the shown image per scene unit: the photo's in the result view and the
        photo-size source view, else the frame's."""
        return self.result.unit() if self.mode == "result" or self.photo_source else 1.0

    @property
    def zoom(self) -> float:
        """Screen pixels per pixel of the shown image (1.0 = 100 %)."""
        return self.transform().m11() / self.unit

    def fit(self) -> None:
        self._fitted = True
        rect = self.sceneRect()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom)
        self.result.view_changed()
        self.source_view.view_changed()

    def set_zoom(self, factor: float) -> None:
        """Absolute zoom: 1.0 = one pixel of the shown image (the frame's; the photo's in the
        result view) per screen pixel."""
        self._fitted = False
        factor = max(0.01, min(64.0, factor)) * self.unit
        self.setTransform(self.transform().fromScale(factor, factor))
        self.zoomChanged.emit(self.zoom)
        self.result.view_changed()
        self.source_view.view_changed()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.result.view_changed()
        self.source_view.view_changed()

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
        """(y, x) in frame pixels if `view_pos` is over the source panel (or the photo, in the
        result view and the photo-size source view)."""
        if self.mode == "result" or self.photo_source:
            box = self.result.box_size()
            if box is None or self.photo_box_origin() is None:
                return None
            p = self.mapToScene(view_pos.toPoint())
            if 0 <= p.x() < box[1] and 0 <= p.y() < box[0]:
                t, left = self.photo_box_origin()  # type: ignore[misc]
                return (t + p.y(), left + p.x())
            return None
        src = self.items["source"]
        if not src.isVisible() or src.pixmap().isNull():
            return None
        p = self.mapToScene(view_pos.toPoint()) - src.pos()
        h, w = self.frame
        if 0 <= p.x() < w and 0 <= p.y() < h:
            return (p.y(), p.x())
        return None

    def segment_at(self, y: float, x: float) -> int | None:
        """The map's segment at frame point (y, x) as the view shows it: over the photo at its
        own size, the photo pixel's segment (carried up edge-aware), else the frame pixel's."""
        s = self.result.compositor.session
        if s is None:
            return None
        if (self.mode == "result" or self.photo_source) and self.source_view.available():
            return self.source_view.segment_at(y, x)
        return s.segment_at(y, x)

    def set_wipe(self, on: bool) -> None:
        """Before/after split in the result view: the divider in the middle, or off."""
        self.result.set_split(0.5 if on else None)

    def photo_box_origin(self) -> tuple[int, int] | None:
        """(top, left) of the photo in the frame."""
        s = self.result.compositor.session
        return None if s is None or s.placement is None else (s.placement.box[0], s.placement.box[1])

    def split_x(self) -> float | None:
        """The wipe divider's x in viewport pixels (None: no wipe shown)."""
        if self.mode != "result" or self.result.split is None or self.result.photo_size() is None:
            return None
        r = self.result.scene_rect()
        return self.mapFromScene(QPointF(r.width() * self.result.split, 0)).x()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        sx = self.split_x()
        if event.button() == Qt.MouseButton.LeftButton and sx is not None and abs(event.position().x() - sx) <= WIPE_GRAB_PX:
            self._dragging_split = True
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            event.accept()
            return
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
        if self._dragging_split:
            p = self.mapToScene(event.position().toPoint())
            self.result.set_split(p.x() / max(self.result.scene_rect().width(), 1e-9))
            return
        sx = self.split_x()
        if sx is not None and self._pan_from is None:
            near = abs(event.position().x() - sx) <= WIPE_GRAB_PX
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor) if near else self.viewport().unsetCursor()
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
        if self._dragging_split:
            self._dragging_split = False
            self.viewport().unsetCursor()
            return
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
        if self.mode == "result":
            self._draw_result_foreground(painter)
            return
        if self.photo_source:
            painter.setPen(QPen(QColor(70, 72, 78), 0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self.result.scene_rect())
            return
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

    def _draw_result_foreground(self, painter: QPainter) -> None:
        """The result's outline; with the wipe on, its divider with a handle and the two labels;
        while the compare key is held, a "Before" label."""
        if self.result.photo_size() is None:
            return
        r = self.result.scene_rect()
        painter.setPen(QPen(QColor(70, 72, 78), 0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(r)
        painter.save()
        painter.resetTransform()  # labels and handle in screen pixels
        painter.setFont(QFont(painter.font().family(), 10))
        top = max(0.0, self.mapFromScene(r.topLeft()).y())
        label = QRectF(0, top + 8, 0, 22)

        def tag(text: str, x: float, right: bool) -> None:
            width = painter.fontMetrics().horizontalAdvance(text) + 16
            box = QRectF(x - width - 10 if right else x + 10, label.top(), width, label.height())
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(20, 20, 24, 170))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor(235, 235, 240))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

        if self.result.comparing:
            tag("Before (hold \\)", self.mapFromScene(r.topLeft()).x() + 0, False)
        else:
            sx = self.split_x()
            if sx is not None:
                y0 = self.mapFromScene(r.topLeft()).y()
                y1 = self.mapFromScene(r.bottomLeft()).y()
                painter.setPen(QPen(QColor(250, 250, 252, 230), 2))
                painter.drawLine(QPointF(sx, y0), QPointF(sx, y1))
                mid = (max(y0, 0) + min(y1, self.viewport().height())) / 2
                painter.setBrush(QColor(250, 250, 252, 230))
                painter.drawEllipse(QPointF(sx, mid), 9, 9)
                painter.setPen(QPen(QColor(40, 40, 44), 2))
                painter.drawLine(QPointF(sx - 4, mid), QPointF(sx + 4, mid))
                tag("Before", sx, True)
                tag("After", sx, False)
            if not self.result.full_size:
                tag("Generator image only", self.mapFromScene(r.topLeft()).x(), False)
        painter.restore()
