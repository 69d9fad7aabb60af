"""Named GANSpace components (from the bundle's probe presets, renamable, kept per generator),
the official car presets in the preset list, and no zoom in the status bar before a photo."""

from __future__ import annotations

import dataclasses
import json

import pytest
from PySide6.QtCore import QSettings, Qt

from .helpers import drop_files

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def probed_bundle(tiny_bundle, tmp_path):  # noqa: ANN001, ANN201
    """The tiny bundle with a probe's presets.json beside its generator (as the demo bundle has)."""
    folder = tmp_path / "demo"
    folder.mkdir()
    presets = [
        {"name": "Demo - Sky bluer (PC 0, layers 2-5)", "component": 0, "layers": [2, 5], "strength": 2.0,
         "generator": tiny_bundle.generator_id, "source": "measured"},
        {"name": "Demo - Car bigger (PC 3, layers 1-2)", "component": 3, "layers": [1, 2], "strength": -2.0,
         "generator": tiny_bundle.generator_id, "source": "measured"},
        {"name": "Demo - Not this generator (PC 1, layers 0-1)", "component": 1, "layers": [0, 1], "strength": 1.0,
         "generator": "0" * 32, "source": "measured"},
    ]  # fmt: skip
    (folder / "presets.json").write_text(json.dumps(presets))
    return dataclasses.replace(tiny_bundle, generator_path=folder / "generator.pt")


def _window(qtbot, bundle, settings):  # noqa: ANN001, ANN202
    from sam_editor.gui.main_window import MainWindow

    w = MainWindow(bundle=bundle, settings=settings)
    qtbot.addWidget(w)
    w.show()
    if not w.edit_panel.components:
        with qtbot.waitSignal(w.editor.ganspaceReady, timeout=60000):
            pass
    return w


def test_components_named_by_the_probe_and_renamed_by_the_user(qtbot, probed_bundle, temp_settings, monkeypatch):  # noqa: ANN001
    from PySide6.QtWidgets import QInputDialog

    w = _window(qtbot, probed_bundle, temp_settings)
    rows = w.edit_panel.components
    assert "Sky bluer" in rows[0].name_label.text() and rows[0].name == "Sky bluer"
    assert rows[3].name == "Car bigger"
    assert rows[1].name == "" and rows[1].name_label.text() == "<b>PC 1</b>"  # another generator's preset
    assert [w.edit_panel.presets.itemText(i) for i in range(2)] == [
        "Demo - Sky bluer (PC 0, layers 2-5)", "Demo - Car bigger (PC 3, layers 1-2)"]  # fmt: skip

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Headlights", True)))
    w.edit_panel.set_enabled(True)  # as after an inversion: the rows take the mouse
    qtbot.mouseDClick(rows[1].name_label, Qt.MouseButton.LeftButton)
    assert rows[1].name == "Headlights" and "Headlights" in rows[1].name_label.text()
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Sky bluer, more", True)))
    rows[0].name_label.doubleClicked.emit()
    assert rows[0].name == "Sky bluer, more"
    w.editor.shutdown()

    # a restart keeps the user's names for this generator
    w2 = _window(qtbot, probed_bundle, QSettings())
    assert w2.edit_panel.components[1].name == "Headlights"
    assert w2.edit_panel.components[0].name == "Sky bluer, more"
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("", True)))
    w2.edit_panel.components[0].name_label.doubleClicked.emit()  # empty: the probe's name again
    assert w2.edit_panel.components[0].name == "Sky bluer"
    w2.editor.shutdown()


def test_official_car_presets_in_the_list_for_stylegan2_car(tiny_bundle, tmp_path):  # noqa: ANN001
    from sam_editor import weights
    from sam_editor.session import Session

    official = tmp_path / "generators" / weights.get("stylegan2-car").filename
    s = Session(dataclasses.replace(tiny_bundle, generator_path=official))
    by_name = {p.name: p for p in s.presets() if hasattr(p, "component")}
    expect = {"Car - Viewpoint": (0, (0, 5), 2.0), "Car - Cube": (16, (3, 6), 25.0),
              "Car - Color": (22, (9, 11), -27.0), "Car - Grass": (41, (9, 11), -18.0)}  # fmt: skip
    for name, (k, layers, strength) in expect.items():
        p = by_name[name]
        assert (p.component, p.layers, p.strength) == (k, layers, strength)
    assert not [p for p in Session(tiny_bundle).presets() if getattr(p, "name", "") == "Car - Viewpoint"]


def test_no_zoom_in_the_status_bar_before_a_photo(window, qtbot, sample_png):  # noqa: ANN001
    window.resize(900, 700)
    window.canvas.fit()
    qtbot.wait(50)
    assert window.zoom_label.text() == ""
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        assert drop_files(window.canvas.viewport(), sample_png)
    zoom = window.zoom_label.text()
    assert zoom.endswith(" %") and 10 <= int(zoom[:-2]) <= 2000
