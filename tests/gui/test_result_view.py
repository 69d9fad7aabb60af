"""The result view (issue 29): the photo at its own resolution with the edit blended in — at
100 % the exact pixels the export writes — a screen-resolution preview of the visible part while
the edit changes, a before/after wipe and a hold-to-compare key, "generator image only"."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from .helpers import drop_files

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def write_photo(path: Path, h: int = 1200, w: int = 1600) -> Path:
    """A photo larger than the window: a red car-ish box on sky and road, with fine texture."""
    rng = np.random.default_rng(0)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (90, 150, 230)
    img[h // 2 :] = (110, 110, 115)
    cv2.rectangle(img, (w // 5, h // 3), (w * 3 // 4, h * 2 // 3), (200, 30, 30), -1)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def edited(window, qtbot, tmp_path):  # noqa: ANN001, ANN201
    """The window on a 1600×1200 photo, inverted (2 steps) and edited with the first slider."""
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        assert drop_files(window.canvas.viewport(), write_photo(tmp_path / "big.png"))
    panel = window.inversion_panel
    panel.method.setCurrentIndex(panel.method.findData("sam"))
    panel.steps.setValue(2)
    with qtbot.waitSignal(window.editor.inversionFinished, timeout=60000):
        qtbot.mouseClick(panel.invert, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.edit_panel.components and window.edit_panel.components[0].isEnabled(), timeout=30000)
    with qtbot.waitSignal(window.editor.rendered, timeout=30000):
        window.edit_panel.components[0].strength.setValue(3.0)
    s = window.session
    qtbot.waitUntil(lambda: s.edits and s.edits[0].strength == 3.0 and not window.editor._render_t0, timeout=30000)
    assert s.edited is not None and not np.array_equal(s.edited, s.inversion.reconstruction)
    return window


def grab(canvas) -> np.ndarray:  # noqa: ANN001
    img = canvas.viewport().grab().toImage()
    img = img.convertToFormat(img.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    return np.frombuffer(img.constBits(), np.uint8, h * bpl).reshape(h, bpl)[:, : 3 * w].reshape(h, w, 3).copy()


def settle(window, qtbot) -> None:  # noqa: ANN001
    r = window.canvas.result
    qtbot.waitUntil(lambda: r.settled, timeout=30000)
    qtbot.wait(50)


def test_at_100_percent_the_view_shows_the_pixels_the_export_writes(edited, qtbot, tmp_path) -> None:  # noqa: ANN001
    w, c = edited, edited.canvas
    w.set_view("result")
    settle(w, qtbot)
    c.set_zoom(1.0)
    assert c.zoom == pytest.approx(1.0)
    c.centerOn(c.result.scene_rect().center())  # the car's edge is in the middle of the photo
    qtbot.wait(50)
    exported = w.session.output_image("edited", True)
    assert exported.shape[:2] == (1200, 1600)
    assert not np.array_equal(exported, w.session.source.rgb), "the edit must change the photo"
    shot = grab(c)
    # the photo pixel under the viewport's pixel (0, 0), then the whole viewport 1:1
    origin = c.mapToScene(QPoint(0, 0)) * c.unit
    y0, x0 = round(origin.y()), round(origin.x())
    vh, vw = shot.shape[:2]
    assert 0 <= y0 and y0 + vh <= 1200 and 0 <= x0 and x0 + vw <= 1600, "the view lies inside the photo"
    assert np.array_equal(shot, exported[y0 : y0 + vh, x0 : x0 + vw])
    # and written to a file: the same pixels
    path = tmp_path / "out.png"
    assert w.export_to(path)
    written = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(written[y0 : y0 + vh, x0 : x0 + vw], shot)


def test_preview_while_editing_is_the_export_at_screen_resolution(edited, qtbot) -> None:  # noqa: ANN001
    w, c = edited, edited.canvas
    w.set_view("result")
    settle(w, qtbot)
    comp = c.result.compositor
    full = w.session.output_image("edited", True)
    # at 100 % and above: the visible part of the full composite, exactly
    part, size, (ly, lx) = comp.preview(1.0, (300, 700, 200, 900))
    assert size == (1200, 1600) and (ly, lx) == (300, 200)
    assert np.array_equal(part, full[300:700, 200:900])
    # zoomed out to 30 %: the photo at the screen's resolution (30 %, from the half-size pyramid
    # level), only the window
    part, size, (ly, lx) = comp.preview(0.3, (0, 1200, 0, 800))
    assert size == (360, 480) and part.shape[:2] == (360, 240)
    small = cv2.resize(full, (480, 360), interpolation=cv2.INTER_AREA)[:, :240]
    assert np.abs(part.astype(int) - small).mean() < 3  # the same edit, at the screen's resolution
    # moving the slider shows a preview first, then the full composite replaces it
    with qtbot.waitSignal(w.editor.rendered, timeout=30000):
        w.edit_panel.components[0].strength.setValue(-3.0)
    assert c.result.preview_item.isVisible() and not c.result.settled
    settle(w, qtbot)
    assert not c.result.preview_item.isVisible()
    assert np.array_equal(c.result.composite, w.session.output_image("edited", True))
    # zoomed out, the pixmaps come from the half-size level (drawing 12 Mpx per repaint is slow)
    c.set_zoom(0.3)
    shown = c.result.after.pixmap().toImage()
    assert (shown.width(), shown.height()) == (800, 600)
    c.set_zoom(1.0)
    shown = c.result.after.pixmap().toImage()
    assert (shown.width(), shown.height()) == (1600, 1200)


def test_wipe_and_hold_to_compare(edited, qtbot) -> None:  # noqa: ANN001
    w, c = edited, edited.canvas
    w.actions.toggle_wipe.trigger()
    assert c.mode == "result" and c.result.split == pytest.approx(0.5)
    settle(w, qtbot)
    c.fit()
    qtbot.wait(50)
    before, after = w.session.source.rgb, w.session.output_image("edited", True)
    changed = np.abs(before.astype(int) - after).sum(-1) > 30
    shot = grab(c)

    def photo_px(vx: int, vy: int) -> tuple[int, int]:
        p = c.mapToScene(QPoint(vx, vy)) * c.unit
        return int(p.y()), int(p.x())

    sx = int(c.split_x())
    # left of the divider the photo as it was, right of it the edit, where the edit changed it
    for side, expect in ((-1, before), (1, after)):
        hits = 0
        for vy in range(200, shot.shape[0] - 20, 25):  # below the Before/After labels
            for vx in range(sx + side * 60, sx + side * 200, side * 25):
                py, px = photo_px(vx, vy)
                if 0 <= py < 1200 and 0 <= px < 1600 and changed[py, px]:
                    hits += 1
                    assert np.abs(shot[vy, vx].astype(int) - expect[py, px]).max() <= 40
        assert hits > 0
    # drag the divider to the left
    vp = c.viewport()
    y = vp.height() // 2
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=QPoint(sx, y))
    qtbot.mouseMove(vp, QPoint(sx - 100, y))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=QPoint(sx - 100, y))
    assert c.result.split < 0.5 and abs(c.split_x() - (sx - 100)) <= 2
    # hold \ : the photo as it was; let go: the edit again
    qtbot.keyPress(vp, Qt.Key.Key_Backslash)
    assert c.result.comparing and not c.result.clip.isVisible()
    qtbot.keyRelease(vp, Qt.Key.Key_Backslash)
    assert not c.result.comparing and c.result.clip.isVisible()


def test_generator_image_only_is_shown_when_chosen(edited, qtbot) -> None:  # noqa: ANN001
    w, c = edited, edited.canvas
    w.set_view("result")
    settle(w, qtbot)
    c.result.set_full_size(False)
    qtbot.waitUntil(lambda: c.result.settled, timeout=10000)
    shown = c.result.after.pixmap().toImage()
    gen = w.session.output_image("edited", False)
    assert (shown.height(), shown.width()) == gen.shape[:2]  # the generator's resolution, not the photo's
    c.result.set_full_size(True)
    settle(w, qtbot)
    assert c.result.composite.shape[:2] == (1200, 1600)
