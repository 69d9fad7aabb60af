"""The result view: the photo at its own resolution with the current edit blended in — the pixels
the export writes — with a before/after split wipe and a hold-to-compare key.

- The full composite is `Session.output_image("edited", full_size)` (the export's own call, run
  on a worker thread): at 100 % zoom the canvas shows one photo pixel per screen pixel of it.
  With "generator image only" chosen (Preferences ▸ Export) the view shows that image instead.
- While the edit changes (a slider moves) the view shows a preview at screen resolution: the
  same `edits.blend.blend_back`, on the level of a photo pyramid nearest above the screen's
  scale and only over the visible part; the full composite follows once the changes pause.
- Before/after: a split wipe (drag the divider) and a key held to see the photo as it was.

Scene units are the canvas's frame pixels; the photo sits at the scene's origin, scaled by
box width / photo width, so the frame's (top, left) photo box maps to (0, 0).
"""

from __future__ import annotations

import math
import threading
import time

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QPen, QTransform
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
)

from ..edits.blend import blend_back
from ..imageio import Placement

COMPARE_KEY = Qt.Key.Key_Backslash  # held: the photo as it was (as in Lightroom)
SETTLE_MS = 400  # the full composite is made once the edit has not changed for this long


class Compositor:
    """The result view's pixels, from the session (Qt-free apart from living in gui/)."""

    def __init__(self) -> None:
        self.session = None
        self._pyramid: list[np.ndarray] = []
        self._screen: tuple[tuple[int, int, int], np.ndarray] | None = None  # (level, h, w) → pixels
        self._source = None

    def ready(self) -> bool:
        s = self.session
        return s is not None and s.source is not None and s.placement is not None and s.inversion is not None

    def photo(self) -> np.ndarray | None:
        s = self.session
        return None if s is None or s.source is None else s.source.rgb

    def full(self, full_size: bool) -> np.ndarray | None:
        """What an export of the edited image writes (the same call)."""
        return self.session.output_image("edited", full_size) if self.ready() else None

    def level(self, k: int) -> np.ndarray:
        """The photo reduced 2^k times (INTER_AREA, each level from the one above; cached)."""
        s = self.session
        if self._source is not s.source:
            self._source, self._pyramid, self._screen = s.source, [s.source.rgb], None
        while len(self._pyramid) <= k:
            top = self._pyramid[-1]
            h, w = top.shape[:2]
            self._pyramid.append(cv2.resize(top, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA))
        return self._pyramid[k]

    def preview(self, zoom: float, window: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]] | None:
        """The composite at screen resolution over `window` = (y0, y1, x0, x1) in photo pixels:
        → (pixels, the level's size (h, w), the part's top-left (y, x) in level pixels)."""
        if not self.ready():
            return None
        s = self.session
        place = s.placement
        ph, pw = place.photo
        lv = self.screen_photo(zoom)
        lh, lw = lv.shape[:2]
        y0, y1, x0, x1 = window
        win = (int(y0 * lh / ph), int(math.ceil(y1 * lh / ph)), int(x0 * lw / pw), int(math.ceil(x1 * lw / pw)))
        win = (max(0, win[0]), min(lh, win[1]), max(0, win[2]), min(lw, win[3]))
        if win[1] <= win[0] or win[3] <= win[2]:
            return None
        edited = s.result_image("edited")
        part = blend_back(
            lv, edited, s.inversion.reconstruction, s.reach_map(), Placement(place.frame, place.box, (lh, lw)), guide=s.work, window=win
        )
        return part, (lh, lw), (win[0], win[2])

    def screen_photo(self, zoom: float) -> np.ndarray:
        """The photo at the screen's resolution for `zoom` (its own pixels at 100 % and above),
        never coarser than the generator's frame: what previews and the source view's map
        overlay are computed on."""
        place = self.session.placement
        ph, pw = place.photo
        bh, bw = place.box[2:]
        k = 0 if zoom >= 1 else int(math.floor(math.log2(1 / zoom)))
        while k > 0 and min(ph, pw) / 2**k < max(bh, bw):  # never coarser than the generator
            k -= 1
        return self.screen_level(k, zoom * 2**k, max(bh, bw))

    def screen_level(self, k: int, scale: float, floor: int) -> np.ndarray:
        """Pyramid level k brought down to screen resolution (`scale` ≤ 1 of it, its short side
        never under `floor`, the generator's frame): a level can be up to twice the screen's
        pixels, and the preview's blend costs in proportion (cached for the zoom in use)."""
        lv = self.level(k)
        h, w = lv.shape[:2]
        scale = max(scale, floor / max(1, min(h, w)))
        if scale >= 0.9:
            return lv
        size = (k, max(1, round(h * scale)), max(1, round(w * scale)))
        if self._screen is None or self._screen[0] != size:
            self._screen = (size, cv2.resize(lv, (size[2], size[1]), interpolation=cv2.INTER_AREA))
        return self._screen[1]


class ResultView(QObject):
    """The result layer of an `ImageCanvas` (see the module doc)."""

    changed = Signal()  # the pixmaps on screen changed
    composed = Signal(float)  # a full composite is on screen; seconds it took
    _finished = Signal(int, object, float)  # generation, array, seconds (from the worker thread)

    def __init__(self, canvas) -> None:  # noqa: ANN001
        super().__init__(canvas)
        self.canvas = canvas
        self.compositor = Compositor()
        self.full_size = True  # False: "generator image only" (an export option)
        self.split: float | None = None  # the wipe divider as a fraction of the width; None: off
        self.comparing = False  # the compare key is held: the photo as it was
        self.last_full_seconds: float | None = None
        self.last_preview_seconds: float | None = None
        self.error: str | None = None
        self._generation = 0
        self._shown_generation = -1
        self._busy = False
        self._pending = False
        self._after: list[np.ndarray] | None = None  # the full composite, then halves (INTER_AREA)
        self._after_small: np.ndarray | None = None  # "generator image only": frame pixels
        self._shown: tuple = ()  # what the before/after pixmaps hold now: (level, photo, composite)
        scene = canvas.scene()
        self.before = QGraphicsPixmapItem()
        self.clip = QGraphicsRectItem()  # the "after" side of the wipe: its children are clipped to it
        self.clip.setPen(QPen(Qt.PenStyle.NoPen))
        self.clip.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        self.clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self.after = QGraphicsPixmapItem(self.clip)
        self.preview_item = QGraphicsPixmapItem(self.clip)
        for item in (self.before, self.after, self.preview_item):
            item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        for item in (self.before, self.clip):
            scene.addItem(item)
        self.before.setZValue(-2)
        self.clip.setZValue(-1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self._compose_full)
        self._finished.connect(self._on_finished)
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(0)
        self._refresh.timeout.connect(self.show_preview)
        self.set_visible(False)

    # ---- geometry ---------------------------------------------------------------------------
    def photo_size(self) -> tuple[int, int] | None:
        s = self.compositor.session
        return None if s is None or s.placement is None else s.placement.photo

    def box_size(self) -> tuple[int, int] | None:
        s = self.compositor.session
        return None if s is None or s.placement is None else tuple(s.placement.box[2:])  # type: ignore[return-value]

    def unit(self) -> float:
        """Photo pixels per scene unit (frame pixel)."""
        p, b = self.photo_size(), self.box_size()
        return 1.0 if p is None or b is None else p[1] / b[1]

    def scene_rect(self) -> QRectF:
        b = self.box_size() or (1, 1)
        return QRectF(0, 0, b[1], b[0])

    # ---- state ------------------------------------------------------------------------------
    def attach(self, session) -> None:  # noqa: ANN001
        """Follow `session`; the compare key is watched on the canvas's window (a key no widget
        takes reaches it), not on the whole application, whose every event would pass through
        Python then."""
        self.compositor.session = session
        session.events.connect(self._on_session_event)
        self.canvas.window().installEventFilter(self)

    def _on_session_event(self, name: str) -> None:
        if name in ("image", "project"):
            self._after = self._after_small = None
            self.preview_item.setPixmap(_empty())
            self.invalidate()
        elif name in ("inversion", "render", "edit_region"):
            self.invalidate()

    def set_visible(self, on: bool) -> None:
        was = self.visible
        self.before.setVisible(on)
        self.clip.setVisible(on and not self.comparing)
        if on and not was:  # the canvas lays out on every image it is given: only a change counts
            self.invalidate()

    @property
    def visible(self) -> bool:
        return self.before.isVisible()

    def set_full_size(self, on: bool) -> None:
        """True: the composite at the photo's size; False: the generator image only."""
        if bool(on) != self.full_size:
            self.full_size = bool(on)
            self._after = self._after_small = None
            self.invalidate()
            self.canvas.refresh_layout()  # the source view too shows the photo or the frame

    def set_split(self, fraction: float | None) -> None:
        self.split = None if fraction is None else min(1.0, max(0.0, float(fraction)))
        self._update_clip()
        self.canvas.viewport().update()

    def set_comparing(self, on: bool) -> None:
        self.comparing = on
        self.clip.setVisible(self.visible and not on)
        self.canvas.viewport().update()

    def _update_clip(self) -> None:
        r = self.scene_rect()
        x = r.width() * (self.split if self.split is not None else 0.0)
        self.clip.setRect(QRectF(x, r.top() - 1, r.width() - x + 1, r.height() + 2))

    # ---- drawing ----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """The edit (or the photo) changed: a preview now, the full composite once it settles."""
        self._generation += 1
        if not self.visible:
            return
        if not self.compositor.ready():
            self._after = self._after_small = None
            self.preview_item.setPixmap(_empty())
            self._show_levels()
            return
        if not self.full_size:
            self._compose_generator_only()
            return
        self._show_levels()
        if self._after is None:  # nothing to show yet: compose at once
            self._compose_full()
        else:
            self.show_preview()
            self._timer.start()

    def display_level(self) -> int:
        """The pyramid level the before/after pixmaps are shown from: the photo's own pixels at
        zoom > 50 % (so 100 % is 1:1), else the half, quarter… just above the screen's scale —
        drawing a 12-Mpx pixmap scaled to the screen on every repaint costs ~100 ms."""
        z = self.canvas.zoom
        return 0 if z > 0.5 else int(math.floor(math.log2(1 / z)))

    def _show_levels(self) -> None:
        """Put the before (photo) and after (composite) at the display level into the pixmaps."""
        from .canvas import to_pixmap

        photo = self.compositor.photo()
        if photo is None:
            self.before.setPixmap(_empty())
            self.after.setPixmap(_empty())
            self._shown = ()
            return
        k = self.display_level()
        while k > 0 and min(photo.shape[:2]) / 2**k < 64:
            k -= 1
        after = self._after_small if not self.full_size else self._after
        state = (k, id(photo), id(after))
        if state == self._shown:
            return
        self._shown = state
        ph, pw = photo.shape[:2]
        u = self.unit()
        lv = self.compositor.level(k)
        self.before.setPixmap(to_pixmap(lv))
        self.before.setTransform(QTransform.fromScale(pw / lv.shape[1] / u, ph / lv.shape[0] / u))
        if after is None:
            self.after.setPixmap(_empty())
        elif after is self._after_small:
            self.after.setPixmap(to_pixmap(after))
            self.after.setTransform(QTransform())  # frame pixels = scene units
        else:
            while len(after) <= k:
                top = after[-1]
                after.append(cv2.resize(top, (max(1, top.shape[1] // 2), max(1, top.shape[0] // 2)), interpolation=cv2.INTER_AREA))
            a = after[k]
            self.after.setPixmap(to_pixmap(a))
            self.after.setTransform(QTransform.fromScale(pw / a.shape[1] / u, ph / a.shape[0] / u))
        self._update_clip()

    def visible_window(self) -> tuple[int, int, int, int] | None:
        """The photo pixels the viewport shows, (y0, y1, x0, x1), a pixel of margin around."""
        p = self.photo_size()
        if p is None:
            return None
        rect = self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()
        u = self.unit()
        y0, y1 = max(0, int(rect.top() * u) - 1), min(p[0], int(math.ceil(rect.bottom() * u)) + 1)
        x0, x1 = max(0, int(rect.left() * u) - 1), min(p[1], int(math.ceil(rect.right() * u)) + 1)
        return None if y1 <= y0 or x1 <= x0 else (y0, y1, x0, x1)

    def show_preview(self) -> None:
        """The composite at screen resolution over the visible part, on top of the last full one."""
        from .canvas import to_pixmap

        window = self.visible_window()
        if window is None:
            return
        t0 = time.perf_counter()
        got = self.compositor.preview(self.canvas.zoom, window)
        if got is None:
            return
        part, (lh, lw), (ly, lx) = got
        p = self.photo_size()
        assert p is not None
        u = self.unit()
        sx, sy = p[1] / lw / u, p[0] / lh / u  # scene units per level pixel
        self.preview_item.setPixmap(to_pixmap(part))
        self.preview_item.setTransform(QTransform.fromScale(sx, sy))
        self.preview_item.setPos(lx * sx, ly * sy)
        self.preview_item.setVisible(True)
        self.last_preview_seconds = time.perf_counter() - t0
        self.changed.emit()

    def _compose_generator_only(self) -> None:
        self._after_small = self.compositor.full(False)
        self.preview_item.setVisible(False)
        self._show_levels()
        if self._after_small is not None:
            self._shown_generation = self._generation
        self.changed.emit()

    def _compose_full(self) -> None:
        if self._busy:
            self._pending = True
            return
        if not self.visible or not self.compositor.ready() or not self.full_size:
            return
        s = self.compositor.session
        # the export's own call, on a snapshot of its inputs (the worker must not read a session
        # the window changes meanwhile): Session.output_image("edited", full_size=True)
        args = (s.source.rgb, s.result_image("edited"), s.inversion.reconstruction, s.reach_map(), s.placement)
        generation = self._generation
        self._busy = True

        def work() -> None:
            t0 = time.perf_counter()
            out: object = None
            try:
                full = blend_back(*args, should_stop=lambda: generation != self._generation)  # None: a newer edit came
                if full is not None:
                    levels = [full]
                    while max(levels[-1].shape[:2]) > 2048:  # the halves the display will want, off the GUI thread
                        top = levels[-1]
                        levels.append(cv2.resize(top, (top.shape[1] // 2, top.shape[0] // 2), interpolation=cv2.INTER_AREA))
                    out = levels
            except Exception as exc:  # noqa: BLE001 — shown as a message, never a traceback
                out = exc
            self._finished.emit(generation, out, time.perf_counter() - t0)

        threading.Thread(target=work, name="result-composite", daemon=True).start()

    def _on_finished(self, generation: int, out: object, seconds: float) -> None:
        self._busy = False
        if out is None:  # stopped for a newer edit
            pass
        elif isinstance(out, Exception):
            self.error = f"The result view could not compose the edit: {out}"
            self.changed.emit()
        elif generation == self._generation and self.visible and self.full_size:
            self._after = out  # type: ignore[assignment]
            self._show_levels()
            self.preview_item.setVisible(False)
            self._shown_generation = generation
            self.last_full_seconds = seconds
            self.changed.emit()
            self.composed.emit(seconds)
        if self._pending or generation != self._generation:
            self._pending = False
            self._timer.start()

    @property
    def composite(self) -> np.ndarray | None:
        """The full-resolution composite on screen (None before the first, or for "generator
        image only")."""
        return None if self._after is None else self._after[0]

    @property
    def settled(self) -> bool:
        """The full composite of the current edit is on screen."""
        return self._shown_generation == self._generation and not self._busy

    def view_changed(self) -> None:
        """The canvas zoomed or scrolled: a preview on screen follows (the full composite
        covers the whole photo already)."""
        if not self.visible:
            return
        self._show_levels()
        if self.preview_item.isVisible() and not self._refresh.isActive():
            self._refresh.start()

    # ---- the compare key --------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        t = event.type()
        if t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self.visible:
            if event.key() == COMPARE_KEY and not event.isAutoRepeat() and not _typing():  # type: ignore[attr-defined]
                self.set_comparing(t == QEvent.Type.KeyPress)
                return True
        return False


def _typing() -> bool:
    w = QApplication.focusWidget()
    return isinstance(w, QLineEdit | QTextEdit | QPlainTextEdit)


def _empty():  # noqa: ANN202
    from PySide6.QtGui import QPixmap

    return QPixmap()
