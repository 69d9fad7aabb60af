"""The window's workspace for a generator family other than the bundle's StyleGAN2 (BigGAN-deep).

File ▸ Open Generator Folder… loads a generator (`session.family_session`) and puts two panels in
the docks: `FamilyMapPanel` (the family's spaces Φ in the legend with their share of the photo,
the measured map's τ) and `FamilyPanel` (inversion with the family's methods, progress and
Cancel; the edit panel the family asks for; Export). Nothing here knows which family it shows:
the legend comes from `legend_entries(G)`, the methods from `methods_of(G)`, the edit panel's tabs
from `edit_panel_kind(G)` through `EDIT_PANELS` (BigGAN: the class, GANSpace on z, text on z —
`family_z_edits`). `FamilyWorkspace` is the controller: it runs the inversion, the GANSpace PCA
and the text optimisation in `JobWorker`s (progress and cancel) and renders the gated pass of
§3.4 on another, newest-wins.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from sam_editor.invertibility.latent_map import SPACE_COLORS
from sam_editor.session import InversionProgress, Problem
from sam_editor.session.family_session import FamilyInversion, FamilySession, load_family_generator

from .class_picker import ClassPicker
from .family_z_edits import ZGanspaceBox, ZTextBox, edit_summary
from .inversion_panel import LOSS_NAMES, format_seconds
from .overlay import Swatch
from .workers import JobWorker, torch_threads_for

log = logging.getLogger(__name__)
PALETTE = tuple(SPACE_COLORS.values())  # most editable first, as StyleGAN2's W+ … F10
METHOD_LABELS = {"sam": "SAM (per segment)"}


def space_colors(legend: list[tuple[str, str]]) -> dict[str, tuple[int, int, int]]:
    """Colours by editability rank: the rows space takes W+'s, the first feature space F4's, …"""
    return {name: PALETTE[min(i, len(PALETTE) - 1)] for i, (name, _) in enumerate(legend)}


class FamilyMapPanel(QWidget):
    """Left dock in family mode: the generator, the legend of its spaces, τ of the measured map."""

    overlayChanged = Signal()
    closeRequested = Signal()
    spaceRequested = Signal(str)  # put the selected segments in this space of Φ
    editRegionRequested = Signal(bool)  # True: edit only the selection; False: everywhere
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.generator = QLabel("")
        self.generator.setWordWrap(True)
        gen_box = QGroupBox("Generator")
        gl = QVBoxLayout(gen_box)
        gl.addWidget(self.generator)
        self.back = QPushButton(qta.icon("mdi6.swap-horizontal"), "Back to the bundle's StyleGAN2")
        self.back.clicked.connect(self.closeRequested)
        gl.addWidget(self.back)
        layout.addWidget(gen_box)
        self.legend_box = QGroupBox("Latent spaces")
        self.legend_grid = QGridLayout(self.legend_box)
        layout.addWidget(self.legend_box)
        thresh = QGroupBox("Measured map τ (MSE)")
        tl = QVBoxLayout(thresh)
        self.tau = QDoubleSpinBox()
        self.tau.setRange(0.0, 4.0)
        self.tau.setDecimals(3)
        self.tau.setSingleStep(0.005)
        self.tau.setValue(0.02)
        self.tau.setToolTip("SAM without a predictor: segments whose rows-space error (MSE on [-1, 1]) "
                            "exceeds τ go to the feature space")  # fmt: skip
        tl.addWidget(self.tau)
        hint = QLabel(
            "No invertibility predictor for this family: SAM measures the error of a short rows-space inversion"
        )
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        tl.addWidget(hint)
        layout.addWidget(thresh)
        seg = QGroupBox("Segments")
        sl = QVBoxLayout(seg)
        self.segment_label = QLabel("Click segments on the source to select them")
        self.segment_label.setWordWrap(True)
        sl.addWidget(self.segment_label)
        self.space_row = QHBoxLayout()
        sl.addLayout(self.space_row)
        region = QHBoxLayout()
        self.edit_only = QPushButton(qta.icon("mdi6.selection"), "Edit only these")
        self.edit_only.setToolTip("The edits (class, GANSpace, text) act only on the selected segments; the rest stays as inverted")
        self.edit_only.clicked.connect(lambda: self.editRegionRequested.emit(True))
        self.edit_everywhere = QPushButton(qta.icon("mdi6.selection-off"), "Edit everywhere")
        self.edit_everywhere.clicked.connect(lambda: self.editRegionRequested.emit(False))
        region.addWidget(self.edit_only)
        region.addWidget(self.edit_everywhere)
        sl.addLayout(region)
        self.clear = QPushButton("Clear selection")
        self.clear.clicked.connect(self.clearRequested)
        sl.addWidget(self.clear)
        self.region_label = QLabel("")
        self.region_label.setObjectName("hint")
        self.region_label.setWordWrap(True)
        sl.addWidget(self.region_label)
        layout.addWidget(seg)
        self.space_buttons: dict[str, QPushButton] = {}
        self.show_overlay = QCheckBox("Show map on source")
        self.show_overlay.setChecked(True)
        self.show_overlay.toggled.connect(self.overlayChanged)
        layout.addWidget(self.show_overlay)
        layout.addStretch(1)
        self.rows: dict[str, QLabel] = {}

    def set_family(self, description: str, legend: list[tuple[str, str]]) -> None:
        self.generator.setText(description)
        while self.legend_grid.count():
            item = self.legend_grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.rows = {}
        colors = space_colors(legend)
        for r, (name, text) in enumerate(legend):
            self.legend_grid.addWidget(Swatch(QColor(*colors[name])), r, 0)
            label = QLabel(f"<b>{name}</b> — {text}")
            label.setWordWrap(True)
            self.legend_grid.addWidget(label, r, 1)
            share = QLabel("")
            share.setObjectName("mono")
            self.legend_grid.addWidget(share, r, 2)
            self.rows[name] = share
        for b in self.space_buttons.values():
            b.deleteLater()
        self.space_buttons = {}
        for name, _ in legend:  # one button per space of Φ, in the legend's colour
            b = QPushButton(name)
            b.setToolTip(f"Put the selected segments in {name} (the next SAM inversion uses this map)")
            b.setStyleSheet(f"QPushButton {{ border-bottom: 3px solid {QColor(*colors[name]).name()}; }}")
            b.clicked.connect(lambda _=False, n=name: self.spaceRequested.emit(n))
            self.space_row.addWidget(b)
            self.space_buttons[name] = b
        self.set_selection([], "", 0)

    def set_selection(self, segments: list[int], space: str, region: int) -> None:
        self.segment_label.setText(
            "Click segments on the source to select them"
            if not segments
            else f"{len(segments)} segment{'s' if len(segments) > 1 else ''} selected" + (f", in {space}" if space else "")
        )
        for b in self.space_buttons.values():
            b.setEnabled(bool(segments))
        self.edit_only.setEnabled(bool(segments))
        self.edit_everywhere.setEnabled(region > 0)
        self.region_label.setText(f"Edits act on {region} segment{'s' if region != 1 else ''} only" if region else "")

    def legend_names(self) -> list[str]:
        return list(self.rows)

    def set_coverage(self, coverage: dict[str, float] | None) -> None:
        for name, label in self.rows.items():
            label.setText("" if not coverage else f"{coverage.get(name, 0.0):.0%}")


class ClassEditBox(QWidget):
    """The 'class' edit panel: the searchable class picker (car shortlist first, strength = class
    interpolation) and the conditioning stages that take the new class."""

    changed = Signal()

    def __init__(self, session: FamilySession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.current = QLabel("")
        self.current.setWordWrap(True)
        self.picker = ClassPicker(session.num_classes())
        self.picker.classChosen.connect(self._chosen)
        self.picker.strengthChanged.connect(self._strength)
        self.stages = QComboBox()
        for label, rng in session.stage_choices():
            self.stages.addItem(label, rng)
        self.stages.setToolTip(
            "Which stages read the new class; segments in a feature space F_k see only the stages after k"
        )
        self.stages.currentIndexChanged.connect(self._stages)
        self.reset = QPushButton(qta.icon("mdi6.restore"), "Keep the inverted class")
        self.reset.clicked.connect(self._reset)
        layout.addWidget(self.current)
        layout.addWidget(self.picker, 1)
        row = QFormLayout()
        row.addRow("Stages", self.stages)
        layout.addLayout(row)
        layout.addWidget(self.reset)
        self._show()

    def _show(self) -> None:
        from sam_editor.gan.biggan.classes import class_name

        s, n = self.session, self.session.num_classes()
        to = s.edit.to_class
        head = f"Inverted as <b>{class_name(s.class_index(), n)}</b>"
        self.current.setText(head if to is None else f"{head} → <b>{class_name(to, n)}</b> at {s.edit.strength:.2f}")

    def _chosen(self, index: int) -> None:
        self.session.set_class_edit(to_class=index)
        self._show()
        self.changed.emit()

    def _strength(self, value: float) -> None:
        self.session.set_class_edit(strength=value)
        self._show()
        self.changed.emit()

    def _stages(self, _index: int) -> None:
        self.session.set_class_edit(stages=self.stages.currentData())
        self.changed.emit()

    def _reset(self) -> None:
        self.session.edit.to_class = None
        self._show()
        self.changed.emit()


# edit_panel_kind(G) → the edit tabs (title, icon, widget class); the first is `FamilyPanel.edit`
EDIT_PANELS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "class": (
        ("Class", "mdi6.shape-outline", ClassEditBox),
        ("GANSpace (z)", "mdi6.tune-variant", ZGanspaceBox),
        ("Text", "mdi6.format-text", ZTextBox),
    )
}


class FamilyPanel(QWidget):
    """Right dock in family mode: invert (the family's methods), the family's edit panel, export."""

    invertRequested = Signal(str, int)
    cancelRequested = Signal()
    exportRequested = Signal()

    def __init__(self, session: FamilySession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        box = QGroupBox("Inversion")
        form = QFormLayout(box)
        self.method = QComboBox()
        for key in session.methods():
            self.method.addItem(METHOD_LABELS.get(key, key.upper()), key)
        self.method.setCurrentIndex(self.method.count() - 1)  # SAM
        self.steps = QSpinBox()
        self.steps.setRange(1, 5000)
        self.steps.setValue(200)
        self.steps.setSingleStep(50)
        self.steps.setSuffix(" steps")
        form.addRow("Method", self.method)
        form.addRow("Length", self.steps)
        buttons = QHBoxLayout()
        self.invert = QPushButton(qta.icon("mdi6.play", color="#e8e8e8"), "Invert")
        self.invert.setObjectName("primary")
        self.invert.clicked.connect(lambda: self.invertRequested.emit(self.method.currentData(), self.steps.value()))
        self.cancel = QPushButton(qta.icon("mdi6.stop"), "Cancel")
        self.cancel.setToolTip("Stop and keep the best result so far")
        self.cancel.clicked.connect(self.cancelRequested)
        buttons.addWidget(self.invert, 2)
        buttons.addWidget(self.cancel, 1)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setFormat("")
        form.addRow(self.progress)
        self.eta = QLabel("")
        self.eta.setObjectName("hint")
        self.eta.setWordWrap(True)
        form.addRow(self.eta)
        self.losses = QLabel("")
        self.losses.setObjectName("mono")
        self.losses.setWordWrap(True)
        form.addRow(self.losses)
        layout.addWidget(box)
        kind = session.edit_panel()
        edit_box = QGroupBox("Edit")
        el = QVBoxLayout(edit_box)
        self.edit_tabs = QTabWidget()
        self.edit_tabs.setDocumentMode(True)
        self.edits: list[QWidget] = []
        for title, icon, widget in EDIT_PANELS[kind]:
            w = widget(session)
            self.edit_tabs.addTab(w, qta.icon(icon), title)
            self.edits.append(w)
        self.edit = self.edits[0]
        self.ganspace = next((w for w in self.edits if isinstance(w, ZGanspaceBox)), None)
        self.text = next((w for w in self.edits if isinstance(w, ZTextBox)), None)
        self.applied = QLabel("")  # above the tabs: seen whichever tab is open
        self.applied.setObjectName("hint")
        self.applied.setWordWrap(True)
        self.applied.setToolTip("Every edit the render applies, from all tabs")
        el.addWidget(self.applied)
        el.addWidget(self.edit_tabs)
        layout.addWidget(edit_box, 1)
        self.export = QPushButton(qta.icon("mdi6.export"), "Export PNG…")
        self.export.clicked.connect(self.exportRequested)
        layout.addWidget(self.export)
        self._has_image = False
        self.set_running(False)
        self.set_state(has_image=False, inverted=False)

    def set_running(self, running: bool) -> None:
        self.cancel.setEnabled(running)
        self.invert.setEnabled(not running and self._has_image)
        self.method.setEnabled(not running)
        self.steps.setEnabled(not running)

    def set_state(self, has_image: bool, inverted: bool) -> None:
        self._has_image = has_image
        self.invert.setEnabled(has_image and not self.cancel.isEnabled())
        self.invert.setToolTip(
            "Invert the photo into this generator" if has_image else "Open a photo first (File ▸ Open)"
        )
        for w in self.edits:
            getattr(w, "set_inverted", w.setEnabled)(inverted)
        self.export.setEnabled(inverted)

    def show_progress(self, p: InversionProgress) -> None:
        """'step 12 / 150' of the length asked for; a prelude (SAM's measured map) as its own phase."""
        self.progress.setFormat(f"{p.phase}: step %v / %m" if p.phase else "step %v / %m")
        self.progress.setMaximum(p.total)
        self.progress.setValue(p.step)
        self.eta.setText(f"{format_seconds(p.elapsed)} elapsed · ETA {format_seconds(p.eta)}")
        self.losses.setText("  ".join(f"{LOSS_NAMES[k]} {v:.4f}" for k, v in p.losses.items() if k in LOSS_NAMES))


class FamilyWorkspace(QObject):
    """The controller of family mode (see the module docstring); `window` is the MainWindow."""

    rendered = Signal()
    inverted = Signal()

    def __init__(self, window: Any, session: FamilySession) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.map_panel = FamilyMapPanel()
        self.panel = FamilyPanel(session)
        self.map_panel.set_family(session.describe(), session.legend())
        self.colors = space_colors(session.legend())
        self.map_panel.overlayChanged.connect(self._show_map)
        self.panel.invertRequested.connect(self.start_inversion)
        self.panel.cancelRequested.connect(self.cancel)
        self.panel.exportRequested.connect(window.export_dialog)
        for w in self.panel.edits:
            w.changed.connect(self.request_render)
        if self.panel.ganspace is not None:
            self.panel.ganspace.findRequested.connect(self.start_ganspace)
            self.panel.ganspace.cancelRequested.connect(lambda: self.jobs.cancel("family-ganspace"))
            self.panel.edit_tabs.currentChanged.connect(self._tab_shown)
        if self.panel.text is not None:
            self.panel.text.requested.connect(self.start_text_edit)
            self.panel.text.cancelRequested.connect(lambda: self.jobs.cancel("family-text"))
        self.map_panel.spaceRequested.connect(self.put_selection_in)
        self.map_panel.editRegionRequested.connect(self.limit_edits)
        self.map_panel.clearRequested.connect(lambda: self.select([]))
        self.selection: list[int] = []
        self._rendering = False  # a render job is running
        self._dirty = False  # the edit changed since it started
        self.renders_started = 0
        self._token = 0  # which photo a job is for
        self.inverting = False
        self.finding = False  # the GANSpace directions are being found
        self.texting = False  # a text edit is being optimised
        self._text_worker: JobWorker | None = None
        self._text_job: tuple[str, int] = ("", 0)  # prompt, steps run so far

    @property
    def jobs(self):  # noqa: ANN201
        return self.window.editor.jobs

    # ---- photo ----------------------------------------------------------------------------------
    def open_photo(self, path: Path) -> bool:
        if self.inverting:
            self.cancel()
        result = self.session.open_image(path)
        if isinstance(result, Problem):
            self.window.show_problem(result.title, result.message)
            return False
        self._token += 1
        self.selection = []
        self.jobs.cancel("family-text")  # a text edit is found for one photo's φ
        if self.panel.text is not None:
            self.panel.text.set_inverted(False)
        s, c = self.session, self.window.canvas
        h, w = s.frame_size
        c.set_frame(h, w)
        c.set_photo_box(s.placement.box if s.placement else None)
        c.set_image("source", s.work)
        c.set_image("reconstruction", None)
        c.set_image("edited", None)
        self.window.set_view("source")
        self._show_map()
        self.panel.set_state(has_image=True, inverted=False)
        self.window.update_actions()
        self.panel.progress.setValue(0)
        self.panel.eta.setText("")
        self.window.status(f"{path.name}: {result.size[0]} × {result.size[1]} → {w} × {h} for {s.G.family}", 6000)
        return True

    def _show_map(self) -> None:
        s = self.session
        self.map_panel.set_coverage(s.coverage() if s.work is not None else None)
        rgba = s.map_rgba(self.colors)
        if self.selection and s.work is not None:
            rgba = rgba if rgba is not None else np.zeros((*s.frame_size, 4), np.uint8)
            rgba[np.isin(s.segments(), self.selection)] = (255, 255, 255, 255)  # the selection in white
        self.window.canvas.set_overlay(rgba, 0.55, self.map_panel.show_overlay.isChecked())

    # ---- segments -------------------------------------------------------------------------------
    def on_click(self, y: float, x: float, _pos: object = None) -> None:
        """A click on the source toggles the segment under it in the selection."""
        seg = self.session.segment_at(y, x)
        if seg is None:
            return
        self.select([k for k in self.selection if k != seg] if seg in self.selection else [*self.selection, seg])

    def select(self, segments: list[int]) -> None:
        self.selection = list(segments)
        s = self.session
        spaces = {s.space_of(k) for k in self.selection}
        self.map_panel.set_selection(self.selection, spaces.pop() if len(spaces) == 1 else "", len(s.edit_region))
        self._show_map()

    def put_selection_in(self, name: str) -> None:
        if not self.selection:
            return
        self.session.put_in_space(self.selection, name)
        self.select(self.selection)
        if self.session.inversion is not None:
            self.panel.eta.setText("The map changed: invert again with SAM to use it")

    def limit_edits(self, only_selection: bool) -> None:
        self.session.set_edit_region(self.selection if only_selection else [])
        self.select(self.selection)
        self.request_render()


    # ---- inversion ------------------------------------------------------------------------------
    @Slot(str, int)
    def start_inversion(self, method: str, steps: int) -> None:
        s = self.session
        if s.work is None:
            return
        tau = self.map_panel.tau.value()
        worker = JobWorker("family-inversion", functools.partial(s.invert_job, method, steps, tau), self._token,
                           threads=torch_threads_for(s.G))  # fmt: skip
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_inverted)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self.inverting = True
        self.panel.set_running(True)
        self.window.update_actions()
        self.panel.eta.setText("starting…")
        self.worker = self.jobs.start(worker)

    def cancel(self) -> None:
        self.jobs.cancel("family-inversion")

    def busy(self) -> bool:
        """A job the window's Cancel (Esc) stops is running."""
        return self.inverting or self.finding or self.texting

    def cancel_jobs(self) -> None:
        for name in ("family-inversion", "family-ganspace", "family-text"):
            self.jobs.cancel(name)

    def _current(self) -> bool:
        return getattr(self.sender(), "token", self._token) == self._token

    @Slot(int, int, object)
    def _on_progress(self, step: int, total: int, p: InversionProgress) -> None:
        if not self._current():
            return
        self.panel.show_progress(p)
        if p.preview is not None:
            c = self.window.canvas
            c.set_image("reconstruction", p.preview)
            if c.mode == "source":
                self.window.set_view("reconstruction")  # watch it converge

    def _done(self) -> None:
        self.inverting = False
        self.panel.set_running(False)
        self.panel.set_state(has_image=self.session.work is not None, inverted=self.session.inversion is not None)
        self.window.update_actions()

    @Slot(object)
    def _on_inverted(self, inv: FamilyInversion) -> None:
        if not self._current():
            return
        s = self.session
        s.apply_inversion(inv)
        self._done()
        how = f"{inv.method.upper()}, {inv.steps_run} steps in {inv.seconds:.1f} s" + (
            " (cancelled: best so far)" if inv.cancelled else ""
        )
        self.panel.eta.setText(how + (f" · {inv.map_note}" if inv.map_note else ""))
        c = self.window.canvas
        c.set_image("reconstruction", inv.reconstruction)
        c.set_image("edited", inv.reconstruction)
        self.window.set_view("side")
        self._show_map()
        self.inverted.emit()
        self.request_render()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._done()
        self.window.show_problem("Inversion failed", message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._done()
        self.panel.eta.setText("cancelled before the map was measured")

    # ---- edits ----------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Render the current edit on a worker. One render at a time: a change while one runs marks
        the edit dirty and the next render starts when it ends (a slider drag on a 256-px BigGAN,
        seconds per render on a CPU, would otherwise start a thread per step)."""
        summary = edit_summary(self.session)
        self.panel.applied.setText(f"Applied: {summary}" if summary else "")
        if self.session.inversion is None:
            return
        if self._rendering:
            self._dirty = True
            return
        self._rendering, self._dirty = True, False
        self.renders_started += 1
        worker = JobWorker("family-render", lambda _p, _s: self.session.render_edit(), self._token,
                           threads=torch_threads_for(self.session.G))  # fmt: skip
        worker.finished.connect(self._on_rendered)
        worker.failed.connect(self._on_render_failed)
        self.jobs.start(worker)

    def _render_ended(self) -> bool:
        """→ whether another render started (the edit changed while this one ran)."""
        self._rendering = False
        if self._dirty:
            self.request_render()
            return True
        return False

    @Slot(object)
    def _on_rendered(self, image: Any) -> None:
        other_photo = getattr(self.sender(), "token", self._token) != self._token
        again = self._render_ended()
        if other_photo or image is None or self.session.inversion is None:
            return
        self.session.apply_render(image)
        self.window.canvas.set_image("edited", image)
        if not again:
            self.rendered.emit()  # the render of the edit as it is now

    @Slot(str)
    def _on_render_failed(self, message: str) -> None:
        self._render_ended()
        self.window.show_problem("Render failed", message)

    def render_now(self) -> None:
        """Render on this thread (export, tests): the edit as the session holds it now."""
        self.session.apply_render(self.session.render_edit())
        if self.session.edited is not None:
            self.window.canvas.set_image("edited", self.session.edited)

    def export_to(
        self, path: Path, which: str = "edited", side_by_side: bool = False, full_size: bool = True
    ) -> Path | Problem:
        if self.session.inversion is not None:
            self.render_now()  # never an edit that is still rendering
        return self.session.export_png(path, which, side_by_side, full_size)

    # ---- z edits: GANSpace directions and text, on workers ---------------------------------------
    def _tab_shown(self, index: int) -> None:
        if self.panel.edit_tabs.widget(index) is self.panel.ganspace:
            self.start_ganspace()  # found once, the first time the tab is shown

    def start_ganspace(self) -> None:
        s, box = self.session, self.panel.ganspace
        if box is None or s.z_components is not None or self.finding:
            return
        worker = JobWorker("family-ganspace", s.ganspace_job, threads=torch_threads_for(s.G))
        worker.progress.connect(self._on_ganspace_progress)
        worker.finished.connect(self._on_components)
        worker.failed.connect(self._on_ganspace_failed)
        worker.cancelled.connect(self._on_ganspace_cancelled)
        self.finding = True
        box.set_running(True)
        box.status.setText("Finding GANSpace directions in z…")
        self.jobs.start(worker)
        self.window.update_actions()

    @Slot(int, int, object)
    def _on_ganspace_progress(self, done: int, total: int, _payload: object) -> None:
        self.panel.ganspace.show_progress(done, total)

    def _ganspace_ended(self) -> None:
        self.finding = False
        self.panel.ganspace.set_running(False)
        self.window.update_actions()

    @Slot(object)
    def _on_components(self, comps: Any) -> None:
        self.session.z_components = comps  # cached for this generator: a new photo keeps them
        self._ganspace_ended()
        self.panel.ganspace.set_components()

    @Slot(str)
    def _on_ganspace_failed(self, message: str) -> None:
        self._ganspace_ended()
        self.panel.ganspace.status.setText(f"GANSpace: {message}")

    @Slot()
    def _on_ganspace_cancelled(self) -> None:
        self._ganspace_ended()
        self.panel.ganspace.status.setText("Cancelled: 'Find directions' starts again")

    def start_text_edit(self, prompt: str, strength: float, steps: int) -> None:
        s, box = self.session, self.panel.text
        if s.inversion is None:
            box.box.status.setText("Invert the photo first: a text edit starts from its φ")
            return
        if not box.show_clip_state():  # missing CLIP weights: the state and the fetch command, no job
            return
        worker = JobWorker("family-text", functools.partial(s.text_job, prompt, steps), self._token,
                           threads=torch_threads_for(s.G))  # fmt: skip
        worker.progress.connect(self._on_text_progress)
        worker.finished.connect(self._on_text_edit)
        worker.failed.connect(self._on_text_failed)
        worker.cancelled.connect(self._on_text_cancelled)
        self._text_job = (prompt, 0)
        self.texting = True
        box.box.set_running(True)
        box.box.status.setText(f"Finding a direction in z for “{prompt}”…")
        self._text_worker = self.jobs.start(worker)
        self.window.update_actions()

    def _text_ended(self) -> None:
        self.texting = False
        self.panel.text.box.set_running(False)
        self.window.update_actions()

    @Slot(int, int, object)
    def _on_text_progress(self, step: int, total: int, _losses: object) -> None:
        if self._current():
            self._text_job = (self._text_job[0], step)
            self.panel.text.box.show_progress(step, total)

    @Slot(object)
    def _on_text_edit(self, delta: Any) -> None:
        if self.sender() is not self._text_worker:
            return  # a run replaced by a newer one
        box = self.panel.text
        self._text_ended()
        if not self._current() or self.session.inversion is None:
            return  # found for another photo
        prompt, steps_run = self._text_job
        self.session.set_text_edit(prompt, delta, box.box.strength.value())
        box.applied(prompt, steps_run, bool(getattr(self.sender(), "is_cancelled", False)))
        self.request_render()

    @Slot(str)
    def _on_text_failed(self, message: str) -> None:
        if self.sender() is not self._text_worker:
            return
        self._text_ended()
        self.panel.text.box.status.setText(f"Text edit: {message}")

    @Slot()
    def _on_text_cancelled(self) -> None:
        self._on_text_failed("cancelled before the first step")

    def shutdown(self) -> None:
        for name in ("family-inversion", "family-render", "family-ganspace", "family-text"):
            self.jobs.cancel(name)


def load_family_job(spec: str | Path, device: str):  # noqa: ANN201
    """The job that opens a generator folder: → (G, meta) or a Problem."""
    return lambda _progress, _stop: load_family_generator(spec, None, 1.0, device)
