"""The main window: canvas in the middle, map panel left, inversion + edit panels right, file
handling (open, drop, samples, recent, projects, export) and the status bar."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qtawesome as qta
from PySide6.QtCore import QPointF, QSettings, Qt, QUrl, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from sam_editor.gan.layers import LayerSpace
from sam_editor.session import (
    IMAGE_SUFFIXES,
    Bundle,
    Problem,
    Session,
    load_bundle,
    sample_images,
)

from .actions import build_actions
from .canvas import ImageCanvas
from .edit_panel import EditPanel
from .editor import Editor, show_session
from .inversion_panel import InversionPanel
from .map_panel import MapPanel
from .menu_keys import MenuKeys
from .preferences import Preferences, PreferencesDialog, load_preferences, save_preferences
from .welcome import WelcomeOverlay
from .widgets import ExportDialog, MessageBar
from .workers import JobWorker, set_threads_preference

PROJECT_FILTER = "SAM Editor project (*.samproj)"
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;All files (*)"
MAX_RECENT = 8
log = logging.getLogger(__name__)


def entry_point(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The window's one error path: whatever a file does below a user action (open, drop,
    project open, recent files, export, save), nothing escapes into Qt's event loop as a
    traceback — the readers return `Problem`s, and anything they missed becomes one banner
    message (the traceback goes to the debug log only)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(self: MainWindow, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the last line of defence, by design
                log.debug("%s failed", what, exc_info=True)
                self.show_problem(f"Could not {what}", f"{type(exc).__name__}: {str(exc)[:300]}")
                return False

        return run

    return wrap


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


class MainWindow(QMainWindow):
    confirm_unsaved = True  # ask before discarding unsaved work (tests turn it off)

    def __init__(self, bundle: Bundle | None = None, settings: QSettings | None = None, weights_dirs: list[Path] | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.prefs = load_preferences(self.settings)
        self.weights_dirs = weights_dirs if weights_dirs is not None else self.prefs.weights_dirs()
        self.session = Session(None)
        self.undo = QUndoStack(self)
        self._pending_open: Path | None = None
        self.family: Any = None  # a FamilyWorkspace while a non-StyleGAN2 generator is open (gui/family_panel)
        self.setAcceptDrops(True)
        self._fit_to_screen(1440, 900)

        self.canvas = ImageCanvas()
        self.message_bar = MessageBar()
        self.banner = MessageBar()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(6, 6, 6, 0)
        cl.setSpacing(6)
        cl.addWidget(self.banner)
        cl.addWidget(self.message_bar)
        cl.addWidget(self.canvas, 1)
        self.setCentralWidget(central)
        self.welcome = WelcomeOverlay(self.canvas)  # over the empty canvas until a photo opens
        self.welcome.set_samples(sample_images())
        self.welcome.set_recent(*self.recent_files())
        self.welcome.openRequested.connect(self.open_dialog)
        self.welcome.pathRequested.connect(self.open_recent)
        self.welcome.dropped.connect(self.dropEvent)

        self.map_panel = MapPanel()
        self.inversion_panel = InversionPanel()
        self.edit_panel = EditPanel()
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        rl.addWidget(self.inversion_panel)
        rl.addWidget(self.edit_panel, 1)
        self.map_dock = self._dock("Invertibility map", self.map_panel, Qt.DockWidgetArea.LeftDockWidgetArea, 290)
        self.edit_dock = self._dock("Invert and edit", right, Qt.DockWidgetArea.RightDockWidgetArea, 340)
        self.stack_dock = self._dock("Edit stack", self.edit_panel.stack_box, Qt.DockWidgetArea.RightDockWidgetArea, 340)

        self.editor = Editor(self, self.session, self.undo)
        self.canvas.result.attach(self.session)  # the result view follows the session's edits
        self.apply_preferences(self.prefs)
        self.actions = build_actions(self, self._handlers(), self.settings)
        self._menus()
        self._toolbar()
        self._status_bar()
        self._wire()
        self.update_title()
        self.update_actions()
        if bundle is not None:
            self.set_bundle(bundle)
        else:
            self._load_bundle()

    # ---- construction -----------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, width: int) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(_scroll(widget))
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setMinimumWidth(width)
        self.addDockWidget(area, dock)
        return dock

    def _handlers(self) -> dict:
        e = self.editor
        return {
            "open": self.open_dialog,
            "open_project": self.open_project_dialog,
            "save_project": self.save_project,
            "save_project_as": functools.partial(self.save_project, True),
            "export": self.export_dialog,
            "quit": self.close,
            "undo": self.undo.undo,
            "redo": self.undo.redo,
            "invert": self.inversion_panel.request_inversion,
            "cancel": lambda: self.family.cancel_jobs() if self.family is not None else e.cancel(),
            "zoom_fit": self.canvas.fit,
            "zoom_100": lambda: self.canvas.set_zoom(1.0),
            "zoom_in": lambda: self.canvas.zoom_by(1.25),
            "zoom_out": lambda: self.canvas.zoom_by(0.8),
            "set_view": self.set_view,
            "toggle_wipe": lambda on: (self.canvas.set_wipe(on), on and self.set_view("result")),
            "toggle_overlay": self.map_panel.set_overlay_visible,
            "toggle_reach": e.set_reach,
            "brush": self.map_panel.set_brush,
            "reset_overrides": e.reset_overrides,
            "reset_edits": e.reset_edits,
            "override": e.override,
            "edit_only_selection": functools.partial(e.limit_edits, True),
            "edit_everywhere": functools.partial(e.limit_edits, False),
            "shortcuts": self.show_shortcuts,
            "getting_started": self.show_getting_started,
            "preferences": self.preferences_dialog,
        }

    def _menus(self) -> None:
        a = self.actions
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction(a.open)
        self.generator_menu = file.addMenu("&Generator")
        self.generator_menu.addAction("StyleGAN2 (the bundle)").triggered.connect(self.close_generator)
        from sam_editor.gan.biggan.checkpoint import REGISTERED

        for name in REGISTERED:  # registry names: a missing download is the CLI's `weights fetch` message
            self.generator_menu.addAction(name).triggered.connect(functools.partial(self.open_generator, name))
        self.generator_menu.addSeparator()
        self.generator_menu.addAction("Open &Generator Folder…").triggered.connect(self.open_generator_dialog)
        self.samples_menu = file.addMenu("Open &Sample")
        for path in sample_images():
            self.samples_menu.addAction(path.stem.replace("_", " ").title()).triggered.connect(
                functools.partial(self.open_path, path)
            )
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file.addSeparator()
        for act in (a.open_project, a.save_project, a.save_project_as):
            file.addAction(act)
        file.addSeparator()
        file.addAction(a.export)
        file.addSeparator()
        file.addAction(a.quit)
        edit = bar.addMenu("&Edit")
        undo, redo = self.undo.createUndoAction(self, "&Undo"), self.undo.createRedoAction(self, "&Redo")
        for act, proto in ((undo, a.undo), (redo, a.redo)):
            act.setShortcuts(proto.shortcuts())
            act.setIcon(proto.icon())
        a.undo, a.redo = undo, redo
        edit.addActions([undo, redo])
        edit.addSeparator()
        edit.addActions([a.brush, a.reset_overrides, a.reset_edits])
        edit.addSeparator()
        edit.addAction(a.preferences)
        selection = edit.addMenu("Se&lection")
        selection.addActions([*a.spaces.values(), a.space_auto])
        selection.addSeparator()
        selection.addActions([a.edit_only_selection, a.edit_everywhere])
        view = bar.addMenu("&View")
        view.addActions([a.view_source, a.view_reconstruction, a.view_edited, a.view_side, a.view_result, a.toggle_wipe])
        view.addSeparator()
        view.addActions([a.zoom_fit, a.zoom_100, a.zoom_in, a.zoom_out])
        view.addSeparator()
        view.addActions([a.toggle_overlay, a.toggle_reach])
        run = bar.addMenu("&Image")
        run.addActions([a.invert, a.cancel])
        self.method_menu = run.addMenu("Inversion &Method")
        for i, label in enumerate(self.inversion_panel.method_labels()):
            act = self.method_menu.addAction(label)
            act.triggered.connect(functools.partial(self.inversion_panel.set_method, i))
        help_ = bar.addMenu("&Help")
        help_.addActions([a.getting_started, a.shortcuts])
        help_.addSeparator()
        help_.addAction("Get the &official weights…").triggered.connect(self._weights_help)

    def _toolbar(self) -> None:
        a = self.actions
        tb = QToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addActions([a.open, a.save_project, a.export])
        tb.addSeparator()
        tb.addActions([a.undo, a.redo])
        tb.addSeparator()
        tb.addActions([a.invert, a.cancel])
        tb.addSeparator()
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        tb.addActions([a.view_source, a.view_reconstruction, a.view_edited, a.view_side, a.view_result, a.toggle_wipe])
        tb.addSeparator()
        tb.addActions([a.zoom_fit, a.zoom_100, a.toggle_overlay, a.brush, a.toggle_reach])
        self.addToolBar(tb)

    def _status_bar(self) -> None:
        sb = self.statusBar()
        self.render_label = QLabel("")
        self.zoom_label = QLabel("")
        self.device_label = QLabel("Loading models…")
        self.generator_label = QLabel("")
        self.weights_label = QLabel("")
        for w in (self.render_label, self.zoom_label, self.device_label, self.generator_label, self.weights_label):
            w.setObjectName("statusField")
            sb.addPermanentWidget(w)
        self.canvas.zoomChanged.connect(self._zoom_changed)

    def _wire(self) -> None:
        e, m, c = self.editor, self.map_panel, self.canvas
        m.tauChanged.connect(e.on_tau)
        m.tauReleased.connect(e.on_tau_released)
        m.overlayChanged.connect(e.update_overlay)
        m.overlayChanged.connect(lambda: self.actions.toggle_overlay.setChecked(m.overlay_visible()))
        self.actions.toggle_overlay.setChecked(m.overlay_visible())
        m.overrideRequested.connect(e.override)
        m.resetOverridesRequested.connect(e.reset_overrides)
        m.editRegionRequested.connect(e.limit_edits)
        m.brushToggled.connect(self._brush)
        c.hovered.connect(e.on_hover)
        c.left.connect(e.on_leave)
        c.clicked.connect(e.on_click)
        c.brushed.connect(e.on_brush)
        self.inversion_panel.invertRequested.connect(e.start_inversion)
        self.inversion_panel.cancelRequested.connect(e.cancel)
        p = self.edit_panel
        p.componentChanged.connect(e.on_component)
        p.componentRenamed.connect(e.rename_component)
        p.presetRequested.connect(e.on_preset)
        p.editStrengthChanged.connect(e.on_edit_strength)
        p.editLayersChanged.connect(e.on_edit_layers)
        p.editRemoved.connect(e.on_edit_removed)
        p.editVisibilityChanged.connect(e.on_edit_visibility)
        p.editMoved.connect(e.on_edit_moved)
        p.editRenamed.connect(e.on_edit_renamed)
        p.editDuplicated.connect(e.on_edit_duplicated)
        p.resetRequested.connect(e.reset_edits)
        p.reachToggled.connect(e.set_reach)
        p.textRequested.connect(e.start_text_edit)
        p.textCancelRequested.connect(e.cancel_text)
        e.reachShown.connect(self.actions.toggle_reach.setChecked)
        e.reachShown.connect(p.set_reach)
        e.segmentMenuRequested.connect(self.show_segment_menu)
        self.undo.cleanChanged.connect(self._clean_changed)

    @Slot(bool)
    def _clean_changed(self, _clean: bool) -> None:
        self.update_title()

    @Slot(float)
    def _zoom_changed(self, zoom: float) -> None:
        # an empty canvas has no zoom to speak of (it used to read "65776 %")
        self.zoom_label.setText(f"{zoom * 100:.0f} %" if self.session.work is not None else "")

    def _brush(self, on: bool) -> None:
        self.canvas.brush_mode = on
        self.actions.brush.setChecked(on)

    # ---- models -------------------------------------------------------------------------------
    def _load_bundle(self) -> None:
        dirs, device = self.weights_dirs, self.prefs.device_arg()
        worker = JobWorker("bundle", lambda progress, stop: load_bundle(dirs, device=device))
        worker.finished.connect(self._on_bundle)
        worker.failed.connect(self._on_bundle_failed)
        self.editor.jobs.start(worker)

    @Slot(str)
    def _on_bundle_failed(self, message: str) -> None:
        self.show_problem("Could not load the models", message)

    @Slot(object)
    def _on_bundle(self, bundle: Bundle | Problem) -> None:
        if isinstance(bundle, Problem):
            self.show_problem(bundle.title, bundle.message)
            self.device_label.setText("No generator")
            return
        self.set_bundle(bundle)

    def set_bundle(self, bundle: Bundle) -> None:
        self.session.set_bundle(bundle)
        if self._pending_open is not None:
            path, self._pending_open = self._pending_open, None
            self.open_path(path)

    def show_bundle(self) -> None:
        b = self.session.bundle
        assert b is not None
        d = b.describe()
        self.device_label.setText(d["device"])
        self.generator_label.setText(d["generator"])
        self.weights_label.setText(d["weights"])
        self.weights_label.setProperty("demo", b.kind == "demo")
        self.weights_label.setToolTip(f"Generator: {b.generator_path}\nInvertibility predictor: {d['predictor']}")
        if b.predictor is None:
            self.weights_label.setText(d["weights"] + " · no predictor")
        if b.kind == "demo":
            self.banner.show_message(
                "info",
                "Demo bundle",
                "running on a small generator trained on a procedural car world. For real car photos, fetch the "
                "official StyleGAN2 car generator: <code>sam-editor weights fetch stylegan2-car</code>, then restart.",
            )
        others = [n for n in b.notes if "weights fetch" not in n]
        if others:
            self.show_problem("", " ".join(others), kind="warning", timeout_ms=15000)

    # ---- files --------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    @entry_point("open the dropped file")
    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        if paths[0].suffix.lower() == ".samproj":
            self.open_project(paths[0])
        else:
            self.open_path(paths[0])

    def open_dialog(self) -> None:
        start = str(self.settings.value("last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, IMAGE_FILTER)
        if path:
            self.open_path(Path(path))

    @entry_point("open the image")
    def open_path(self, path: str | Path) -> bool:
        """Open a photo; problems are shown in the message bar. → whether it opened."""
        path = Path(path)
        if self.family is not None:  # a family generator's workspace holds the photo
            return self.family.open_photo(path)
        if self.session.bundle is None:
            self._pending_open = path
            self.status(f"{path.name} will open when the models are loaded…")
            return False
        if not self._may_discard():
            return False
        result = self.session.open_image(path)
        if isinstance(result, Problem):
            self.show_problem(result.title, result.message)
            return False
        self.undo.clear()
        self.message_bar.dismiss()
        self.inversion_panel.show_state(None)
        self._remember(path)
        self.settings.setValue("last_dir", str(path.parent))
        if result.notes:
            self.show_problem("", f"{path.name}: " + "; ".join(result.notes) + ".", kind="info", timeout_ms=8000)
        h, w = self.session.frame_size
        self.status(f"{path.name}: {result.size[0]} × {result.size[1]} → {w} × {h} for the generator", 6000)
        self.update_title()
        return True

    def _remember(self, path: Path) -> None:
        recent = [p for p in self._recent() if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:MAX_RECENT])
        self.welcome.set_recent(*self.recent_files())

    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def recent_files(self) -> tuple[list[Path], list[Path]]:
        """(projects, photos) opened or saved lately, newest first."""
        paths = [Path(p) for p in self._recent()]
        projects = [p for p in paths if p.suffix.lower() == ".samproj"]
        return projects, [p for p in paths if p not in projects]

    def open_recent(self, path: Path) -> bool:
        return self.open_project(path) if path.suffix.lower() == ".samproj" else self.open_path(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        projects, photos = self.recent_files()
        for title, paths, icon in (("Projects", projects, "mdi6.folder-star-outline"), ("Photos", photos, "mdi6.image-outline")):
            if paths:
                self.recent_menu.addSection(title)
            for p in paths:
                act = self.recent_menu.addAction(qta.icon(icon), f"{p.name}  —  {p.parent}")
                act.setToolTip(str(p))
                act.triggered.connect(functools.partial(self.open_recent, p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(self.settings.value("last_dir", "")), PROJECT_FILTER)
        if path:
            self.open_project(Path(path))

    @entry_point("open the project")
    def open_project(self, path: Path) -> bool:
        if self.session.bundle is None or not self._may_discard():
            return False
        result = self.session.load_project(path)
        if isinstance(result, Problem):
            self.show_problem(result.title, result.message)
            return False
        self.undo.clear()
        self.message_bar.dismiss()
        self.inversion_panel.show_state(self.session.inversion, " (from the project)")
        self._remember(Path(path))
        if result:
            self.show_problem("", " ".join(result), kind="warning")
        self.status(f"Opened project {path.name}", 5000)
        return True

    def save_project(self, save_as: bool = False) -> bool:
        path = self.session.project_path
        if save_as or path is None:
            src = self.session.source
            suggestion = str(Path(str(self.settings.value("last_dir", ""))) / ((src.path.stem if src and src.path else "untitled") + ".samproj"))
            name, _ = QFileDialog.getSaveFileName(self, "Save project", suggestion, PROJECT_FILTER)
            if not name:
                return False
            path = Path(name).with_suffix(".samproj")
        return self.save_project_to(path)

    @entry_point("save the project")
    def save_project_to(self, path: Path) -> bool:
        result = self.session.save_project(path)
        if isinstance(result, Problem):
            self.show_problem(result.title, result.message)
            return False
        self.undo.setClean()
        self._remember(Path(result))
        self.status(f"Saved {result.name}", 5000)
        return True

    def export_dialog(self) -> None:
        if self.family is not None:
            self._family_export_dialog()
            return
        s = self.session
        if s.placement is None:
            return
        dialog = ExportDialog(s.placement.photo, s.placement.box[2:], self)
        p = self.prefs  # Preferences ▸ Export defaults
        (dialog.reconstruction if p.export_which == "reconstruction" else dialog.edited).setChecked(True)
        dialog.side.setChecked(p.export_side_by_side)
        (dialog.full_size if p.export_full_size else dialog.generator_only).setChecked(True)
        self.export_options_dialog = dialog
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        opts = dialog.options()
        self.canvas.result.set_full_size(opts["full_size"])  # the result view shows what was chosen
        stem = s.source.path.stem if s.source and s.source.path else "image"
        suffix = "side-by-side" if opts["side_by_side"] else opts["which"]
        start = Path(str(self.settings.value("last_dir", ""))) / f"{stem}-{suffix}.png"
        name, _ = QFileDialog.getSaveFileName(self, "Export PNG", str(start), "PNG image (*.png)")
        if name:
            self.export_to(Path(name).with_suffix(".png"), **opts)

    @entry_point("export")
    def export_to(self, path: Path, which: str = "edited", side_by_side: bool = False, full_size: bool = True) -> bool:
        if self.family is not None:
            result = self.family.export_to(path, which, side_by_side, full_size)
        else:
            result = self.session.export_png(path, which, side_by_side, full_size)
        if isinstance(result, Problem):
            self.show_problem(result.title, result.message)
            return False
        self.status(f"Exported {result.name}", 5000)
        return True

    # ---- generator families (gui/family_panel) ---------------------------------------------
    def open_generator_dialog(self) -> None:
        start = str(self.settings.value("last_generator_dir", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self, "Open generator folder (config.json + pytorch_model.bin)", start)
        if path:
            self.open_generator(Path(path))

    @entry_point("open the generator")
    def open_generator(self, spec: str | Path) -> bool:
        """Load a family generator (a BigGAN-deep weights folder or registry name) on a worker;
        the family's workspace replaces the StyleGAN2 panels when it has loaded."""
        from .family_panel import load_family_job

        self.status(f"Loading {Path(str(spec)).name}…")
        self._family_spec = spec
        worker = JobWorker("family-load", load_family_job(spec, self.prefs.device_arg() or "cpu"))
        worker.finished.connect(self._on_family_loaded)  # bound methods: queued onto the GUI thread
        worker.failed.connect(self._on_family_failed)
        self.editor.jobs.start(worker)
        return True

    @Slot(str)
    def _on_family_failed(self, message: str) -> None:
        self.show_problem("Could not open the generator", message)

    @Slot(object)
    def _on_family_loaded(self, loaded: Any) -> None:
        from sam_editor.session.family_session import FamilySession

        from .family_panel import FamilyWorkspace

        if isinstance(loaded, Problem):
            self.show_problem(loaded.title, loaded.message)
            return
        if not self._may_discard():
            return
        self.close_generator()
        G, meta = loaded
        self.family = FamilyWorkspace(self, FamilySession(G, meta))
        self._stylegan_docks = (self.map_dock.widget(), self.edit_dock.widget())
        self.map_dock.setWidget(_scroll(self.family.map_panel))
        self.edit_dock.setWidget(_scroll(self.family.panel))
        self.map_dock.setWindowTitle("Latent spaces")
        self.stack_dock.hide()
        self.family.map_panel.closeRequested.connect(self.close_generator)
        self.canvas.clicked.disconnect(self.editor.on_click)  # clicks pick the family's segments
        self.canvas.clicked.connect(self.family.on_click)
        self.canvas.set_overlay(None, 0.0, False)
        for name in ("source", "reconstruction", "edited"):
            self.canvas.set_image(name, None)
        self.message_bar.dismiss()
        self.banner.dismiss()  # the bundle's banner is about StyleGAN2's weights; close_generator shows it again
        self.generator_label.setText(f"{G.family} {G.cfg.output_size[0]} px")
        self.settings.setValue("last_generator_dir", str(Path(str(self._family_spec)).parent))
        self.update_actions()
        self.status(f"{self.family.session.describe()}: open a photo (File ▸ Open) to invert it", 8000)

    def close_generator(self) -> None:
        """Back to the bundle's StyleGAN2 panels (the family's photo and φ are dropped)."""
        if self.family is None:
            return
        self.family.shutdown()
        self.canvas.clicked.disconnect(self.family.on_click)
        self.canvas.clicked.connect(self.editor.on_click)
        stylegan_map, stylegan_edit = self._stylegan_docks
        for dock, widget in ((self.map_dock, stylegan_map), (self.edit_dock, stylegan_edit)):
            family_widget = dock.widget()
            dock.setWidget(widget)
            widget.show()  # setWidget hid it when the family's panel took its place
            family_widget.deleteLater()
        self.map_dock.setWindowTitle("Invertibility map")
        self.stack_dock.show()
        self.family.deleteLater()
        self.family = None
        self._show_stylegan_photo()
        if self.session.bundle is not None:
            self.show_bundle()
        self.actions.view_source.setEnabled(True)  # StyleGAN2's views: always available
        self.actions.view_side.setEnabled(True)
        self.update_actions()

    def _show_stylegan_photo(self) -> None:
        """The StyleGAN2 session's photo, inversion and edit back on the canvas (or an empty one)."""
        s, c = self.session, self.canvas
        if s.work is None:
            for name in ("source", "reconstruction", "edited"):
                c.set_image(name, None)
            c.set_overlay(None, 0.0, False)
            return
        show_session(c, s)
        self.set_view("source" if s.inversion is None else "side")
        s.events.emit("latent_map")  # the editor redraws the map's overlay

    def _family_export_dialog(self) -> None:
        s = self.family.session
        if s.inversion is None or s.placement is None:
            return
        dialog = ExportDialog(s.placement.photo, s.placement.box[2:], self)  # the StyleGAN2 export's options
        self.export_options_dialog = dialog
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        opts = dialog.options()
        stem = s.source.path.stem if s.source and s.source.path else "image"
        suffix = "side-by-side" if opts["side_by_side"] else opts["which"]
        start = Path(str(self.settings.value("last_dir", ""))) / f"{stem}-{s.G.family}-{suffix}.png"
        name, _ = QFileDialog.getSaveFileName(self, "Export PNG", str(start), "PNG image (*.png)")
        if name:
            self.export_to(Path(name).with_suffix(".png"), **opts)

    def _may_discard(self) -> bool:
        """Unsaved work: Save (then go on if it was saved), Discard, or Cancel."""
        if not (self.confirm_unsaved and self.session.dirty and self.session.inversion is not None):
            return True
        B = QMessageBox.StandardButton
        name = self.session.project_path.name if self.session.project_path else "the current photo"
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved work", f"Save the inversion and edits of {name}?", B.Save | B.Discard | B.Cancel, self)
        box.setInformativeText("Your changes are lost if you don't save them.")
        box.setDefaultButton(B.Save)
        self.unsaved_box = box
        answer = box.exec()
        if answer == B.Save:
            return self.save_project()
        return answer == B.Discard

    def _fit_to_screen(self, width: int, height: int) -> None:
        """The wanted size, or less where the screen (at the interface scale) is smaller."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None:
            avail = screen.availableGeometry()
            width, height = min(width, int(avail.width() * 0.95)), min(height, int(avail.height() * 0.92))
        self.resize(width, height)

    def fit_to_screen(self) -> None:
        """Shrink a window larger than its screen (and bring it onto the screen)."""
        self._fit_to_screen(self.width(), self.height())
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None and not screen.availableGeometry().contains(self.frameGeometry().topLeft()):
            self.move(screen.availableGeometry().topLeft())

    def preferences_dialog(self) -> None:
        import torch

        scale = self.session.bundle.tau_scale if self.session.bundle is not None else None
        dialog = PreferencesDialog(self.prefs, scale, torch.cuda.is_available(), self)
        self.preferences_window = dialog
        dialog.accepted.connect(lambda: self.set_preferences(dialog.preferences()))
        dialog.open()

    def set_preferences(self, prefs: Preferences) -> None:
        """Keep the user's choices and apply what can be applied now (see `gui.preferences`)."""
        old, self.prefs = self.prefs, prefs
        save_preferences(self.settings, prefs)
        self.apply_preferences(prefs)
        later = []
        if (old.weights_dir, old.device) != (prefs.weights_dir, prefs.device):
            self.weights_dirs = prefs.weights_dirs()
            if self.session.source is None and not self.editor.jobs.is_running("bundle"):
                self.device_label.setText("Loading models…")
                self._load_bundle()
            else:
                later.append("the weights folder and device apply at the next start")
        if old.ui_scale != prefs.ui_scale:
            later.append("the interface scale applies at the next start")
        self.status("Preferences saved" + (f"; {' and '.join(later)}" if later else ""), 8000)

    def apply_preferences(self, prefs: Preferences) -> None:
        set_threads_preference(prefs.threads)
        self.canvas.result.set_full_size(prefs.export_full_size)
        self.session.tau_preference = prefs.tau
        if self.session.bundle is not None and self.session.latent_map is None:
            self.editor._refresh_latent_map()  # the τ slider shows the new default

    def show_shortcuts(self) -> None:
        from .help import ShortcutsDialog

        menus = [a.menu() for a in self.menuBar().actions() if a.menu() is not None]
        self.shortcuts_dialog = ShortcutsDialog(self.actions, menus, self)
        self.shortcuts_dialog.show()

    def show_getting_started(self) -> None:
        from .help import GettingStartedDialog

        self.getting_started_dialog = GettingStartedDialog(self.actions, self)
        self.getting_started_dialog.show()

    def _weights_help(self) -> None:
        QDesktopServices.openUrl(QUrl("https://github.com/adobe-research/sam_inversion"))

    # ---- state → widgets ----------------------------------------------------------------------
    def set_view(self, mode: str) -> None:
        self.canvas.set_mode(mode)
        getattr(self.actions, f"view_{mode}").setChecked(True)

    def show_segment_menu(self, global_pos: QPointF, selected: int, space: LayerSpace | None) -> None:
        """The menu that pops up at a clicked or brushed selection: the same commands as
        Edit ▸ Selection, the selection's current space ticked."""
        a, s = self.actions, self.session
        menu = QMenu(self)
        menu.addSection(f"Segment {self.editor.selection[0]}" if selected == 1 else f"{selected} segments")
        available = s.available_spaces()
        by_key: dict[str, QAction] = {}

        def item(action: QAction, text: str, enabled: bool = True, checked: bool | None = None) -> None:
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            entry = menu.addAction(f"{text}\t{keys}" if keys else text)
            if keys:
                by_key[keys] = entry
            entry.setEnabled(enabled)
            if checked is not None:
                entry.setCheckable(True)
                entry.setChecked(checked)
            entry.triggered.connect(action.trigger)

        for sp, action in a.spaces.items():
            item(action, sp.value, sp in available, sp == space)
        menu.addSeparator()
        item(a.space_auto, "Automatic (τ rule)")
        menu.addSeparator()
        item(a.edit_only_selection, "Edit only these")
        if s.edit_region:
            item(a.edit_everywhere, "Edit everywhere")
        MenuKeys(menu, by_key)  # the keys shown work while the menu is open
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(global_pos.toPoint())
        self.segment_menu = menu

    def update_actions(self) -> None:
        s, a = self.session, self.actions
        has_image = s.work is not None and s.bundle is not None
        self.welcome.setVisible(s.source is None and self.family is None)
        for act in a.needs_image:
            act.setEnabled(has_image)
        for act in a.needs_inversion:
            act.setEnabled(s.inversion is not None)
        a.invert.setEnabled(has_image and not self.editor.inverting)
        a.cancel.setEnabled(self.editor.inverting or self.editor.jobs.is_running("styleclip"))
        a.view_reconstruction.setEnabled(s.inversion is not None or self.editor.inverting)
        a.view_edited.setEnabled(s.inversion is not None)
        if self.family is not None:  # the views and Export follow the family's photo and inversion
            fs, inverted = self.family.session, self.family.session.inversion is not None
            a.view_source.setEnabled(fs.work is not None)
            a.view_side.setEnabled(fs.work is not None)
            a.view_reconstruction.setEnabled(inverted or self.family.inverting)
            a.view_edited.setEnabled(inverted)
            a.export.setEnabled(inverted)
            a.cancel.setEnabled(self.family.busy())  # its inversion, GANSpace directions or text edit
        ready = has_image and (s.latent_map is not None or self.inversion_panel.current_method() != "sam")
        self.inversion_panel.set_ready(ready, "Waiting for the invertibility map" if has_image else "Open an image first")

    def update_title(self) -> None:
        src = self.session.source
        name = self.session.project_path.name if self.session.project_path else (src.name if src else "")
        dirty = "*" if (src is not None and not self.undo.isClean()) else ""
        self.setWindowTitle(f"{name}{dirty} — SAM Editor" if name else "SAM Editor")

    def show_render_time(self, latency: float, compute: float) -> None:
        self.render_label.setText(f"render {compute * 1000:.0f} ms")
        self.render_label.setToolTip(f"Last edit: {latency * 1000:.0f} ms from change to repaint ({compute * 1000:.0f} ms rendering)")

    def status(self, text: str, timeout_ms: int = 0) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def show_problem(self, title: str, message: str, kind: str = "error", timeout_ms: int = 0) -> None:
        self.message_bar.show_message(kind, title, message, timeout_ms)
        self.status(f"{title}: {message}" if title else message, 10000)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_discard():
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.editor.shutdown()
        event.accept()
