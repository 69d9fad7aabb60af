"""The Inversion panel always shows the open photo's state: nothing carried over to a new photo,
the project's own inversion after opening a project."""

from __future__ import annotations

import pytest
from bundle_factory import write_sample

from .test_window import invert, open_and_map

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_panel_shows_the_current_photos_inversion(window, qtbot, sample_png, tmp_path):  # noqa: ANN001
    panel = window.inversion_panel
    open_and_map(window, qtbot, sample_png)
    inv = invert(window, qtbot, steps=3, method="wplus")
    assert "3 steps" in panel.eta.text() and panel.losses.text()
    project = tmp_path / "one.samproj"
    assert window.save_project_to(project)
    other = write_sample(tmp_path / "other.png", size=80)
    open_and_map(window, qtbot, other)
    assert panel.eta.text() == "" and panel.losses.text() == "" and panel.progress.value() == 0
    assert window.open_project(project)
    assert panel.eta.text() == f"wplus, 3 steps in {inv.seconds:.1f} s (from the project)"
    assert panel.losses.text() != ""
