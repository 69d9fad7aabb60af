"""The real window, driven like a user: drop a photo, read the map, move τ, override a segment,
invert (with previews, and cancelled), edit with GANSpace under the §3.4 gating, export, undo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from sam_editor.gan.layers import LayerSpace

from .helpers import drop_files, reopen_in_new_window, source_point

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def open_and_map(window, qtbot, path: Path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        assert drop_files(window.canvas.viewport(), path)  # dropped on the canvas, handled by the window
    assert window.session.latent_map is not None


def invert(window, qtbot, steps: int = 4, method: str = "sam"):  # noqa: ANN001, ANN201
    panel = window.inversion_panel
    panel.method.setCurrentIndex(panel.method.findData(method))
    panel.steps.setValue(steps)
    with qtbot.waitSignal(window.editor.inversionFinished, timeout=60000) as blocker:
        qtbot.mouseClick(panel.invert, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_drop_builds_map_and_tau_rethresholds(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s = window.session
    overlay = window.canvas.source_view.overlay_item  # the source view: the photo at its own size
    assert not overlay.pixmap().isNull() and overlay.isVisible()
    before = s.latent_map.segment_ranks().copy()
    assert window.map_panel.legend.shares[LayerSpace.F6].text() != "–"
    window.map_panel.tau.setValue(0.39)  # above every head's error but W+'s → more editable spaces
    after = s.latent_map.segment_ranks()
    assert s.latent_map.tau == pytest.approx(0.39)
    assert (after < before).any() and (after <= before).all()
    window.undo.undo()
    assert s.latent_map.tau == pytest.approx(0.225, abs=1e-3)
    assert window.map_panel.tau.value() == pytest.approx(0.225, abs=1e-3)


def test_click_segment_override_and_undo(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s = window.session
    y, x = 40, 40
    seg = s.segment_at(y, x)
    qtbot.mouseMove(window.canvas.viewport(), source_point(window, y, x))
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=source_point(window, y, x))
    assert window.editor.selection == [seg]
    assert f"Segment {seg}" in window.map_panel.segment_title.text()
    window.segment_menu.close()
    window.activateWindow()
    assert not window.map_panel.space_buttons.button(4).isEnabled()  # a 64 px generator has no F10
    qtbot.keyClick(window, Qt.Key.Key_5)
    assert s.latent_map.overrides == {}
    qtbot.keyClick(window, Qt.Key.Key_4)  # key 4 = F8
    assert s.latent_map.space_of_segment(seg) is LayerSpace.F8
    assert s.latent_map.overrides == {seg: LayerSpace.F8}
    assert "1 segment overridden" in window.map_panel.overrides_label.text()
    window.map_panel.tau.setValue(0.39)  # overrides survive τ
    assert s.latent_map.space_of_segment(seg) is LayerSpace.F8
    window.undo.undo()  # τ
    window.undo.undo()  # the override
    assert s.latent_map.overrides == {}
    window.undo.redo()
    assert s.latent_map.overrides == {seg: LayerSpace.F8}
    # the popup at a click offers the same commands as Edit ▸ Selection, the current space ticked
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=source_point(window, y, x))
    entries = {e.text().split("\t")[0]: e for e in window.segment_menu.actions() if e.text()}
    assert entries["F8"].isChecked() and not entries["F4"].isChecked()
    assert entries["F8"].text().endswith("\t4") and not entries["F10"].isEnabled()
    entries["Automatic (τ rule)"].trigger()
    window.segment_menu.close()
    assert s.latent_map.overrides == {}
    window.actions.spaces[LayerSpace.F6].trigger()  # the menu bar's command
    assert s.latent_map.overrides == {seg: LayerSpace.F6}


def test_brush_over_segments(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s = window.session
    window.actions.brush.trigger()
    vp = window.canvas.viewport()
    points = [(10, 5), (35, 30), (50, 50), (60, 60)]
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=source_point(window, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(vp, source_point(window, *p))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=source_point(window, *points[-1]))
    expected = s.segments_in(points)
    assert len(expected) >= 2 and window.editor.selection == expected
    window.segment_menu.close()
    window.map_panel.space_buttons.button(1).click()  # F4 for all of them, one undo step
    assert all(s.latent_map.space_of_segment(k) is LayerSpace.F4 for k in expected)
    window.undo.undo()
    assert s.latent_map.overrides == {}


def test_invert_previews_and_edit_respects_gating(window, qtbot, sample_png, tmp_path):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s, e = window.session, window.editor
    seg = s.segment_at(48, 48)
    e.select([seg])
    e.override(LayerSpace.F8)  # this segment only takes style rows after 8
    previews: list[int] = []
    e.previewShown.connect(previews.append)
    inv = invert(window, qtbot, steps=4)
    assert previews, "at least one live preview"
    assert not inv.cancelled and s.inversion is inv
    assert window.canvas.items["reconstruction"].isVisible()
    qtbot.waitUntil(lambda: window.edit_panel.components and window.edit_panel.components[0].isEnabled(), timeout=30000)
    row = window.edit_panel.components[0]
    num_ws = s.num_ws
    with qtbot.waitSignal(e.rendered, timeout=30000):
        row.layers.setValue((0, num_ws - 2))  # rows 0…8: nothing after F8
        row.strength.setValue(4.0)
    qtbot.waitUntil(lambda: s.edited is not None and s.edits and s.edits[0].strength == 4.0)
    qtbot.wait(200)
    diff = np.abs(s.edited.astype(int) - inv.reconstruction.astype(int)).sum(-1)
    f8 = s.inversion_ranks() == LayerSpace.F8.rank
    assert f8.any() and (~f8).any()
    assert diff[f8].max() == 0, "the F8 segment must not change"
    assert diff[~f8].mean() > 0.5, "the rest of the image must change"
    window.edit_panel.reach.setChecked(True)
    reach = s.reach_map()
    assert not reach[f8].any() and reach[~f8].all()
    assert window.canvas.reach.isVisible()
    # export the edit and read it back
    out = tmp_path / "résultat 車.png"
    assert window.export_to(out)  # the default: the photo at its own size, edit blended in
    back = cv2.cvtColor(cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    photo = s.source.rgb
    assert back.shape == photo.shape and photo.shape[0] > s.frame_size[0]
    # the F8 segment (out of the edit's reach) away from the feathered edge: the photo, bit for bit
    deep = cv2.erode(f8.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    deep = cv2.resize(deep.astype(np.uint8), photo.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
    assert deep.any() and np.array_equal(back[deep], photo[deep])
    assert np.abs(back.astype(int) - photo)[~deep].mean() > 0.5, "the edit shows elsewhere"
    gen = tmp_path / "generator.png"
    assert window.export_to(gen, full_size=False)
    back = cv2.cvtColor(cv2.imdecode(np.fromfile(gen, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, s.edited)
    side = tmp_path / "side.png"
    assert window.export_to(side, side_by_side=True)
    sb = cv2.imdecode(np.fromfile(side, np.uint8), cv2.IMREAD_COLOR)
    assert sb.shape[0] == photo.shape[0] and sb.shape[1] > 3 * photo.shape[1]
    # undo the slider: one step for the whole drag
    with qtbot.waitSignal(e.rendered, timeout=30000):
        window.undo.undo()
    assert s.edits == [] or all(x.strength == 0 for x in s.edits)
    qtbot.waitUntil(lambda: np.array_equal(s.edited, inv.reconstruction))


def test_edit_only_the_selected_segments(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s, e, m = window.session, window.editor, window.map_panel
    inv = invert(window, qtbot, steps=2)
    qtbot.waitUntil(lambda: window.edit_panel.components and window.edit_panel.components[0].isEnabled(), timeout=30000)
    labels = s.latent_map.labels
    seg = int(np.bincount(labels.ravel()).argmax())
    assert not m.edit_only.isEnabled() and not m.edit_everywhere.isEnabled()  # nothing selected, no region
    e.select([seg])
    qtbot.mouseClick(m.edit_only, Qt.MouseButton.LeftButton)
    assert s.edit_region == {seg} and "only on 1 segment" in m.region_label.text() and m.edit_everywhere.isEnabled()
    with qtbot.waitSignal(e.rendered, timeout=30000):
        window.edit_panel.components[0].strength.setValue(4.0)
    qtbot.waitUntil(lambda: s.edits and s.edits[0].strength == 4.0)
    qtbot.waitUntil(lambda: s.edited is not None and not np.array_equal(s.edited, inv.reconstruction), timeout=30000)
    qtbot.wait(200)
    diff = np.abs(s.edited.astype(int) - inv.reconstruction.astype(int)).sum(-1)
    inside = cv2.erode((labels == seg).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    outside = cv2.erode((labels != seg).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert diff[inside].mean() > 4 * diff[outside].mean()
    window.edit_panel.reach.setChecked(True)
    assert not s.reach_map()[outside].any()  # the hatching shows where edits cannot act
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ShiftModifier)  # edit everywhere again
    assert s.edit_region == frozenset() and m.region_label.text() == ""
    with qtbot.waitSignal(e.rendered, timeout=30000):
        window.undo.undo()  # back to the region, one step
    assert s.edit_region == {seg}
    qtbot.wait(200)
    again = np.abs(s.edited.astype(int) - inv.reconstruction.astype(int)).sum(-1)
    assert np.array_equal(again, diff)


def test_cancel_keeps_best_so_far(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    e = window.editor
    panel = window.inversion_panel
    panel.steps.setValue(2000)
    with qtbot.waitSignal(e.previewShown, timeout=30000):
        qtbot.mouseClick(panel.invert, Qt.MouseButton.LeftButton)
    assert panel.cancel.isEnabled() and not panel.invert.isEnabled()
    with qtbot.waitSignal(e.inversionFinished, timeout=30000) as blocker:
        qtbot.mouseClick(panel.cancel, Qt.MouseButton.LeftButton)
    inv = blocker.args[0]
    assert inv.cancelled and 0 < inv.steps_run < 2000
    assert window.session.inversion is inv and inv.reconstruction.shape[:2] == window.session.frame_size
    assert panel.invert.isEnabled() and "cancelled" in panel.eta.text()


def test_baseline_method_and_project_roundtrip(window, qtbot, sample_png, tmp_path, tiny_bundle, temp_settings):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s = window.session
    s.set_overrides({0: LayerSpace.F4})
    inv = invert(window, qtbot, steps=2, method="wplus")
    assert inv.method == "wplus" and s.inversion_ranks().max() == 0  # W+ everywhere
    qtbot.waitUntil(lambda: s.ganspace is not None, timeout=30000)
    window.editor.on_component(1, -2.0, (2, 5), True)
    project = tmp_path / "projet é.samproj"
    assert window.save_project_to(project)
    other = reopen_in_new_window(project, qtbot, tiny_bundle, temp_settings)
    t = other.session
    assert t.latent_map.overrides == {0: LayerSpace.F4}
    assert t.edits == s.edits and t.inversion.method == "wplus"
    assert np.array_equal(t.inversion.reconstruction, inv.reconstruction)
    qtbot.waitUntil(lambda: t.edited is not None and s.edited is not None and np.array_equal(t.edited, s.edited), timeout=30000)
    other.editor.shutdown()


def test_view_modes_and_zoom(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    c = window.canvas
    window.actions.zoom_100.trigger()
    assert c.zoom == pytest.approx(1.0)
    window.actions.zoom_in.trigger()
    assert c.zoom > 1.0
    window.actions.zoom_fit.trigger()
    window.actions.view_side.trigger()
    assert all(c.items[n].isVisible() for n in ("source", "reconstruction", "edited"))
    window.actions.view_source.trigger()  # the photo at its own size, not the frame's panel
    assert c.source_view.visible and not c.items["source"].isVisible() and not c.items["edited"].isVisible()
    assert c.source_view.overlay_item.isVisible()
    window.actions.toggle_overlay.trigger()
    assert not c.source_view.overlay_item.isVisible()
    assert "CPU" in window.device_label.text() or "GPU" in window.device_label.text()
    assert window.weights_label.text() == "demo bundle" and window.banner.isVisible()


def test_styleclip_text_edit_adds_an_edit(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s, p = window.session, window.edit_panel
    inv = invert(window, qtbot, steps=2)
    qtbot.waitUntil(lambda: p.run_text.isEnabled(), timeout=30000)
    p.tabs.setCurrentIndex(1)
    window.editor.select([0])  # with a selection, a stolen "e" would limit the edits to it
    p.text.setFocus()
    qtbot.keyClicks(p.text, "a blue car")
    assert p.text.text() == "a blue car" and s.edit_region == frozenset()  # the E shortcut left typing alone
    p.text_steps.setValue(3)
    qtbot.mouseClick(p.run_text, Qt.MouseButton.LeftButton)
    assert p.cancel_text.isEnabled()
    qtbot.waitUntil(lambda: bool(s.edits), timeout=60000)
    assert s.edits[-1].kind == "styleclip" and s.edits[-1].text == "a blue car"
    assert s.directions[s.edits[-1].key].abs().sum() > 0
    qtbot.waitUntil(lambda: not np.array_equal(s.edited, inv.reconstruction), timeout=30000)
    assert len(p.rows) == 1 and "a blue car" in s.edits[-1].name
    p.rows[0].strength.setValue(0.0)  # per-edit strength in the active list
    qtbot.waitUntil(lambda: s.edits[-1].strength == 0.0)
    qtbot.waitUntil(lambda: np.array_equal(s.edited, inv.reconstruction), timeout=30000)


def test_models_load_in_background_and_queued_file_opens(qtbot, tiny_bundle, temp_settings, sample_png):  # noqa: ANN001
    from sam_editor.gui.main_window import MainWindow

    MainWindow.confirm_unsaved = False
    w = MainWindow(settings=temp_settings, weights_dirs=[tiny_bundle.generator_path.parent.parent])
    qtbot.addWidget(w)
    assert w.session.bundle is None and "Loading" in w.device_label.text()
    w.open_path(sample_png)  # before the models are ready: queued
    with qtbot.waitSignal(w.editor.mapReady, timeout=60000):
        pass
    assert w.session.source is not None and w.session.bundle.kind == "demo"
    assert "demo bundle" in w.weights_label.text()
    w.editor.shutdown()


def test_official_direction_from_the_preset_list(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s, p = window.session, window.edit_panel
    inv = invert(window, qtbot, steps=2)
    qtbot.waitUntil(lambda: p.add_preset.isEnabled(), timeout=30000)
    p.presets.setCurrentIndex(p.presets.findText("Official: blue"))
    qtbot.mouseClick(p.add_preset, Qt.MouseButton.LeftButton)
    assert s.edits[-1].kind == "direction" and s.edits[-1].name == "blue"
    assert s.edit_rows(s.edits[-1]) == [5, 6, 7, 8]
    qtbot.waitUntil(lambda: not np.array_equal(s.edited, inv.reconstruction), timeout=30000)
    p.rows[0].layers.setValue((0, 4))  # narrow its rows to ones the direction does not touch
    qtbot.waitUntil(lambda: s.edits[-1].layers == (0, 4))
    qtbot.waitUntil(lambda: np.array_equal(s.edited, inv.reconstruction), timeout=30000)
    window.undo.undo()
    window.undo.undo()
    assert s.edits == []


def test_new_photo_during_inversion_discards_the_old_result(window, qtbot, sample_png, tmp_path):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    e, panel = window.editor, window.inversion_panel
    panel.steps.setValue(2000)
    with qtbot.waitSignal(e.previewShown, timeout=30000):
        qtbot.mouseClick(panel.invert, Qt.MouseButton.LeftButton)
    other = tmp_path / "other.png"
    other.write_bytes(sample_png.read_bytes())
    with qtbot.waitSignal(e.mapReady, timeout=30000):
        assert window.open_path(other)  # cancels the running inversion
    qtbot.waitUntil(lambda: panel.invert.isEnabled(), timeout=30000)
    assert window.session.inversion is None and not e.inverting
    assert "other.png" in window.windowTitle()
