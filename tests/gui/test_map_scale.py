"""The τ panel follows the bundle (issue 35): it names the metric the predictor predicts, takes
the bundle's default τ and slider range, and says which segmenter made the segments."""

from __future__ import annotations

import dataclasses

import pytest

from sam_editor.invertibility.latent_map import TauScale

from .test_window import open_and_map

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_tau_panel_shows_the_paper_scale_and_the_segmenter(window, qtbot, sample_png):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    panel, b = window.map_panel, window.session.bundle
    assert "LPIPS-VGG" in panel.tau_box.title()
    assert (panel.tau.minimum(), panel.tau.maximum()) == pytest.approx((0.10, 0.40))
    assert panel.tau.value() == pytest.approx(0.225, abs=1e-3)
    assert b.segmenter_label in panel.segmenter_label.text() and "over-segmentation" in panel.segmenter_label.text()


def test_tau_panel_takes_a_calibrated_bundle_scale(qapp, qtbot, tiny_bundle, temp_settings, sample_png):  # noqa: ANN001
    from sam_editor.gui.main_window import MainWindow

    scale = TauScale("l2+SSIM", 0.30, 0.15, 0.60, "test")
    bundle = dataclasses.replace(tiny_bundle, tau_scale=scale, tau=0.30)
    MainWindow.confirm_unsaved = False
    w = MainWindow(bundle=bundle, settings=temp_settings)
    qtbot.addWidget(w)
    w.show()
    try:
        open_and_map(w, qtbot, sample_png)
        panel = w.map_panel
        assert w.session.tau == pytest.approx(0.30) and w.session.latent_map.tau == pytest.approx(0.30)
        assert panel.tau.value() == pytest.approx(0.30, abs=1e-3)
        assert (panel.tau.minimum(), panel.tau.maximum()) == pytest.approx((0.15, 0.60))
        assert "l2+SSIM" in panel.tau_box.title()
        panel.tau.setValue(0.55)  # the calibrated range reaches past the paper's 0.40
        assert w.session.latent_map.tau == pytest.approx(0.55, abs=1e-3)
    finally:
        w.editor.shutdown()
