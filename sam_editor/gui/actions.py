"""Every menu/toolbar command, declared once: a typed bundle of QActions with icons and
shortcuts (a user's QSettings `shortcuts/<name>` entry replaces the default)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import qtawesome as qta
from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from sam_editor.gan.layers import LayerSpace

DEFAULT_SHORTCUTS: dict[str, str | QKeySequence.StandardKey] = {
    "open": QKeySequence.StandardKey.Open,
    "open_project": "Ctrl+Shift+O",
    "save_project": QKeySequence.StandardKey.Save,
    "save_project_as": "Ctrl+Shift+S",
    "export": "Ctrl+E",
    "quit": QKeySequence.StandardKey.Quit,
    "undo": QKeySequence.StandardKey.Undo,
    "redo": QKeySequence.StandardKey.Redo,
    "invert": "Ctrl+I",
    "cancel": "Esc",
    "zoom_fit": "Ctrl+0",
    "zoom_100": "Ctrl+1",
    "zoom_in": QKeySequence.StandardKey.ZoomIn,
    "zoom_out": QKeySequence.StandardKey.ZoomOut,
    "view_source": "F1",
    "view_reconstruction": "F2",
    "view_edited": "F3",
    "view_side": "F4",
    "view_result": "F5",
    "toggle_wipe": "Y",
    "toggle_overlay": "O",
    "toggle_reach": "G",
    "brush": "B",
    "reset_overrides": "Ctrl+Shift+R",
    "reset_edits": "Ctrl+R",
    # the selected segments: keys 1–5 put them in a space, 0 gives them back to the τ rule
    "space_W+": "1",
    "space_F4": "2",
    "space_F6": "3",
    "space_F8": "4",
    "space_F10": "5",
    "space_auto": "0",
    "edit_only_selection": "E",
    "edit_everywhere": "Shift+E",
    "preferences": "Ctrl+,",
    "shortcuts": "Ctrl+/",
    "getting_started": "Shift+F1",
}


def new_action(
    parent: QWidget,
    name: str,
    text: str,
    slot: Callable[..., object] | None = None,
    icon: str | None = None,
    tip: str = "",
    checkable: bool = False,
    settings: QSettings | None = None,
) -> QAction:
    action = QAction(text, parent)
    action.setObjectName(name)
    if icon:
        action.setIcon(qta.icon(icon))
    default = DEFAULT_SHORTCUTS.get(name)
    custom = settings.value(f"shortcuts/{name}") if settings is not None else None
    if custom:
        action.setShortcut(QKeySequence(str(custom)))
    elif isinstance(default, QKeySequence.StandardKey):
        action.setShortcuts(default)
    elif default:
        action.setShortcut(QKeySequence(default))
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip or text.replace('&', '').rstrip('.…')}" + (f" ({keys})" if keys else ""))
    action.setStatusTip(tip)
    action.setCheckable(checkable)
    if slot is not None:
        action.triggered.connect(slot)
    return action


@dataclasses.dataclass
class Actions:
    open: QAction
    open_project: QAction
    save_project: QAction
    save_project_as: QAction
    export: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    invert: QAction
    cancel: QAction
    zoom_fit: QAction
    zoom_100: QAction
    zoom_in: QAction
    zoom_out: QAction
    view_source: QAction
    view_reconstruction: QAction
    view_edited: QAction
    view_side: QAction
    view_result: QAction  # the photo at its own size with the edit blended in (what the export writes)
    toggle_wipe: QAction  # before/after split in the result view
    toggle_overlay: QAction
    toggle_reach: QAction
    brush: QAction
    reset_overrides: QAction
    reset_edits: QAction
    view_group: QActionGroup
    spaces: dict[LayerSpace, QAction]  # put the selection in a space
    space_auto: QAction  # selection back to the τ rule
    edit_only_selection: QAction
    edit_everywhere: QAction
    preferences: QAction
    shortcuts: QAction
    getting_started: QAction

    @property
    def needs_image(self) -> list[QAction]:
        return [self.save_project, self.save_project_as, self.invert, self.brush, self.reset_overrides]

    @property
    def needs_inversion(self) -> list[QAction]:
        return [self.export, self.reset_edits, self.toggle_reach, self.view_result, self.toggle_wipe]


def build_actions(w: QWidget, handlers: dict[str, Callable[..., object]], settings: QSettings) -> Actions:
    """`handlers` maps action names to slots (views get `set_view`, the space actions
    `override(space | None)`)."""

    def act(name: str, text: str, icon: str | None = None, tip: str = "", checkable: bool = False) -> QAction:
        return new_action(w, name, text, handlers.get(name), icon, tip, checkable, settings)

    group = QActionGroup(w)
    views = {}
    for name, text, icon in (
        ("view_source", "&Source", "mdi6.image-outline"),
        ("view_reconstruction", "&Reconstruction", "mdi6.image-sync-outline"),
        ("view_edited", "&Edited", "mdi6.image-edit-outline"),
        ("view_side", "Side &by Side", "mdi6.view-column-outline"),
        ("view_result", "Res&ult at Photo Size", "mdi6.image-check-outline"),
    ):
        a = act(name, text, icon, checkable=True)
        a.triggered.connect(lambda _=False, n=name[5:]: handlers["set_view"](n))
        group.addAction(a)
        views[name] = a
    views["view_source"].setChecked(True)
    spaces = {}
    for space in LayerSpace:
        a = act(f"space_{space.value}", f"Put Selection in {space.value}", tip=f"Invert the selected segments in {space.value}")
        a.triggered.connect(lambda _=False, sp=space: handlers["override"](sp))
        spaces[space] = a
    space_auto = act("space_auto", "Selection &Automatic (τ rule)", "mdi6.auto-fix", "Back to the τ rule for the selected segments")
    space_auto.triggered.connect(lambda _=False: handlers["override"](None))
    for a in (*spaces.values(), space_auto):
        w.addAction(a)  # keys work anywhere in the window, menu or not
    return Actions(
        open=act("open", "&Open Image…", "mdi6.folder-open-outline", "Open a photo"),
        open_project=act("open_project", "Open &Project…", "mdi6.folder-star-outline", "Open a saved project"),
        save_project=act("save_project", "&Save Project", "mdi6.content-save-outline", "Save image, map, inversion and edits"),
        save_project_as=act("save_project_as", "Save Project &As…", None, "Save the project under a new name"),
        export=act("export", "&Export PNG…", "mdi6.export", "Export the edited image / reconstruction"),
        quit=act("quit", "&Quit"),
        undo=act("undo", "&Undo", "mdi6.undo"),
        redo=act("redo", "&Redo", "mdi6.redo"),
        invert=act("invert", "&Invert", "mdi6.play-circle-outline", "Invert the image into the generator"),
        cancel=act("cancel", "&Cancel", "mdi6.stop-circle-outline", "Stop the running job (keeps the best result)"),
        zoom_fit=act("zoom_fit", "Zoom to &Fit", "mdi6.fit-to-screen-outline"),
        zoom_100=act("zoom_100", "Zoom &100 %", "mdi6.magnify-scan"),
        zoom_in=act("zoom_in", "Zoom &In", "mdi6.magnify-plus-outline"),
        zoom_out=act("zoom_out", "Zoom &Out", "mdi6.magnify-minus-outline"),
        toggle_overlay=act("toggle_overlay", "Show Invertibility &Map", "mdi6.layers-outline", checkable=True),
        toggle_wipe=act("toggle_wipe", "&Before/After Split", "mdi6.compare-horizontal",
                        "Result view: drag the divider to compare; hold \\ to see the photo as it was", checkable=True),
        toggle_reach=act("toggle_reach", "Show Where Edits &Act", "mdi6.select-group", checkable=True),
        brush=act("brush", "Segment &Brush", "mdi6.brush", "Drag over segments to set their space", checkable=True),
        reset_overrides=act("reset_overrides", "Reset All &Overrides", "mdi6.restore"),
        reset_edits=act("reset_edits", "Reset All &Edits", "mdi6.backup-restore"),
        view_group=group,
        spaces=spaces,
        space_auto=space_auto,
        edit_only_selection=act("edit_only_selection", "Edit &Only the Selection", "mdi6.selection", "Edits act only on the selected segments"),
        edit_everywhere=act("edit_everywhere", "Edit E&verywhere", "mdi6.selection-off", "Let edits act on the whole image again"),
        preferences=act("preferences", "&Preferences…", "mdi6.cog-outline", "Weights folder, threads, τ, export defaults, interface scale"),
        shortcuts=act("shortcuts", "&Keyboard Shortcuts", "mdi6.keyboard-outline", "Every command and its keys"),
        getting_started=act("getting_started", "&Getting Started", "mdi6.help-circle-outline", "A short tour: open, map, invert, edit, export"),
        **views,
    )
