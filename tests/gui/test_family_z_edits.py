"""BigGAN-deep's z edits in the window (issue 33): GANSpace sliders on z with a stage range per
direction and the text box, computed / optimised on workers with progress and Cancel, gated per
segment by the same core functions as `sam-editor edit PHI --ganspace K:S@A-B --text PROMPT`;
and SAM's measured-map prelude shown as its own phase."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF

from sam_editor.imageio import png_text
from tests.gui import test_family_window as family_window
from tests.gui.test_family_window import invert, open_family, pick, rendered

biggan_folder, photo = family_window.biggan_folder, family_window.photo  # the BigGAN window tests' fixtures


def test_sam_prelude_is_its_own_phase_and_the_inversion_counts_the_steps_asked(window, qtbot, biggan_folder, photo,
                                                                               monkeypatch):  # fmt: skip
    """SAM of 8 steps without a map: the measured map's 2 steps show as 'measuring the map: step k / 2',
    then the inversion counts 1…8 of 8 (it showed 'step 10 / 10' before)."""
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    seen: list[tuple[str, int, int, str]] = []
    show = fam.panel.show_progress

    def record(p) -> None:  # noqa: ANN001
        show(p)
        seen.append((p.phase, p.step, p.total, fam.panel.progress.text()))

    monkeypatch.setattr(fam.panel, "show_progress", record)
    invert(window, qtbot, "sam", steps=8)
    qtbot.waitUntil(lambda: len(seen) == 10, timeout=5000)
    assert [(ph, s, t) for ph, s, t, _ in seen] == [("measuring the map", 1, 2), ("measuring the map", 2, 2)] + [
        ("", k, 8) for k in range(1, 9)
    ]
    assert seen[1][3] == "measuring the map: step 2 / 2" and seen[-1][3] == "step 8 / 8"


# ---- GANSpace on z ----------------------------------------------------------------------------
def find_directions(fam, qtbot):  # noqa: ANN001, ANN201
    """Show the GANSpace tab (its first showing finds the directions on a worker); → the box."""
    box = fam.panel.ganspace
    fam.panel.edit_tabs.setCurrentWidget(box)
    qtbot.waitUntil(lambda: bool(box.components), timeout=20000)
    return box


def by_hand(G, phi, delta_z: torch.Tensor, held=None) -> np.ndarray:  # noqa: ANN001
    """The gated render of §3.4 with δz on the z columns, written out (tensor_to_rgb8 of synthesize)."""
    from sam_editor.inversion.images import tensor_to_rgb8

    delta_f, masks = held or (phi.delta_f, phi.masks)
    with torch.no_grad():
        return tensor_to_rgb8(G.synthesize(phi.w_plus, delta_f, masks, delta_w=delta_z).clamp(-1, 1)[0])


def test_ganspace_slider_on_z_is_gated_in_f2_and_renders_coalesced(window, qtbot, biggan_folder, photo):
    """The whole photo in F2: direction 0 on stages 0–2 is gated away (the render is the reconstruction
    bit for bit), on 3–6 it renders s·u_0 on those stages exactly; a drag coalesces its renders."""
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    inv = invert(window, qtbot, "f2", steps=4)
    box = find_directions(fam, qtbot)
    comps, G = fam.session.z_components, fam.session.G
    assert len(box.components) == 8 and comps.directions.shape == (20, G.w_dim) and box.find.isHidden()
    row = box.components[0]
    assert row.rows_label.text() == "stages 0–6"
    row.layers.setValue((0, 2))
    gated = rendered(window, qtbot, lambda: row.strength.setValue(3.0))
    assert fam.session.edit.ganspace == {0: (3.0, (0, 2))}
    assert np.array_equal(gated, inv.reconstruction)
    after = rendered(window, qtbot, lambda: row.layers.setValue((3, 6)))
    want = torch.zeros(1, G.num_ws, G.w_dim)
    want[0, 3:7] = 3.0 * comps.directions[0]
    assert np.array_equal(after, by_hand(G, inv.phi, want))
    assert np.abs(after.astype(int) - inv.reconstruction).mean() > 1
    before = fam.renders_started

    def drag() -> None:
        for v in np.linspace(-0.5, -3.0, 12):
            row.strength.setValue(float(v))

    last = rendered(window, qtbot, drag)
    assert fam.renders_started - before <= 2 and fam.session.edit.ganspace[0][0] == pytest.approx(-3.0)
    assert np.array_equal(last, fam.session.render_edit())


def test_ganspace_with_a_class_edit_acts_only_on_the_selected_segment_and_exports(window, qtbot, biggan_folder,
                                                                                 photo, tmp_path):  # fmt: skip
    """'Edit only these' on the dark block: a GANSpace + class edit leaves every pixel beyond the final
    conv's reach of the block as inverted and changes the block; the export is that render, its recipe
    names both edits in the CLI's terms; the directions are kept for the next photo."""
    fam = open_family(window, qtbot, biggan_folder)
    window.open_path(photo)
    s = fam.session
    inv = invert(window, qtbot, "z+", steps=4)
    box = find_directions(fam, qtbot)
    window.canvas.clicked.emit(12.0, 16.0, QPointF())
    block = s.segment_at(12, 16)
    fam.map_panel.edit_only.click()
    assert s.edit_region == {block}
    box.components[1].layers.setValue((1, 5))
    rendered(window, qtbot, lambda: box.components[1].strength.setValue(-2.5))
    edited = rendered(window, qtbot, lambda: pick(fam.panel.edit, 7))
    in_block = s.segments() == block
    reach = cv2.dilate(in_block.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.array_equal(edited[~reach], inv.reconstruction[~reach])
    assert np.abs(edited[in_block].astype(int) - inv.reconstruction[in_block]).mean() > 1
    assert fam.panel.applied.text() == "Applied: class 7 at 1.00 · PC 1 −2.5 (stages 1–5)"  # both tabs' edits
    G = s.G
    want = G.class_delta(7)
    want[0, 1:6, : G.w_dim] += -2.5 * s.z_components.directions[1]
    from sam_editor.edits.class_edit import hold_outside

    assert np.array_equal(edited, by_hand(G, inv.phi, want, hold_outside(G, inv.phi.delta_f, inv.phi.masks, in_block)))
    qtbot.waitUntil(lambda: not window.editor.jobs.is_running("family-render"), timeout=20000)
    out = tmp_path / "gs.png"
    assert window.export_to(out, full_size=False)
    rows, cols = s.placement.slices()
    written = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(written, edited[rows, cols])
    recipe = json.loads(png_text(out)["sam_editor.family_recipe"])
    assert recipe["edit"]["ganspace"] == ["1:-2.5@1-5"] and recipe["edit"]["to_class"] == 7
    assert recipe["ganspace_samples"] == 2048
    comps = s.z_components
    window.open_path(photo)  # a new photo: the directions stay, nothing is found again
    assert s.z_components is comps and not fam.finding and len(box.components) == 8


def test_finding_directions_can_be_cancelled_and_started_again(window, qtbot, biggan_folder, monkeypatch):
    """Cancel while the PCA samples (the core's own stop between chunks): no directions, the status says
    so and 'Find directions' is back; clicking it finds them."""
    from sam_editor.edits import ganspace_z

    real = ganspace_z.z_components

    def waits_for_cancel(G, n, k, seed=0, on_step=None, should_stop=None):  # noqa: ANN001, ANN202
        def step(*a) -> None:  # noqa: ANN002
            on_step(*a)
            deadline = time.monotonic() + 10
            while not should_stop() and time.monotonic() < deadline:
                time.sleep(0.005)

        return real(G, n, k, seed=seed, on_step=step, should_stop=should_stop)

    monkeypatch.setattr(ganspace_z, "z_components", waits_for_cancel)
    fam = open_family(window, qtbot, biggan_folder)
    box = fam.panel.ganspace
    fam.panel.edit_tabs.setCurrentWidget(box)  # no photo needed to find directions
    qtbot.waitUntil(lambda: box.progress.value() > 0, timeout=10000)
    assert fam.finding and box.cancel.isEnabled() and "%" in box.status.text()
    box.cancel.click()
    qtbot.waitUntil(lambda: not fam.finding, timeout=10000)
    assert fam.session.z_components is None and not box.components
    assert "Cancelled" in box.status.text() and not box.find.isHidden()
    monkeypatch.setattr(ganspace_z, "z_components", real)
    box.find.click()
    qtbot.waitUntil(lambda: bool(box.components), timeout=20000)
    assert fam.session.z_components is not None and box.find.isHidden()


# ---- text on z --------------------------------------------------------------------------------
def test_text_edit_runs_on_the_worker_scales_live_and_can_be_cancelled(window, qtbot, biggan_folder, photo):
    fam = open_family(window, qtbot, biggan_folder)
    s = fam.session
    s.clip_which = str(window.session.bundle.clip_dir)  # the tiny open_clip model of the test bundle
    window.open_path(photo)
    inv = invert(window, qtbot, "z+", steps=4)
    tb = fam.panel.text
    fam.panel.edit_tabs.setCurrentWidget(tb)
    assert tb.box.status.text().startswith("CLIP: demo CLIP")
    tb.box.text.setText("a blue car")
    tb.box.steps.setValue(3)
    # the inversion's render is shown: the next render is the text's
    qtbot.waitUntil(lambda: not fam._rendering, timeout=20000)
    with qtbot.waitSignal(fam.rendered, timeout=30000):
        tb.box.run.click()
        assert tb.box.cancel.isEnabled() and window.editor.jobs.is_running("family-text")
    delta = s.edit.text_delta
    assert delta is not None and delta.shape == (1, s.G.num_ws, s.G.w_dim) and s.edit.text == "a blue car"
    assert "“a blue car”: 3 steps" in tb.box.status.text() and tb.remove.isEnabled()
    full = s.edited.copy()
    assert np.array_equal(full, by_hand(s.G, inv.phi, delta)) and not np.array_equal(full, inv.reconstruction)
    half = rendered(window, qtbot, lambda: tb.box.strength.setValue(0.5))
    assert np.array_equal(half, by_hand(s.G, inv.phi, 0.5 * delta))
    tb.box.steps.setValue(1000)  # long: cancelled after a few steps, the best δ so far is kept
    with qtbot.waitSignal(fam.rendered, timeout=30000):
        tb.box.run.click()
        qtbot.waitUntil(lambda: tb.box.progress.value() >= 2, timeout=20000)
        assert tb.box.cancel.isEnabled() and window.actions.cancel.isEnabled()
        window.actions.cancel.trigger()  # the window's Cancel (Esc) stops the family's job too
    assert "(cancelled: the best so far)" in tb.box.status.text() and not tb.box.cancel.isEnabled()
    assert not window.actions.cancel.isEnabled()
    assert s.edit.text_delta is not delta and tb.box.run.isEnabled()
    removed = rendered(window, qtbot, tb.remove.click)
    assert s.edit.text_delta is None and np.array_equal(removed, inv.reconstruction)


def test_bad_states_of_the_z_edits_are_messages(window, qtbot, biggan_folder, photo, tmp_path):
    """Missing CLIP weights: the state and the fetch command, no job; a text edit before an inversion,
    a GANSpace edit before the directions: refused with their reason."""
    fam = open_family(window, qtbot, biggan_folder)
    s, tb = fam.session, fam.panel.text
    s.clip_which, s.weights_dirs = "vit-b-32", [tmp_path / "no-weights"]
    window.open_path(photo)
    assert not tb.box.text.isEnabled() and not fam.panel.ganspace.reset.isEnabled()  # nothing inverted yet
    fam.start_text_edit("a red car", 1.0, 3)
    assert tb.box.status.text() == "Invert the photo first: a text edit starts from its φ"
    invert(window, qtbot, "z", steps=2)
    tb.box.text.setText("a red car")
    tb.box.run.click()
    assert tb.box.status.text() == ("Text edits need CLIP: StyleCLIP needs CLIP ViT-B/32 — run "
                                    "`sam-editor weights fetch clip-vit-b-32`")  # fmt: skip
    assert not window.editor.jobs.is_running("family-text") and s.edit.text_delta is None
    with pytest.raises(ValueError, match="the GANSpace directions are not computed yet"):
        s.set_ganspace(0, 1.0, (0, 6))
    s.clip_which = "auto"  # ViT-B/32 missing, the car-world demo CLIP there: usable, with the fetch command
    s.weights_dirs = [tmp_path / "no-weights"]
    assert tb.show_clip_state() and "weights fetch clip-vit-b-32" in tb.box.status.text()
