"""Issue 30, item 6: cancelling a re-inversion keeps the better of the previous result and the
partial one, measured the same way for both (pixel error on the photo), and says which."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import Qt

from .test_window import invert, open_and_map


def test_better_of_compares_reconstruction_error(window, qtbot, sample_png) -> None:  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s = window.session
    run = invert(window, qtbot, steps=3)
    near = np.clip(s.work.astype(int) + 5, 0, 255).astype(np.uint8)
    full = dataclasses.replace(run, reconstruction=near)  # a previous result 5 levels off everywhere
    s.apply_inversion(full)
    perfect = dataclasses.replace(run, reconstruction=s.work.copy(), cancelled=True)
    noisy = dataclasses.replace(run, reconstruction=np.clip(s.work.astype(int) + 60, 0, 255).astype(np.uint8), cancelled=True)
    assert s.reconstruction_error(perfect) == 0.0 < s.reconstruction_error(full) < s.reconstruction_error(noisy)
    kept, said = s.better_of(noisy)
    assert kept is full and "previous" in said
    kept, said = s.better_of(perfect)
    assert kept is perfect and "partial" in said
    done = dataclasses.replace(noisy, cancelled=False)
    assert s.better_of(done) == (done, "")  # a finished run always replaces


def test_cancelled_rerun_keeps_the_better_earlier_result(window, qtbot, sample_png) -> None:  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    s, e, panel = window.session, window.editor, window.inversion_panel
    panel.method.setCurrentIndex(panel.method.findData("sam"))
    complete = invert(window, qtbot, steps=60)
    assert not complete.cancelled and s.inversion is complete
    error_complete = s.reconstruction_error(complete)
    panel.steps.setValue(2000)
    with qtbot.waitSignal(e.previewShown, timeout=30000):
        qtbot.mouseClick(panel.invert, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(e.inversionFinished, timeout=30000) as blocker:
        qtbot.mouseClick(panel.cancel, Qt.MouseButton.LeftButton)
    kept = blocker.args[0]
    assert s.inversion is kept
    if kept is complete:  # the expected case: a few steps from the start lose to 60 steps
        assert "kept the previous result" in panel.eta.text()
    else:
        assert kept.cancelled and s.reconstruction_error(kept) <= error_complete
        assert "kept the partial result" in panel.eta.text()
    assert kept is complete, f"the partial run ({kept.steps_run} steps) beat 60 finished steps: {panel.eta.text()}"
