"""The "Edit" panel: GANSpace component sliders with layer ranges, named presets, a StyleCLIP
text prompt, and the list of active edits with their strengths. `ComponentRow` and `TextEditBox`
also serve BigGAN's z edits (`family_panel`)."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QRangeSlider

from sam_editor.session import EditSpec

from .edit_stack import STRENGTH_RANGE, EditStackView, NameLabel, strength_slider


class ComponentRow(QWidget):
    """One GANSpace principal component: its name (from the bundle's probe or the user's own;
    double-click to rename), strength (σ) and the style rows it moves."""

    changed = Signal(int, float, tuple, bool)  # component, strength, (start, end), final
    renameRequested = Signal(int)

    def __init__(
        self,
        component: int,
        variance: float,
        num_ws: int,
        layers: tuple[int, int],
        parent: QWidget | None = None,
        name: str = "",
        unit: str = "rows",  # what the range slider moves: StyleGAN2's style rows, BigGAN's z stages
    ) -> None:
        super().__init__(parent)
        self.component = component
        self.variance = variance
        self.unit = unit
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 2, 0, 2)
        grid.setVerticalSpacing(0)
        self.name_label = NameLabel()
        self.name_label.doubleClicked.connect(lambda: self.renameRequested.emit(self.component))
        self.set_name(name)
        name = self.name_label
        self.strength = strength_slider(*STRENGTH_RANGE)
        self.strength.setToolTip("Strength in standard deviations along the component")
        self.layers = QRangeSlider(Qt.Orientation.Horizontal)
        self.layers.setRange(0, num_ws - 1)
        self.layers.setValue(layers)
        self.layers.setToolTip("Style rows the edit moves (early rows: shape and pose, late rows: colour and texture)")
        self.rows_label = QLabel()
        self.rows_label.setObjectName("hint")
        self.rows_label.setMinimumWidth(52)
        self._show_rows(layers)
        grid.addWidget(name, 0, 0, 1, 3)
        grid.addWidget(self.strength, 1, 1, 1, 2)
        grid.addWidget(self.rows_label, 2, 0)
        grid.addWidget(self.layers, 2, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        self.strength.valueChanged.connect(lambda _v: self._emit(False))
        self.strength._slider.sliderReleased.connect(lambda: self._emit(True))
        self.layers.valueChanged.connect(self._layers_moved)
        self.layers.sliderReleased.connect(lambda: self._emit(True))

    def set_name(self, name: str) -> None:
        self.name = name
        k = self.component
        self.name_label.setText(f"<b>PC {k}</b> {name}" if name else f"<b>PC {k}</b>")
        self.name_label.setToolTip(
            f"Principal component {k} of W: {self.variance * 100:.1f} % of the variance"
            + (f"\n“{name}”" if name else "")
            + "\nDouble-click to rename"
        )

    def title(self) -> str:
        return f"PC {self.component}" + (f" · {self.name}" if self.name else "")

    def _show_rows(self, layers: tuple[int, int]) -> None:
        self.rows_label.setText(f"{self.unit} {layers[0]}–{layers[1]}")

    def _layers_moved(self, value: tuple[int, int]) -> None:
        self._show_rows(tuple(int(v) for v in value))  # type: ignore[arg-type]
        self._emit(False)

    def current_layers(self) -> tuple[int, int]:
        a, b = self.layers.value()
        return (int(a), int(b))

    def _emit(self, final: bool) -> None:
        self.changed.emit(self.component, float(self.strength.value()), self.current_layers(), final)

    def set_state(self, strength: float, layers: tuple[int, int]) -> None:
        for w in (self.strength, self.layers):
            w.blockSignals(True)
        self.strength.setValue(strength)
        self.layers.setValue(layers)
        self._show_rows(layers)
        for w in (self.strength, self.layers):
            w.blockSignals(False)


class TextEditBox(QWidget):
    """A StyleCLIP prompt: the text, its strength, the optimisation's length, Run / Cancel, a
    progress bar while it runs and a status line (missing CLIP weights, failures, the result)."""

    requested = Signal(str, float, int)  # prompt, strength, steps
    cancelRequested = Signal()

    def __init__(self, strength_tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        tl = QGridLayout(self)
        tl.setContentsMargins(4, 8, 4, 4)
        self.text = QLineEdit()
        self.text.setPlaceholderText("e.g. a red car")
        self.text.returnPressed.connect(self._run)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(-3.0, 3.0)
        self.strength.setSingleStep(0.1)
        self.strength.setValue(1.0)
        self.strength.setToolTip(strength_tip)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(100)
        self.steps.setSingleStep(25)
        self.steps.setSuffix(" steps")
        self.steps.setToolTip("Optimisation steps (StyleCLIP uses 300)")
        self.run = QPushButton(qta.icon("mdi6.creation"), "Run")
        self.run.clicked.connect(self._run)
        self.cancel = QToolButton()
        self.cancel.setIcon(qta.icon("mdi6.stop"))
        self.cancel.setToolTip("Cancel the text edit")
        self.cancel.clicked.connect(self.cancelRequested)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(12)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # a command to copy
        tl.addWidget(self.text, 0, 0, 1, 3)
        tl.addWidget(QLabel("Strength"), 1, 0)
        tl.addWidget(self.strength, 1, 1, 1, 2)
        tl.addWidget(QLabel("Length"), 2, 0)
        tl.addWidget(self.steps, 2, 1)
        tl.addWidget(self.run, 2, 2)
        tl.addWidget(self.progress, 3, 0, 1, 2)
        tl.addWidget(self.cancel, 3, 2)
        tl.addWidget(self.status, 4, 0, 1, 3)
        tl.setRowStretch(5, 1)
        tl.setColumnStretch(1, 1)

    def _run(self) -> None:
        if self.text.text().strip() and self.run.isEnabled():
            self.requested.emit(self.text.text().strip(), float(self.strength.value()), self.steps.value())

    def set_running(self, running: bool) -> None:
        if running:
            self.progress.reset()  # not the last run's count
        self.cancel.setEnabled(running)
        self.progress.setVisible(running)
        self.cancel.setVisible(running)
        self.run.setEnabled(not running and self.text.isEnabled())

    def show_progress(self, step: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(step)


class EditPanel(QWidget):
    componentChanged = Signal(int, float, tuple, bool)
    componentRenamed = Signal(int, str)  # component, the user's name ("" : back to the bundle's)
    presetRequested = Signal(int)  # index into the preset list given to set_presets
    editStrengthChanged = Signal(int, float, bool)
    editLayersChanged = Signal(int, tuple, bool)
    editRemoved = Signal(int)
    editVisibilityChanged = Signal(int, bool)
    editRenamed = Signal(int, str)
    editDuplicated = Signal(int)
    editMoved = Signal(int, int)
    resetRequested = Signal()
    reachToggled = Signal(bool)
    textRequested = Signal(str, float, int)  # prompt, strength, steps
    textCancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(10)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        gs = QWidget()
        gl = QVBoxLayout(gs)
        gl.setContentsMargins(4, 8, 4, 4)
        self.ganspace_status = QLabel("Invert an image to edit it")
        self.ganspace_status.setObjectName("hint")
        self.ganspace_status.setWordWrap(True)
        gl.addWidget(self.ganspace_status)
        presets = QHBoxLayout()
        self.presets = QComboBox()
        self.presets.setToolTip("Named edits (component, rows, strength)")
        self.add_preset = QPushButton(qta.icon("mdi6.plus"), "Add")
        self.add_preset.clicked.connect(lambda: self.presetRequested.emit(self.presets.currentIndex()))
        presets.addWidget(self.presets, 1)
        presets.addWidget(self.add_preset)
        gl.addLayout(presets)
        self.component_box = QVBoxLayout()
        self.component_box.setSpacing(4)
        gl.addLayout(self.component_box)
        self.components: dict[int, ComponentRow] = {}
        gl.addStretch(1)
        self.tabs.addTab(gs, qta.icon("mdi6.tune-variant"), "GANSpace")

        tx = TextEditBox(
            "Strength of the text edit (1 = the optimised change). For an edit of one object, select\n"
            "its segments and press E (Edit only these) before Run: the rest of the picture then\n"
            "stays as inverted. Segments in F4…F10 take an edit only in the layers after their space."
        )
        tx.requested.connect(self.textRequested)
        tx.cancelRequested.connect(self.textCancelRequested)
        self.text_box = tx  # its widgets under the names the editor and the tests use
        self.text, self.text_strength, self.text_steps = tx.text, tx.strength, tx.steps
        self.run_text, self.cancel_text = tx.run, tx.cancel
        self.text_progress, self.text_status = tx.progress, tx.status
        self.tabs.addTab(tx, qta.icon("mdi6.format-text"), "Text (StyleCLIP)")
        layout.addWidget(self.tabs, 1)

        ac = QGroupBox("")
        al = QVBoxLayout(ac)
        stack_hint = QLabel("Top to bottom; drag to reorder, double-click a name to rename, the eye hides")
        stack_hint.setObjectName("hint")
        stack_hint.setWordWrap(True)
        al.addWidget(stack_hint)
        self.stack = EditStackView()
        self.stack.strengthChanged.connect(self.editStrengthChanged)
        self.stack.layersChanged.connect(self.editLayersChanged)
        self.stack.removed.connect(self.editRemoved)
        self.stack.visibilityChanged.connect(self.editVisibilityChanged)
        self.stack.renamed.connect(self.editRenamed)
        self.stack.duplicated.connect(self.editDuplicated)
        self.stack.moved.connect(self.editMoved)
        al.addWidget(self.stack)
        self.no_edits = QLabel("No edits yet: move a slider or add a preset")
        self.no_edits.setObjectName("hint")
        al.addWidget(self.no_edits)
        bottom = QHBoxLayout()
        self.reach = QCheckBox("Show where edits act")
        self.reach.setToolTip("Hatch the pixels the gating of §3.4 keeps unchanged")
        self.reach.toggled.connect(self.reachToggled)
        self.reset = QPushButton(qta.icon("mdi6.restore"), "Reset all")
        self.reset.clicked.connect(self.resetRequested)
        bottom.addWidget(self.reach, 1)
        bottom.addWidget(self.reset)
        al.addLayout(bottom)
        self.stack_box = ac  # the window docks it on its own, like a layers panel
        self.num_ws = 1
        self.set_text_running(False)
        self.set_enabled(False)

    # ---- setup ------------------------------------------------------------------------------
    def set_components(self, variances: list[float], num_ws: int, names: dict[int, str] | None = None) -> None:
        """Top-k components, strongest first; `names`: what each component does, where known."""
        self.num_ws = num_ws
        for row in self.components.values():
            row.deleteLater()
        self.components = {}
        for k, var in enumerate(variances):
            row = ComponentRow(k, var, num_ws, (0, num_ws - 1), name=(names or {}).get(k, ""))
            row.changed.connect(self.componentChanged)
            row.renameRequested.connect(self.rename_component)
            self.component_box.addWidget(row)
            self.components[k] = row

    def rename_component(self, k: int) -> None:
        """Ask for a new name of component k (empty: the bundle's name again)."""
        row = self.components.get(k)
        if row is None:
            return
        text, ok = QInputDialog.getText(self, "Rename component", f"Name of PC {k} (empty: the bundle's name):", text=row.name)
        if ok:
            self.componentRenamed.emit(k, text.strip())

    def set_component_names(self, names: dict[int, str]) -> None:
        for k, row in self.components.items():
            row.set_name(names.get(k, ""))

    def set_presets(self, names: list[str]) -> None:
        self.presets.clear()
        self.presets.addItems(names)
        self.presets.setEnabled(bool(names))
        self.add_preset.setEnabled(bool(names) and self.isEnabled())
        if not names:
            self.presets.addItem("(no presets for this generator)")

    def set_enabled(self, enabled: bool) -> None:
        for w in (*self.components.values(), self.add_preset, self.reset, self.run_text, self.text, self.reach):
            w.setEnabled(enabled)
        self.add_preset.setEnabled(enabled and self.presets.isEnabled())

    def set_text_running(self, running: bool) -> None:
        self.text_box.set_running(running)

    # ---- job state, shown by the editor ------------------------------------------------------
    def set_ganspace_status(self, text: str) -> None:
        self.ganspace_status.setText(text)

    def set_text_status(self, text: str) -> None:
        self.text_box.status.setText(text)

    def show_text_progress(self, step: int, total: int) -> None:
        self.text_box.show_progress(step, total)

    # ---- updates from the session ----------------------------------------------------------
    def set_reach(self, visible: bool) -> None:
        """Tick "Show where edits act" without emitting reachToggled (the change came from elsewhere)."""
        with QSignalBlocker(self.reach):
            self.reach.setChecked(visible)

    @property
    def rows(self) -> list:
        """The stack's layer rows, first edit first."""
        return self.stack.rows

    def title_of(self, e: EditSpec) -> str:
        """A slider's edit ("PC 3") carries its component's name; the user's label wins."""
        row = self.components.get(e.component) if e.kind == "ganspace" and e.name == f"PC {e.component}" else None
        return e.label or (row.title() if row is not None else e.name)

    def show_edits(self, edits: list[EditSpec]) -> None:
        """Sync the sliders and the edit stack."""
        by_component = {e.component: e for e in edits if e.kind == "ganspace" and e.name == f"PC {e.component}"}
        for k, row in self.components.items():
            e = by_component.get(k)
            row.set_state(e.strength if e else 0.0, e.layers if e else row.current_layers())
        self.stack.show_edits(edits, [self.title_of(e) for e in edits], self.num_ws)
        self.no_edits.setVisible(not edits)
