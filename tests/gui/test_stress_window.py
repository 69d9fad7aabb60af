"""Issue 30, the window under stress: 20 photos opened in quick succession, τ and overrides
changed while an inversion runs, the window closed mid-inversion, 50 undo/redo steps — no
exception (pytest-qt fails a test on any exception in a Qt slot), no stale result, nothing lost."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from sam_editor.gan.layers import LayerSpace

from .helpers import drop_files
from .test_window import open_and_map


def _start_long_inversion(window, qtbot) -> None:  # noqa: ANN001
    panel = window.inversion_panel
    panel.method.setCurrentIndex(panel.method.findData("sam"))
    panel.steps.setValue(2000)
    with qtbot.waitSignal(window.editor.previewShown, timeout=30000):
        qtbot.mouseClick(panel.invert, Qt.MouseButton.LeftButton)


def test_twenty_photos_dropped_in_quick_succession(window, qtbot, tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    paths = []
    for i in range(20):
        h, w = int(rng.integers(40, 160)), int(rng.integers(40, 160))
        p = tmp_path / f"photo{i:02d}.png"
        cv2.imwrite(str(p), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        paths.append(p)
    for p in paths:
        assert drop_files(window, p)  # no waiting between drops: each one supersedes the last
    s = window.session
    qtbot.waitUntil(lambda: s.latent_map is not None and not window.editor.jobs.is_running("latent_map"), timeout=60000)
    assert s.source.name == "photo19.png" and "photo19.png" in window.windowTitle()
    assert s.latent_map.shape == s.work.shape[:2]
    assert s.placement.photo == cv2.imread(str(paths[-1])).shape[:2]  # the map and frame are the last photo's
    assert not (window.message_bar.isVisible() and window.message_bar.kind == "error")
    from sam_editor.session import predict_latent_map

    fresh = predict_latent_map(s.bundle, s.work, s.tau, lambda *a: None, lambda: False, box=s.placement.box)
    assert np.array_equal(fresh.labels, s.latent_map.labels)  # not a stale map of an earlier photo


def test_tau_and_overrides_change_while_inverting(window, qtbot, sample_png) -> None:  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s, e = window.session, window.editor
    _start_long_inversion(window, qtbot)
    for tau in (0.3, 0.15, 0.39, 0.25):
        window.map_panel.tau.setValue(tau)
        qtbot.wait(5)
    e.selection = [0]
    e.override(LayerSpace.F4)
    assert e.inverting  # the running job is not disturbed by the edits to the map
    with qtbot.waitSignal(e.inversionFinished, timeout=30000):
        qtbot.mouseClick(window.inversion_panel.cancel, Qt.MouseButton.LeftButton)
    assert s.inversion is not None and s.inversion.cancelled
    assert s.latent_map.tau == pytest.approx(0.25, abs=1e-3) and s.latent_map.overrides == {0: LayerSpace.F4}
    assert s.inversion.reconstruction.shape == s.work.shape


def test_fifty_undo_redo_steps(window, qtbot, sample_png) -> None:  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s = window.session
    taus = [round(0.12 + 0.01 * (i % 27), 3) for i in range(25)]
    seen = []
    for tau in taus:
        window.map_panel.tau.setValue(tau)
        seen.append(s.latent_map.tau)
    for _ in range(50):  # more undo than there are steps: stops at the start
        window.undo.undo()
    assert s.latent_map.tau == pytest.approx(0.225, abs=1e-3)
    for _ in range(50):
        window.undo.redo()
    assert s.latent_map.tau == pytest.approx(seen[-1], abs=1e-6)
    assert window.map_panel.tau.value() == pytest.approx(seen[-1], abs=1e-3)


def test_close_window_during_inversion(window, qtbot, sample_png) -> None:  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    _start_long_inversion(window, qtbot)
    t0 = time.perf_counter()
    assert window.close()
    assert time.perf_counter() - t0 < 20 and not window.isVisible()
    assert not window.editor.jobs.is_running("inversion")
