"""BigGAN-deep's z edits in the window (issue 33): GANSpace sliders on z with a stage range per
direction and the text box, computed / optimised on workers with progress and Cancel, gated per
segment by the same core functions as `sam-editor edit PHI --ganspace K:S@A-B --text PROMPT`;
and SAM's measured-map prelude shown as its own phase."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.test_family_window import biggan_folder, invert, open_family, photo  # noqa: F401 (fixtures)


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
