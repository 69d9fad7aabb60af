"""The BigGAN class picker on its own: search, the car shortlist first, choosing and strength."""

from __future__ import annotations

from PySide6.QtCore import Qt

from sam_editor.gan.biggan.classes import CAR_SHORTLIST
from sam_editor.gui.class_picker import ClassPicker


def test_class_picker_searches_and_chooses(qtbot):
    picker = ClassPicker()
    qtbot.addWidget(picker)
    assert picker.shown_classes() == list(CAR_SHORTLIST)  # empty query: the shortlist
    qtbot.keyClicks(picker.search, "wagon")
    shown = picker.shown_classes()
    assert 436 in shown and all("wagon" in picker.list.item(i).text() for i in range(len(shown)))
    with qtbot.waitSignal(picker.classChosen) as chosen:
        qtbot.keyClick(picker.search, Qt.Key.Key_Return)
    assert chosen.args == [shown[0]]
    picker.search.setText("zzzz-no-such-class")
    assert picker.shown_classes() == [] and picker.status.text() == "no class matches"
    with qtbot.waitSignal(picker.strengthChanged) as s:
        picker.strength.setValue(0.5)
    assert abs(s.args[0] - 0.5) < 1e-6


def test_class_picker_for_a_small_generator(qtbot):
    picker = ClassPicker(num_classes=10)
    qtbot.addWidget(picker)
    assert picker.shown_classes() == list(range(10))
    picker.search.setText("7")
    assert picker.shown_classes() == [7]
