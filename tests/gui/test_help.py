"""Help ▸ Keyboard Shortcuts and Getting Started, opened through the real menus."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence, QUndoCommand

from sam_editor.gui.help import command_text, keys_of, registry_actions


def _help_menu(window):  # noqa: ANN001, ANN202
    return next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Help")


def test_shortcuts_dialog_lists_every_action_with_its_key(window, qtbot):  # noqa: ANN001
    _help_menu(window)  # the entry is in the Help menu
    assert window.actions.shortcuts in _help_menu(window).actions()
    window.actions.shortcuts.trigger()
    dialog = window.shortcuts_dialog
    qtbot.waitExposed(dialog)
    listed = dialog.listed()
    with_keys = [a for a in registry_actions(window.actions) if keys_of(a)]
    assert len(with_keys) >= 30
    for a in with_keys:
        name = command_text(a)
        assert name in listed, name
        assert keys_of(a) in listed[name] or listed[name] == keys_of(a), (name, listed[name])
    # the specific keys of a few commands, as the user's platform writes them
    assert listed["Invert"] == QKeySequence("Ctrl+I").toString(QKeySequence.SequenceFormat.NativeText)
    assert listed["Show Invertibility Map"] == "O"
    assert listed["Undo"].startswith(QKeySequence("Ctrl+Z").toString(QKeySequence.SequenceFormat.NativeText))
    window.undo.push(QUndoCommand("Rename PC 3"))
    assert "Undo" in {command_text(a) for a in registry_actions(window.actions)}  # not "Undo Rename PC 3"
    # the filter narrows the list
    dialog.filter.setText("zoom")
    visible = [
        dialog.tree.topLevelItem(i).child(j).text(0)
        for i in range(dialog.tree.topLevelItemCount())
        for j in range(dialog.tree.topLevelItem(i).childCount())
        if not dialog.tree.topLevelItem(i).child(j).isHidden()
    ]
    assert visible and all("Zoom" in v for v in visible)
    dialog.close()


def test_user_shortcut_shows_in_the_list(qtbot, tiny_bundle, temp_settings):  # noqa: ANN001
    """A key the user set in QSettings is what the list shows (it is read from the actions)."""
    from sam_editor.gui.main_window import MainWindow

    temp_settings.setValue("shortcuts/invert", "Ctrl+Alt+J")
    w = MainWindow(bundle=tiny_bundle, settings=temp_settings)
    qtbot.addWidget(w)
    w.show_shortcuts()
    assert w.shortcuts_dialog.listed()["Invert"] == QKeySequence("Ctrl+Alt+J").toString(
        QKeySequence.SequenceFormat.NativeText
    )
    w.editor.shutdown()


def test_getting_started_names_the_real_keys(window, qtbot):  # noqa: ANN001
    assert window.actions.getting_started in _help_menu(window).actions()
    window.actions.getting_started.trigger()
    text = window.getting_started_dialog.text.toPlainText()
    assert "Getting started" in text
    assert keys_of(window.actions.invert) in text and keys_of(window.actions.export) in text
    window.getting_started_dialog.close()
