"""Help ▸ Keyboard Shortcuts and Help ▸ Getting Started.

The shortcut list is read from the window's action registry (`actions.Actions`) and its menus
at the moment it opens, so a new action, a renamed one or a user's own key (QSettings
`shortcuts/<name>`) shows up without anyone editing this file."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QMenu,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from .actions import Actions


def registry_actions(actions: Actions) -> Iterator[QAction]:
    """Every QAction the registry holds (the space actions of its dict included)."""
    for field in dataclasses.fields(actions):
        value = getattr(actions, field.name)
        if isinstance(value, QAction):
            yield value
        elif isinstance(value, dict):
            yield from (v for v in value.values() if isinstance(v, QAction))


def command_text(action: QAction) -> str:
    """The command's name as the list shows it; the undo stack's actions name the step they
    would undo ("Undo Rename PC 3"), the list just "Undo" / "Redo"."""
    text = action.text().replace("&", "").rstrip(".…")
    first = text.split(" ", 1)[0]
    return first if first in ("Undo", "Redo") else text


def keys_of(action: QAction) -> str:
    """An action's keys as the user's platform writes them: the main one, then any other
    chord ("Ctrl+Shift+Z"); the platform's dedicated keys (X11's "Open", "Undo", "F14") are
    left out of the reference."""
    keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]
    return ", ".join(k for i, k in enumerate(keys) if i == 0 or ("+" in k and len(k) > 1))


def _menu_of(menu_bar_menus: list[QMenu]) -> dict[int, str]:
    """id(action) → "File ▸ Open Recent"-style path of the first menu that shows it."""
    where: dict[int, str] = {}

    def walk(menu: QMenu, path: str) -> None:
        for a in menu.actions():
            if a.menu() is not None:
                walk(a.menu(), f"{path} ▸ {a.text().replace('&', '')}")
            elif not a.isSeparator():
                where.setdefault(id(a), path)

    for m in menu_bar_menus:
        walk(m, m.title().replace("&", ""))
    return where


def shortcut_rows(actions: Actions, menus: list[QMenu]) -> list[tuple[str, str, str, str]]:
    """(group, command, keys, what it does) for every action of the registry, grouped by the
    menu that holds it ("Canvas" for those only reachable by key or toolbar)."""
    where = _menu_of(menus)
    rows = []
    for a in registry_actions(actions):
        rows.append((where.get(id(a), "Canvas and toolbar"), command_text(a), keys_of(a), a.statusTip()))
    return rows


class ShortcutsDialog(QDialog):
    """A searchable table of every command and its keys."""

    def __init__(self, actions: Actions, menus: list[QMenu], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.setObjectName("shortcutsDialog")
        layout = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter commands or keys…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Command", "Shortcut", "What it does"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        groups: dict[str, QTreeWidgetItem] = {}
        for group, text, keys, tip in shortcut_rows(actions, menus):
            parent_item = groups.get(group)
            if parent_item is None:
                parent_item = groups[group] = QTreeWidgetItem(self.tree, [group])
                font = parent_item.font(0)
                font.setBold(True)
                parent_item.setFont(0, font)
                parent_item.setFirstColumnSpanned(True)
                parent_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            QTreeWidgetItem(parent_item, [text, keys or "—", tip])
        self.tree.expandAll()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.resize(720, 640)

    def listed(self) -> dict[str, str]:
        """command → keys as shown (for tests and the filter)."""
        out = {}
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                out[group.child(j).text(0)] = group.child(j).text(1)
        return out

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            shown = 0
            for j in range(group.childCount()):
                item = group.child(j)
                hit = not needle or any(needle in item.text(c).lower() for c in range(3))
                item.setHidden(not hit)
                shown += hit
            group.setHidden(shown == 0)


GETTING_STARTED = """
<h2>Getting started</h2>
<ol>
<li><b>Open a photo</b> of a car: drop it on the window, or {open}, or File ▸ Open Sample.
The photo is letterboxed into the generator's frame; your full-size photo is what you export.</li>
<li><b>The invertibility map</b> (left) appears after a moment: each segment is coloured by the
layer it will be inverted in — W+ (easy to edit, less faithful) to F10 (faithful, edits act only on
late, colour-and-texture rows). Move <b>τ</b> to trade faithfulness for editability; click a segment
(or use the brush, {brush}) and press <b>1–5</b> to put it in a space yourself, <b>0</b> for automatic.</li>
<li><b>Invert</b> ({invert}). With an encoder in the bundle you can edit at once; the optimisation
refines the result with live previews. {cancel} stops it and keeps the best so far.</li>
<li><b>Edit</b> on the right: GANSpace sliders (each a direction of W on some style rows), named
presets, or a text prompt (StyleCLIP). Every edit is a layer of the <b>edit stack</b>: switch it off
and on, rename, duplicate or drag it to another place; everything is undoable ({undo}).</li>
<li><b>Export</b> ({export}) writes a PNG with the recipe inside; <b>Save Project</b> ({save})
keeps photo, map, inversion and edits together.</li>
</ol>
<p>Views: {views}. Help ▸ Keyboard Shortcuts lists every key; Edit ▸ Preferences holds the weights
folder, threads, τ, export defaults and the interface scale.</p>
<p>The demo bundle runs on a small generator trained on a procedural car world. For real photos,
fetch the official car generator: <code>sam-editor weights fetch stylegan2-car</code>.</p>
"""


def getting_started_html(actions: Actions) -> str:
    def k(a: QAction) -> str:
        keys = keys_of(a).split(", ")[0]
        return f"<b>{keys}</b>" if keys else a.text().replace("&", "")

    views = ", ".join(
        f"{a.text().replace('&', '')} {k(a)}"
        for a in (actions.view_source, actions.view_reconstruction, actions.view_edited, actions.view_side)
    )
    return GETTING_STARTED.format(
        open=k(actions.open),
        brush=k(actions.brush),
        invert=k(actions.invert),
        cancel=k(actions.cancel),
        undo=k(actions.undo),
        export=k(actions.export),
        save=k(actions.save_project),
        views=views,
    )


class GettingStartedDialog(QDialog):
    def __init__(self, actions: Actions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Getting Started")
        layout = QVBoxLayout(self)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(getting_started_html(actions))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)
