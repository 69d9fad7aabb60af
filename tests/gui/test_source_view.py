"""The source view at the photo's own size (issue 29): the photo 1:1 at 100 %, the invertibility
map over it carried up by the blend-back's guided upsampling (its boundaries on the photo's own
edges), clicks on photo pixels selecting the segment drawn there; "generator image only" shows
the generator's frame."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from sam_editor.gan.layers import LayerSpace
from sam_editor.invertibility.latent_map import LatentMap

from .helpers import drop_files
from .test_result_view import grab

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EDGE = 803  # the photo's colour edge (column); the 64-px frame's pixels are 25 photo px: 800–825 is one


def two_colour_photo(path: Path, h: int = 1200, w: int = 1600) -> Path:
    img = np.empty((h, w, 3), np.uint8)
    img[:, :EDGE] = (200, 40, 40)
    img[:, EDGE:] = (60, 150, 70)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def frame_map(session) -> LatentMap:  # noqa: ANN001
    """What a segmenter gives at the frame's size: left (segment 0, W+) and right (1, F8) by
    majority, so frame column 32 (photo columns 800–825, 3 of them left) is all segment 1."""
    place = session.placement
    labels = np.zeros(place.frame, np.int32)
    t, left, bh, bw = place.box
    right = np.zeros(place.photo, np.float32)
    right[:, EDGE:] = 1
    labels[t : t + bh, left : left + bw] = cv2.resize(right, (bw, bh), interpolation=cv2.INTER_AREA) > 0.5
    errors = np.array([[0.0] * 5, [0.35, 0.35, 0.35, 0.0, 0.0]])
    return LatentMap(labels, errors, tau=0.3)


@pytest.fixture
def mapped(window, qtbot, tmp_path):  # noqa: ANN001, ANN201
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        assert drop_files(window.canvas.viewport(), two_colour_photo(tmp_path / "two.png"))
    s = window.session
    s.apply_latent_map(frame_map(s))
    assert window.canvas.photo_source and window.canvas.mode == "source"
    return window


def photo_point(canvas, py: int, px: int) -> QPoint:  # noqa: ANN001
    """The viewport pixel that shows the centre of photo pixel (py, px)."""
    u = canvas.unit
    p = canvas.viewportTransform().map(QPointF((px + 0.5) / u, (py + 0.5) / u))
    return QPoint(math.floor(p.x()), math.floor(p.y()))


def at_100(window, qtbot, py: int, px: int) -> None:  # noqa: ANN001
    c = window.canvas
    c.set_zoom(1.0)
    c.centerOn(QPointF(px / c.unit, py / c.unit))
    qtbot.waitUntil(lambda: not c.source_view._overlay_stale() and not c.source_view._refresh.isActive(), timeout=10000)


def test_at_100_percent_the_overlay_has_the_photos_size_and_follows_its_edge(mapped, qtbot) -> None:  # noqa: ANN001
    w, c = mapped, mapped.canvas
    sv = c.source_view
    at_100(w, qtbot, 600, EDGE)
    assert c.zoom == pytest.approx(1.0)
    assert sv.level_size == (1200, 1600), "at 100 % the map is drawn at the photo's own resolution"
    assert sv.overlay_item.isVisible() and sv.overlay_item.transform().m11() * c.transform().m11() == pytest.approx(1.0)
    y0, y1, x0, x1 = sv.window
    assert y1 - y0 < 1200 or x1 - x0 < 1600, "only the visible part (and a margin) is drawn"
    labels = sv.labels
    cols = np.arange(x0, x1)
    assert (labels[:, cols < EDGE] == 0).all() and (labels[:, cols >= EDGE] == 1).all()
    # on screen: what the overlay adds to the photo changes at the photo's edge, not at the frame
    # pixel's (800); the photo is 1:1, so its column x is one screen column
    with_map = grab(c).astype(int)
    w.actions.toggle_overlay.trigger()
    assert not sv.overlay_item.isVisible()
    without = grab(c).astype(int)
    w.actions.toggle_overlay.trigger()
    added = with_map - without
    row = photo_point(c, 600, 0).y()
    sx = photo_point(c, 600, EDGE).x()  # the screen column of photo column EDGE
    assert (without[row, sx] == (60, 150, 70)).all() and (without[row, sx - 1] == (200, 40, 40)).all()
    line = added[row]
    assert np.array_equal(line[sx - 13 : sx], np.repeat(line[sx - 13 : sx - 12], 13, axis=0))
    assert np.array_equal(line[sx + 1 : sx + 13], np.repeat(line[sx + 1 : sx + 2], 12, axis=0))
    assert not np.array_equal(line[sx - 1], line[sx + 1])
    # the photo itself at 100 %: 1:1 (the overlay off)
    origin = c.mapToScene(0, 0) * c.unit
    photo = w.session.source.rgb
    oy, ox = round(origin.y()), round(origin.x())
    assert np.array_equal(without, photo[oy : oy + without.shape[0], ox : ox + without.shape[1]])


def test_a_click_on_a_photo_pixel_selects_the_segment_drawn_there(mapped, qtbot) -> None:  # noqa: ANN001
    w, c = mapped, mapped.canvas
    s = w.session
    at_100(w, qtbot, 600, EDGE)
    vp = c.viewport()
    # photo column 801 is left of the photo's edge but in frame column 32, which is segment 1
    fy, fx = s.placement.photo_to_frame(600.5 / 1200, 801.5 / 1600)
    assert s.segment_at(fy, fx) == 1
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=photo_point(c, 600, 801))
    assert w.editor.selection == [0]
    w.segment_menu.close()
    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_3)  # key 3 = F6: the override goes to the clicked segment
    assert s.latent_map.overrides == {0: LayerSpace.F6}
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=photo_point(c, 600, 805))
    assert w.editor.selection == [1]
    w.segment_menu.close()
    # τ re-thresholds: the same segments, the overlay follows (segment 1 in W+ now)
    w.map_panel.tau.setValue(0.39)
    assert s.latent_map.space_of_segment(1) is LayerSpace.W_PLUS and s.latent_map.overrides == {0: LayerSpace.F6}
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=photo_point(c, 300, 790))
    assert w.editor.selection == [0]
    w.segment_menu.close()
    # the segment under the pointer is the one the panel describes
    qtbot.mouseMove(vp, photo_point(c, 400, 802))
    assert w.editor.hover == 0


def test_generator_image_only_shows_the_generators_frame(mapped, qtbot) -> None:  # noqa: ANN001
    c = mapped.canvas
    c.result.set_full_size(False)
    assert c.mode == "source" and not c.photo_source
    assert c.items["source"].isVisible() and not c.source_view.visible
    assert c.overlay.isVisible() and c.overlay.pixmap().width() == 64  # the frame's map
    c.set_zoom(1.0)
    assert c.transform().m11() == pytest.approx(1.0), "100 % is one frame pixel per screen pixel"
    c.result.set_full_size(True)
    assert c.photo_source and c.source_view.visible and not c.items["source"].isVisible()


@pytest.mark.slow  # 19–22 s at load 14–16 on the 2 shared cores: a 27-Mpx photo decoded, letterboxed, reduced
def test_a_huge_photo_draws_only_what_the_screen_shows(window, qtbot, tmp_path) -> None:  # noqa: ANN001
    h, w_ = 4500, 6000  # 27 Mpx
    yy, xx = np.mgrid[0:h:8, 0:w_:8]
    small = np.stack([(xx * 255 // w_), (yy * 255 // h), ((xx + yy) % 512 // 2)], -1).astype(np.uint8)
    img = cv2.resize(small, (w_, h), interpolation=cv2.INTER_NEAREST)
    path = tmp_path / "huge.jpg"  # JPEG: written and decoded several times faster than a PNG this size
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    problems: list[str] = []
    window.editor.problem.connect(problems.append)
    with qtbot.waitSignal(window.editor.mapReady, timeout=60000):
        assert drop_files(window.canvas.viewport(), path)
    c, sv = window.canvas, window.canvas.source_view
    qtbot.waitUntil(lambda: sv.labels is not None and not sv._refresh.isActive(), timeout=20000)
    vp = c.viewport().size()
    lh, lw = sv.level_size
    assert lh < h and lw < w_, "fitted: the map at the screen's resolution"
    assert sv.labels.size <= 3 * vp.width() * vp.height()
    at_100(window, qtbot, 2000, 3000)
    assert sv.level_size == (h, w_)
    assert sv.labels.size <= 3 * vp.width() * vp.height(), "100 %: the visible part only"
    qtbot.mouseClick(c.viewport(), Qt.MouseButton.LeftButton, pos=photo_point(c, 2000, 3000))
    assert window.editor.selection and window.editor.selection[0] == c.segment_at(*window.session.placement.photo_to_frame(2000.5 / h, 3000.5 / w_))
    window.segment_menu.close()
    c.zoom_by(4.0)  # 400 %
    qtbot.waitUntil(lambda: not sv._overlay_stale() and not sv._refresh.isActive(), timeout=10000)
    assert sv.error is None and not problems
