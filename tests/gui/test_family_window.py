"""BigGAN-deep in the main window (issue 33): a tiny generator of the published format (config.json +
pytorch_model.bin) opened as a folder, its spaces in the legend, inversion on the worker, a class
edit from the class picker through the gated pass, export, and the refusals."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from sam_editor.gan.biggan.checkpoint import save_port_format
from sam_editor.gui.family_panel import ClassEditBox
from sam_editor.imageio import png_text
from sam_editor.testing.biggan import random_biggan

STEPS = 12


@pytest.fixture(scope="module")
def biggan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("biggan") / "biggan-deep-tiny"
    save_port_format(random_biggan(seed=3), folder)
    return folder


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A 48×64 photo (letterboxed into the 32-px frame): a smooth colour ramp with a dark block."""
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    rgb = np.stack([x * 3.5, y * 4.5, 180 - x * 2], -1).clip(0, 255).astype(np.uint8)
    rgb[14:34, 20:44] = (30, 40, 60)
    cv2.imwrite(str(tmp_path / "car.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return tmp_path / "car.png"


def open_family(window, qtbot, folder: Path):  # noqa: ANN001, ANN201
    window.open_generator(folder)
    qtbot.waitUntil(lambda: window.family is not None, timeout=20000)
    return window.family


def invert(window, qtbot, method: str, steps: int = STEPS):  # noqa: ANN001, ANN201
    fam = window.family
    panel = fam.panel
    panel.method.setCurrentIndex(panel.method.findData(method))
    panel.steps.setValue(steps)
    with qtbot.waitSignal(fam.inverted, timeout=60000):
        qtbot.mouseClick(panel.invert, Qt.MouseButton.LeftButton)
    return fam.session.inversion


def rendered(window, qtbot, change) -> np.ndarray:  # noqa: ANN001
    """Make a change in the panel and wait for the window's render of it."""
    with qtbot.waitSignal(window.family.rendered, timeout=20000):
        change()
    return window.family.session.edited.copy()


def pick(box: ClassEditBox, index: int) -> None:
    box.picker.search.setText(str(index))
    row = box.picker.shown_classes().index(index)
    box.picker.list.itemClicked.emit(box.picker.list.item(row))


def test_opening_a_biggan_folder_shows_its_spaces_and_the_class_picker(window, qtbot, biggan_folder, photo):
    fam = open_family(window, qtbot, biggan_folder)
    assert fam.map_panel.legend_names() == ["Z+", "F2"]
    assert window.map_dock.widget().widget() is fam.map_panel  # the dock shows the family's legend
    assert isinstance(fam.panel.edit, ClassEditBox)  # the family's edit panel, not GANSpace sliders
    methods = [fam.panel.method.itemData(i) for i in range(fam.panel.method.count())]
    assert methods == ["z", "z+", "f2", "sam"]
    assert fam.panel.edit.picker.shown_classes() == list(range(10))  # the tiny generator's 10 classes
    assert not fam.panel.invert.isEnabled()
    assert not window.actions.export.isEnabled() and not window.actions.view_edited.isEnabled()
    assert window.open_path(photo)
    assert fam.panel.invert.isEnabled() and not fam.panel.export.isEnabled()
    assert window.canvas.items["source"].pixmap().width() == 32


def test_class_edit_renders_and_exports(window, qtbot, biggan_folder, photo, tmp_path):
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    inv = invert(window, qtbot, "z+")
    assert inv.method == "z+" and inv.steps_run == STEPS and not inv.cancelled
    assert fam.panel.export.isEnabled() and fam.panel.edit.isEnabled()
    acts = window.actions
    assert acts.export.isEnabled() and acts.view_edited.isEnabled() and window.canvas.mode == "side"
    acts.view_edited.trigger()
    assert window.canvas.mode == "edited"
    recon = inv.reconstruction
    box = fam.panel.edit
    full = rendered(window, qtbot, lambda: pick(box, 7))
    assert fam.session.edit.to_class == 7
    assert np.abs(full.astype(int) - recon).mean() > 2  # another class, another image
    half = rendered(window, qtbot, lambda: box.picker.strength.setValue(0.5))
    none = rendered(window, qtbot, lambda: box.picker.strength.setValue(0.0))
    assert np.array_equal(none, recon)  # s = 0: the inverted class
    d_half, d_full = np.abs(half.astype(int) - recon).mean(), np.abs(full.astype(int) - recon).mean()
    assert 0 < d_half < d_full
    other = rendered(window, qtbot, lambda: (box.picker.strength.setValue(1.0), pick(box, 2)))
    assert not np.array_equal(other, full)  # class 2 is not class 7
    qtbot.waitUntil(lambda: not window.editor.jobs.is_running("family-render"), timeout=20000)
    out = tmp_path / "export.png"
    assert window.export_to(out, full_size=False)
    written = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    rows, cols = fam.session.placement.slices()
    assert written.shape == (24, 32, 3)  # the photo's part of the 32-px frame (48×64 → 24×32)
    assert np.array_equal(written, fam.session.render_edit()[rows, cols])
    assert '"to_class": 2' in png_text(out)["sam_editor.family_recipe"]
    full = tmp_path / "full.png"
    assert window.export_to(full)  # the default: the photo at its own size with the edit blended in
    big = cv2.cvtColor(cv2.imread(str(full)), cv2.COLOR_BGR2RGB)
    photo_rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    assert big.shape == (48, 64, 3)
    # the export is the photo plus the edit's change (edited − reconstruction) carried up: the two correlate
    change = cv2.resize(big, (32, 24), interpolation=cv2.INTER_AREA).astype(float) - cv2.resize(
        photo_rgb, (32, 24), interpolation=cv2.INTER_AREA
    )
    edit = written.astype(float) - inv.reconstruction[rows, cols]
    assert np.corrcoef(change.ravel(), edit.ravel())[0, 1] > 0.5
    box.reset.click()  # keep the inverted class: the photo comes back untouched
    same = tmp_path / "same.png"
    assert window.export_to(same)
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(same)), cv2.COLOR_BGR2RGB), photo_rgb)


def test_a_slider_drag_coalesces_renders(window, qtbot, biggan_folder, photo):
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    invert(window, qtbot, "z", steps=3)
    box = fam.panel.edit
    rendered(window, qtbot, lambda: pick(box, 4))
    before = fam.renders_started

    def drag() -> None:
        for v in np.linspace(0.05, 0.6, 12):
            box.picker.strength.setValue(float(v))

    last = rendered(window, qtbot, drag)
    assert fam.session.edit.strength == pytest.approx(0.6)
    assert np.array_equal(last, fam.session.render_edit())  # the window shows the last value's render
    assert fam.renders_started - before <= 2  # one started at the first step, one for the last value


def test_f2_region_outside_its_gate_is_unchanged(window, qtbot, biggan_folder, photo):
    """The whole photo in F2: a class edit of the stages up to F2 is gated away (the window's render
    equals the reconstruction bit for bit); the stages after F2 do change it."""
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    inv = invert(window, qtbot, "f2")
    assert set(inv.phi.masks) == {2}
    box = fam.panel.edit
    box.stages.setCurrentIndex(box.stages.findText("0–2 (up to F2)"))
    gated = rendered(window, qtbot, lambda: pick(box, 5))
    assert fam.session.edit.stages == (0, 2)
    assert np.array_equal(gated, inv.reconstruction)
    after = rendered(window, qtbot, lambda: box.stages.setCurrentIndex(box.stages.findText("3–6 (after F2)")))
    assert np.abs(after.astype(int) - inv.reconstruction).mean() > 1


def test_sam_measures_a_map_and_cancel_keeps_the_best(window, qtbot, biggan_folder, photo):
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    assert window.canvas.items["reconstruction"].pixmap().isNull()
    fam.map_panel.tau.setValue(0.0)  # every segment's Z+ error exceeds 0: all in F2
    inv = invert(window, qtbot, "sam", steps=8)
    assert "100% in F2" in inv.map_note and fam.map_panel.rows["F2"].text() == "100%"
    assert window.canvas.overlay.isVisible()
    fam.panel.method.setCurrentIndex(fam.panel.method.findData("z+"))
    fam.panel.steps.setValue(5000)
    with qtbot.waitSignal(fam.inverted, timeout=60000):
        qtbot.mouseClick(fam.panel.invert, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: fam.panel.progress.value() >= 7, timeout=30000)
        assert not window.canvas.items["reconstruction"].pixmap().isNull()  # a preview while it runs
        assert fam.panel.cancel.isEnabled()
        qtbot.mouseClick(fam.panel.cancel, Qt.MouseButton.LeftButton)
    assert fam.session.inversion.cancelled and fam.session.inversion.steps_run < 5000
    assert "cancelled" in fam.panel.eta.text() and fam.panel.invert.isEnabled()


def test_missing_weights_are_a_message_not_a_traceback(window, qtbot, tmp_path, monkeypatch):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    window.open_generator(empty)
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=20000)
    assert window.family is None and "config.json + pytorch_model.bin" in window.statusBar().currentMessage()
    monkeypatch.setenv("SAM_EDITOR_WEIGHTS", str(tmp_path / "nothing-downloaded"))
    menu = {a.text(): a for a in window.generator_menu.actions()}
    assert {"StyleGAN2 (the bundle)", "biggan-deep-128", "biggan-deep-512", "Open &Generator Folder…"} <= set(menu)
    menu["biggan-deep-256"].trigger()  # a registry name not downloaded: the CLI's fetch hint
    qtbot.waitUntil(lambda: "weights fetch" in window.statusBar().currentMessage(), timeout=20000)
    assert window.family is None


def test_back_to_stylegan2_restores_the_panels(window, qtbot, biggan_folder, sample_png, photo):
    stylegan_map = window.map_dock.widget()
    assert window.open_path(sample_png)  # a StyleGAN2 photo first: it comes back afterwards
    frame = window.canvas.frame
    fam = open_family(window, qtbot, biggan_folder)
    assert window.canvas.items["source"].pixmap().isNull()  # the family's empty workspace
    assert not window.actions.view_side.isEnabled()  # no photo in the family's workspace
    window.open_path(photo)
    assert window.canvas.frame == (32, 32) and window.session.source.path == sample_png  # the family's photo
    fam.map_panel.back.click()
    assert window.family is None and window.map_dock.widget() is stylegan_map
    assert window.actions.view_side.isEnabled() and window.actions.view_source.isEnabled()
    assert window.canvas.frame == frame and not window.canvas.items["source"].pixmap().isNull()
    assert window.open_path(photo) and window.session.source.path == photo  # StyleGAN2's path again


def test_segments_set_the_map_by_hand_and_limit_the_edit(window, qtbot, biggan_folder, photo):
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    s = fam.session
    assert [b.text() for b in fam.map_panel.space_buttons.values()] == ["Z+", "F2"]  # buttons from the legend
    window.canvas.clicked.emit(12.0, 16.0, QPointF())  # the dark block in the middle of the photo
    block = s.segment_at(12, 16)
    assert fam.selection == [block] and fam.map_panel.space_buttons["F2"].isEnabled()
    fam.map_panel.space_buttons["F2"].click()
    in_block = s.segments() == block
    assert s.latent_map["F2"].sum() == in_block.sum() and 0 < fam.session.coverage()["F2"] < 1
    assert fam.map_panel.rows["F2"].text() != "" and s.space_of(block) == "F2"
    inv = invert(window, qtbot, "sam", steps=6)
    assert "map shown" in inv.map_note  # the hand-set map, nothing measured
    assert float(inv.phi.masks[2].max()) > 0.5 and float(inv.phi.masks[2].min()) == 0.0
    fam.map_panel.edit_only.click()
    assert s.edit_region == {block}
    edited = rendered(window, qtbot, lambda: pick(fam.panel.edit, 7))
    reach = cv2.dilate(in_block.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # the final 3×3 conv
    assert np.array_equal(edited[~reach], inv.reconstruction[~reach])  # outside the region: as inverted
    assert np.abs(edited[in_block].astype(int) - inv.reconstruction[in_block]).mean() > 1
    everywhere = rendered(window, qtbot, fam.map_panel.edit_everywhere.click)
    assert s.edit_region == frozenset() and not np.array_equal(everywhere[~reach], inv.reconstruction[~reach])
    fam.map_panel.space_buttons["Z+"].click()  # back in the rows space
    assert "F2" not in s.latent_map and s.space_of(block) == "Z+"
