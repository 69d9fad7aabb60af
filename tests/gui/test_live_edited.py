"""During an inversion the Edited pane follows it: the edit stack on each preview's φ (and the
preview itself when no layer is on), not the image from before the run."""

from __future__ import annotations

import numpy as np
import pytest

from .test_window import invert, open_and_map

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _record(window, monkeypatch) -> list:  # noqa: ANN001
    """(reconstruction preview, Edited pane) pairs the canvas got while the inversion ran."""
    pairs: list = []
    original = window.canvas.set_image

    def set_image(name, array):  # noqa: ANN001, ANN202
        if window.editor.inverting and array is not None:
            if name == "reconstruction":
                pairs.append([array.copy(), None])
            elif name == "edited" and pairs and pairs[-1][1] is None:
                pairs[-1][1] = array.copy()
        return original(name, array)

    monkeypatch.setattr(window.canvas, "set_image", set_image)
    return pairs


def test_edited_pane_follows_the_inversion(window, qtbot, sample_png, monkeypatch):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    first = invert(window, qtbot, steps=2)
    s, panel = window.session, window.edit_panel
    qtbot.waitUntil(lambda: panel.components and panel.components[0].isEnabled(), timeout=30000)
    with qtbot.waitSignal(window.editor.rendered, timeout=30000):
        panel.components[0].strength.setValue(4.0)
    qtbot.waitUntil(lambda: s.edited is not None and not np.array_equal(s.edited, first.reconstruction), timeout=30000)
    before = s.edited.copy()

    pairs = _record(window, monkeypatch)
    invert(window, qtbot, steps=12)  # previews at steps 5, 10, 12
    assert len(pairs) >= 2 and all(e is not None for _, e in pairs)
    for preview, edited in pairs:
        assert not np.array_equal(edited, preview)  # the edit is on it
    assert any(not np.array_equal(edited, before) for _, edited in pairs)  # and it moves with φ
    assert len({edited.tobytes() for _, edited in pairs}) >= 2

    # every layer hidden: the Edited pane is the preview itself
    window.edit_panel.stack.rows[0].visible.click()
    pairs.clear()
    invert(window, qtbot, steps=6)
    assert pairs and all(np.array_equal(edited, preview) for preview, edited in pairs)
