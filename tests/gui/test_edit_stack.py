"""The edit stack as layers, driven through its widgets: hide/show, drag to reorder, rename,
duplicate — each one undo step; the composite and the export follow the stack; a project keeps
it (and a project written before the stack had these fields still opens)."""

from __future__ import annotations

import json
import zipfile

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QInputDialog

from .helpers import reopen_in_new_window
from .test_window import invert, open_and_map

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _settle(window, qtbot, change) -> np.ndarray:  # noqa: ANN001
    """Do `change`, wait for its render, → the composite on screen."""
    with qtbot.waitSignal(window.editor.rendered, timeout=30000):
        change()
    qtbot.wait(50)
    return window.session.edited.copy()


def _drop_row(stack, source: int, onto: int) -> None:  # noqa: ANN001
    """Drag row `source` and drop it on the upper half of row `onto` (Qt's own drop event)."""
    stack.setCurrentRow(source)
    mime = stack.model().mimeData([stack.model().index(source, 0)])
    rect = stack.visualItemRect(stack.item(onto))
    pos = QPointF(rect.center().x(), rect.top() + 2)
    args = (Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(pos.toPoint(), *args)
    QApplication.sendEvent(stack.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(stack.viewport(), QDragMoveEvent(pos.toPoint(), *args))
    QApplication.sendEvent(stack.viewport(), QDropEvent(pos, *args))


def test_layers_hide_reorder_rename_duplicate(
    window, qtbot, sample_png, tmp_path, tiny_bundle, temp_settings, monkeypatch
):  # noqa: ANN001
    open_and_map(window, qtbot, sample_png)
    inv = invert(window, qtbot, steps=2)
    s, panel = window.session, window.edit_panel
    qtbot.waitUntil(lambda: panel.components and panel.components[0].isEnabled(), timeout=30000)
    _settle(window, qtbot, lambda: panel.components[0].strength.setValue(3.0))
    both = _settle(window, qtbot, lambda: panel.components[1].strength.setValue(-2.5))
    stack = panel.stack
    assert [e.name for e in s.edits] == ["PC 0", "PC 1"] and len(stack.rows) == 2
    assert not np.array_equal(both, inv.reconstruction)
    steps = window.undo.count()

    # hide the first layer: the composite loses it; hide both: the reconstruction
    only_second = _settle(window, qtbot, stack.rows[0].visible.click)
    assert s.edits[0].enabled is False and s.edits[0].strength == 3.0  # kept, switched off
    assert window.undo.count() == steps + 1
    assert not np.array_equal(only_second, both)
    nothing = _settle(window, qtbot, stack.rows[1].visible.click)
    assert np.array_equal(nothing, inv.reconstruction)
    assert not stack.rows[1].strength.isEnabled()
    # the export follows the stack: one layer hidden → the export is that composite
    _settle(window, qtbot, window.undo.undo)
    gen = tmp_path / "hidden.png"
    assert window.export_to(gen, full_size=False)
    back = cv2.cvtColor(cv2.imdecode(np.fromfile(gen, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, only_second) and np.array_equal(s.edited, only_second)
    from sam_editor.session.recipe import read_recipe

    recipe = [(e["name"], e["enabled"], e["strength"]) for e in read_recipe(gen).edits()]  # the PNG's recipe keeps the stack
    assert recipe == [("PC 0", False, 3.0), ("PC 1", True, -2.5)]
    from sam_editor.session.recipe import apply_recipe

    applied = apply_recipe(tiny_bundle, read_recipe(gen), s.source, steps=1)  # 'sam-editor apply'
    assert [e.enabled for e in applied.edits] == [False, True] and len(applied.edit_stack()) == 1
    assert _settle(window, qtbot, window.undo.undo) is not None  # shown again
    assert np.array_equal(s.edited, both) and all(e.enabled for e in s.edits)

    # drag the second layer above the first: the order changes, the composite (a sum) does not
    _drop_row(stack, 1, 0)
    assert [e.name for e in s.edits] == ["PC 1", "PC 0"]
    assert stack.rows[0].name.text().startswith("PC 1")
    qtbot.waitUntil(lambda: s.edited is not None and np.abs(s.edited.astype(int) - both).max() <= 1, timeout=30000)
    window.undo.undo()
    assert [e.name for e in s.edits] == ["PC 0", "PC 1"]
    stack.rows[0].down_action.trigger()  # the row menu does the same
    assert [e.name for e in s.edits] == ["PC 1", "PC 0"]
    window.undo.undo()

    # rename (double-click the name), then undo
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Blue sky", True)))
    qtbot.mouseDClick(stack.rows[0].name, Qt.MouseButton.LeftButton)
    assert s.edits[0].label == "Blue sky" and s.edits[0].name == "PC 0"  # the slider still finds it
    assert stack.rows[0].name.text() == "Blue sky"
    panel.components[0].strength.setValue(2.0)  # moving the slider keeps the layer's name
    qtbot.waitUntil(lambda: s.edits[0].strength == 2.0)
    assert s.edits[0].label == "Blue sky"
    window.undo.undo()
    window.undo.undo()
    assert s.edits[0].label == "" and stack.rows[0].name.text().startswith("PC 0")

    # duplicate: a second, independent copy of the layer doubles its effect
    doubled = _settle(window, qtbot, stack.rows[1].duplicate_action.trigger)
    assert [e.name for e in s.edits] == ["PC 0", "PC 1", "PC 1 copy"]
    assert s.edits[2].strength == -2.5 and s.edits[2].label.endswith("copy")
    assert not np.array_equal(doubled, both)
    assert panel.components[1].strength.value() == pytest.approx(-2.5)  # the slider still drives the original

    # hide the original of the copy, move the copy first, name it; save; open in a new window
    stack.rows[1].visible.click()
    _drop_row(stack, 2, 0)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Darker", True)))
    stack.rows[0].rename_action.trigger()
    qtbot.waitUntil(lambda: window.editor.last_render_latency is not None)
    saved = [(e.name, e.enabled, e.label, e.strength) for e in s.edits]
    assert saved == [("PC 1 copy", True, "Darker", -2.5), ("PC 0", True, "", 3.0), ("PC 1", False, "", -2.5)]
    qtbot.waitUntil(lambda: s.edited is not None and np.abs(s.edited.astype(int) - both).max() <= 1, timeout=30000)
    composite = s.edited.copy()
    project = tmp_path / "layers.samproj"
    assert window.save_project_to(project)
    other = reopen_in_new_window(project, qtbot, tiny_bundle, temp_settings)
    t = other.session
    assert [(e.name, e.enabled, e.label, e.strength) for e in t.edits] == saved
    assert [r.name.text() for r in other.edit_panel.stack.rows][0] == "Darker"
    assert not other.edit_panel.stack.rows[2].visible.isChecked()
    qtbot.waitUntil(lambda: t.edited is not None and np.abs(t.edited.astype(int) - composite).max() <= 1, timeout=30000)
    other.editor.shutdown()

    # a project written before the stack had visibility and labels opens with every layer on
    old = tmp_path / "old.samproj"
    with zipfile.ZipFile(project) as z, zipfile.ZipFile(old, "w") as out:
        for item in z.infolist():
            data = z.read(item)
            if item.filename == "project.json":
                doc = json.loads(data)
                for e in doc["edits"]:
                    e.pop("enabled"), e.pop("label")
                data = json.dumps(doc).encode()
            out.writestr(item, data)
    assert window.open_project(old)
    assert [(e.name, e.enabled, e.label) for e in s.edits] == [
        ("PC 1 copy", True, ""),
        ("PC 0", True, ""),
        ("PC 1", True, ""),
    ]
