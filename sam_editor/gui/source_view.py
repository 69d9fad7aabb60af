"""The source view at the photo's own size (issue 29): the photo, zoomable to 100 % and beyond
and pannable, with the invertibility map over it. The map's segments are carried from the
generator's frame to the photo by the blend-back's own guided upsampling
(`edits.blend.upsample_labels`), so the overlay's boundaries follow the photo's edges instead of
the frame's pixel grid; a click or a brush on a photo pixel means the segment drawn there.

The photo comes from the result view's pyramid (the photo's own pixels above 50 % zoom, so 100 %
is 1:1); the overlay is made at the screen's resolution for the visible part only, grown by a
margin so a short pan needs no new one — a huge photo costs what the screen shows. With
"generator image only" chosen the canvas shows the generator's frame instead (its source panel).

Scene units as in the result view: frame pixels, with the photo's box at the origin.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem

from ..edits.blend import upsample_labels
from ..imageio import Placement

MARGIN = 0.25  # the overlay covers the visible part grown by this share of it on each side
OUTLINE_PX = 2  # the selected / hovered segment's white outline, in screen pixels


class SourceView(QObject):
    """The photo-size source layer of an `ImageCanvas` (see the module doc)."""

    changed = Signal()  # the overlay on screen was redrawn

    def __init__(self, canvas, result) -> None:  # noqa: ANN001
        super().__init__(canvas)
        self.canvas = canvas
        self.result = result  # its compositor (session, photo pyramid) and geometry are shared
        self.photo_item = QGraphicsPixmapItem()
        self.photo_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setTransformationMode(Qt.TransformationMode.FastTransformation)  # labels: no blur
        for item, z in ((self.photo_item, -2), (self.overlay_item, -1)):
            item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
            item.setZValue(z)
            canvas.scene().addItem(item)
        self.opacity = 0.5
        self.overlay_on = True
        self.highlight: int | None = None
        self.selection: list[int] = []
        self.labels: np.ndarray | None = None  # the segments over `window`, at the level's size
        self.window: tuple[int, int, int, int] | None = None  # (y0, y1, x0, x1) in level pixels
        self.level_size: tuple[int, int] | None = None
        self._labels_key: tuple = ()
        self._shown: tuple = ()
        self.last_overlay_seconds: float | None = None
        self.error: str | None = None
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(0)
        self._refresh.timeout.connect(self.render_overlay)
        self.set_visible(False)

    # ---- state ------------------------------------------------------------------------------
    @property
    def session(self):  # noqa: ANN201
        return self.result.compositor.session

    def available(self) -> bool:
        """The canvas shows this view for "source" (else the generator's frame, as before)."""
        s = self.session
        return self.result.full_size and s is not None and s.source is not None and s.placement is not None

    @property
    def visible(self) -> bool:
        return self.photo_item.isVisible()

    def set_visible(self, on: bool) -> None:
        self.photo_item.setVisible(on)
        self.overlay_item.setVisible(on and self.overlay_on and self.labels is not None)
        if on:
            self.view_changed()

    def set_overlay(self, opacity: float, visible: bool, highlight: int | None, selection: list[int]) -> None:
        """The map changed (τ, an override, a new map) or what is marked on it: redraw."""
        self.opacity, self.overlay_on = opacity, visible
        self.highlight, self.selection = highlight, list(selection)
        self.overlay_item.setOpacity(opacity)
        if self.visible:
            self.render_overlay()

    # ---- drawing ----------------------------------------------------------------------------
    def view_changed(self) -> None:
        """Zoom or scroll: the photo's pyramid level follows; a new overlay once the visible part
        leaves the one drawn (or the screen's resolution changed)."""
        if not self.visible:
            return
        self._show_photo()
        if self._overlay_stale() and not self._refresh.isActive():
            self._refresh.start()

    def _show_photo(self) -> None:
        from .canvas import to_pixmap

        comp = self.result.compositor
        photo = comp.photo()
        if photo is None or self.session.placement is None:
            self.photo_item.setPixmap(QPixmap())
            self._shown = ()
            return
        k = self.result.display_level()
        while k > 0 and min(photo.shape[:2]) / 2**k < 64:
            k -= 1
        if self._shown == (k, id(photo)):
            return
        self._shown = (k, id(photo))
        lv = comp.level(k)
        ph, pw = photo.shape[:2]
        u = self.result.unit()
        self.photo_item.setPixmap(to_pixmap(lv))
        self.photo_item.setTransform(QTransform.fromScale(pw / lv.shape[1] / u, ph / lv.shape[0] / u))

    def _target(self) -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int, int, int]] | None:
        """(the photo at the screen's resolution, the visible part and the part to draw, both
        (y0, y1, x0, x1) in its pixels), or None when nothing is to be drawn."""
        s = self.session
        visible = self.result.visible_window()
        if s is None or s.source is None or s.placement is None or visible is None:
            return None
        lv = self.result.compositor.screen_photo(self.canvas.zoom)
        lh, lw = lv.shape[:2]
        ph, pw = s.placement.photo
        y0, y1, x0, x1 = visible
        seen = (int(y0 * lh / ph), min(lh, math.ceil(y1 * lh / ph)), int(x0 * lw / pw), min(lw, math.ceil(x1 * lw / pw)))
        my, mx = int((seen[1] - seen[0]) * MARGIN) + 1, int((seen[3] - seen[2]) * MARGIN) + 1
        drawn = (max(0, seen[0] - my), min(lh, seen[1] + my), max(0, seen[2] - mx), min(lw, seen[3] + mx))
        if seen[1] <= seen[0] or seen[3] <= seen[2]:
            return None
        return lv, seen, drawn

    def _overlay_stale(self) -> bool:
        s = self.session
        if s is None or s.latent_map is None or not self.overlay_on:
            return False
        target = self._target()
        if target is None:
            return False
        lv, seen, _ = target
        w = self.window
        return (
            self.labels is None
            or self.level_size != lv.shape[:2]
            or w is None
            or not (w[0] <= seen[0] and seen[1] <= w[1] and w[2] <= seen[2] and seen[3] <= w[3])
        )

    def render_overlay(self) -> None:
        """The map over the visible part (and its margin) at the screen's resolution."""
        from .canvas import to_pixmap

        s = self.session
        target = None if s is None or s.latent_map is None or not self.overlay_on else self._target()
        if target is None:
            self.overlay_item.setVisible(False)
            return
        t0 = time.perf_counter()
        lv, _, drawn = target
        lm, place = s.latent_map, s.placement
        key = (id(lm.labels), id(s.source), lv.shape, drawn)
        try:
            if key != self._labels_key:
                self.labels = upsample_labels(lv, lm.labels, Placement(place.frame, place.box, lv.shape[:2]), guide=s.work, window=drawn)
                self._labels_key, self._labels_ref = key, lm.labels  # the reference keeps id() unique
                self.window, self.level_size = drawn, lv.shape[:2]
            rgba = s.overlay_rgba(self.highlight, self.selection, labels=self.labels, outline=OUTLINE_PX)
        except (ValueError, IndexError, MemoryError) as exc:  # a message, never a traceback
            self.error = f"The map overlay could not be drawn at the photo's size: {exc}"
            self.overlay_item.setVisible(False)
            return
        self.error = None
        lh, lw = lv.shape[:2]
        ph, pw = place.photo
        u = self.result.unit()
        sx, sy = pw / lw / u, ph / lh / u  # scene units per level pixel
        self.overlay_item.setPixmap(to_pixmap(rgba))
        self.overlay_item.setTransform(QTransform.fromScale(sx, sy))
        self.overlay_item.setPos(drawn[2] * sx, drawn[0] * sy)
        self.overlay_item.setOpacity(self.opacity)
        self.overlay_item.setVisible(self.visible)
        self.last_overlay_seconds = time.perf_counter() - t0
        self.changed.emit()

    # ---- pointer ----------------------------------------------------------------------------
    def photo_pixel(self, y: float, x: float) -> tuple[int, int] | None:
        """A frame point → the photo pixel (row, column) under it, or None off the photo."""
        s = self.session
        if s is None or s.placement is None:
            return None
        t, left, bh, bw = s.placement.box
        ph, pw = s.placement.photo
        py, px = math.floor((y - t) * ph / bh), math.floor((x - left) * pw / bw)
        return (py, px) if 0 <= py < ph and 0 <= px < pw else None

    def segment_at(self, y: float, x: float) -> int | None:
        """The segment drawn at frame point (y, x): the photo pixel's, carried up as the overlay
        carries the map (not the frame pixel's, which can be the neighbour near an edge)."""
        s = self.session
        p = self.photo_pixel(y, x)
        if p is None or s.latent_map is None or s.source is None:
            return None
        py, px = p
        label = upsample_labels(s.source.rgb, s.latent_map.labels, s.placement, guide=s.work, window=(py, py + 1, px, px + 1))
        return int(label[0, 0])
