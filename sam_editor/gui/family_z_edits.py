"""BigGAN-deep's edits on z in the family workspace: GANSpace sliders and the text box.

The window's counterparts of `sam-editor edit PHI --ganspace K:S@A-B --text PROMPT`, built from
StyleGAN2's widgets (`edit_panel.ComponentRow`, `edit_panel.TextEditBox`): one slider per GANSpace
direction of the bound class (`edits.ganspace_z`) with the Z+ stages it moves, and a StyleCLIP
prompt optimised on z. Both only write the session's edit (`FamilySession.set_ganspace`,
`set_text_edit`); the workspace (`family_panel.FamilyWorkspace`) runs the directions' PCA and
the text optimisation on workers and renders the gated pass of §3.4, coalesced.
"""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget

from sam_editor.session.family_session import FamilySession

from .edit_panel import ComponentRow, TextEditBox

TOP_K = 8  # sliders shown, as StyleGAN2's GANSpace tab (`editor.TOP_K`)


def edit_summary(session: FamilySession) -> str:
    """Every edit the render applies, across the tabs: 'class 7 at 0.80 · PC 0 −3.0 (stages 3–6) · “a red car” ×1'."""
    from sam_editor.gan.biggan.classes import class_name

    e, parts = session.edit, []
    if e.to_class is not None and e.to_class != session.class_index():
        stages = f" (stages {e.stages[0]}–{e.stages[1]})" if e.stages else ""
        parts.append(f"{class_name(e.to_class, session.num_classes())} at {e.strength:.2f}{stages}")
    for k, (strength, (a, b)) in sorted(e.ganspace.items()):
        if strength:
            parts.append(f"PC {k} {'−' if strength < 0 else '+'}{abs(strength):.1f} (stages {a}–{b})")
    if e.text_delta is not None and e.text_strength:
        parts.append(f"“{e.text}” ×{e.text_strength:g}")
    return " · ".join(parts)


class ZGanspaceBox(QWidget):
    """GANSpace on z: the directions are found once per generator on a worker (`findRequested`,
    the first time the tab is shown), with progress and Cancel; then a slider per direction."""

    findRequested = Signal()
    cancelRequested = Signal()
    changed = Signal()

    def __init__(self, session: FamilySession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 8, 4, 4)
        self.status = QLabel("GANSpace directions in z are found the first time this tab opens")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.find = QPushButton(qta.icon("mdi6.magnify"), "Find directions")
        self.find.setToolTip("Principal directions of the first layer's output over z of the bound class "
                             "(GANSpace's BigGAN recipe; 2048 samples, as `sam-editor edit --ganspace`)")  # fmt: skip
        self.find.clicked.connect(self.findRequested)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(12)
        self.progress.setTextVisible(False)
        self.cancel = QToolButton()
        self.cancel.setIcon(qta.icon("mdi6.stop"))
        self.cancel.setToolTip("Stop finding the directions")
        self.cancel.clicked.connect(self.cancelRequested)
        row.addWidget(self.find)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel)
        layout.addLayout(row)
        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(4)
        layout.addLayout(self.rows_box)
        self.reset = QPushButton(qta.icon("mdi6.restore"), "Reset GANSpace")
        self.reset.clicked.connect(self._reset)
        layout.addWidget(self.reset)
        layout.addStretch(1)
        self.components: dict[int, ComponentRow] = {}
        self._inverted = False
        self.set_running(False)
        self.set_inverted(False)

    def set_running(self, running: bool) -> None:
        self.cancel.setVisible(running)
        self.cancel.setEnabled(running)
        self.progress.setVisible(running)
        self.find.setVisible(not running and self.session.z_components is None)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.status.setText(f"Finding GANSpace directions in z… {100 * done // max(total, 1)} %")

    def set_components(self) -> None:
        """A slider per direction of `session.z_components`, strongest first, set as the edit holds them."""
        comps, num_ws = self.session.z_components, self.session.G.num_ws
        for r in self.components.values():
            r.deleteLater()
        self.components = {}
        var = comps.h_std.double() ** 2
        share = (var / var.sum()).tolist()
        k_shown = min(TOP_K, len(share))
        for k in range(k_shown):
            strength, layers = self.session.edit.ganspace.get(k, (0.0, (0, num_ws - 1)))
            r = ComponentRow(k, share[k], num_ws, layers, unit="stages")
            r.name_label.setToolTip(f"Direction {k} in z: the first layer's output moves along its principal "
                                    f"component {k} ({share[k]:.1%} of the top {len(share)}'s variance)")  # fmt: skip
            r.layers.setToolTip("Z+ stages the edit moves; a segment inverted in F2 feels only the stages after 2")
            r.set_state(strength, layers)
            r.changed.connect(self._moved)
            self.rows_box.addWidget(r)
            self.components[k] = r
        cls = f"class {comps.class_index}" if comps.class_index is not None else "the bound class"
        self.status.setText(f"Top {k_shown} of {len(share)} directions in z for {cls} ({comps.samples:,} samples)")
        self.find.setVisible(False)
        self.set_inverted(self._inverted)

    def set_inverted(self, inverted: bool) -> None:
        """The sliders move an inverted φ only; finding the directions needs no photo."""
        self._inverted = inverted
        for w in (*self.components.values(), self.reset):
            w.setEnabled(inverted)

    def _moved(self, k: int, strength: float, layers: tuple[int, int], _final: bool) -> None:
        self.session.set_ganspace(k, strength, layers)
        self.changed.emit()

    def _reset(self) -> None:
        self.session.edit.ganspace.clear()
        for r in self.components.values():
            r.set_state(0.0, (0, self.session.G.num_ws - 1))
        self.changed.emit()


class ZTextBox(QWidget):
    """A text edit on z: StyleGAN2's prompt box (`TextEditBox`); its strength scales the found δz
    live, and 'Remove' drops it. Missing CLIP weights are a state shown here with the fetch command."""

    changed = Signal()
    requested = Signal(str, float, int)  # prompt, strength, steps
    cancelRequested = Signal()

    def __init__(self, session: FamilySession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.box = TextEditBox(
            "Strength of the text edit (1 = the optimised change in z). For an edit of one object, select its\n"
            "segments and 'Edit only these' before Run. Segments in F2 take it only in the stages after 2."
        )
        self.box.strength.valueChanged.connect(self._strength)
        self.box.requested.connect(self.requested)
        self.box.cancelRequested.connect(self.cancelRequested)
        layout.addWidget(self.box)
        self.remove = QPushButton(qta.icon("mdi6.close"), "Remove the text edit")
        self.remove.clicked.connect(self._remove)
        layout.addWidget(self.remove)
        layout.addStretch(1)
        self.box.set_running(False)
        self.show_clip_state()
        self._show()

    def show_clip_state(self) -> bool:
        """Show whether CLIP can be loaded (and how to get it when not); → available."""
        ok, message = self.session.clip_status()
        self.box.status.setText(f"CLIP: {message}" if ok else f"Text edits need CLIP: {message}")
        return ok

    def _show(self) -> None:
        self.remove.setEnabled(self.session.edit.text_delta is not None and self.box.text.isEnabled())

    def set_inverted(self, inverted: bool) -> None:
        self.box.text.setEnabled(inverted)
        self.box.set_running(self.box.cancel.isEnabled())
        self._show()

    def _strength(self, value: float) -> None:
        self.session.edit.text_strength = float(value)
        if self.session.edit.text_delta is not None:
            self.changed.emit()

    def _remove(self) -> None:
        self.session.clear_text_edit()
        self.box.status.setText("")
        self._show()
        self.changed.emit()

    def applied(self, prompt: str, steps_run: int, cancelled: bool) -> None:
        self.box.status.setText(f"“{prompt}”: {steps_run} steps" + (" (cancelled: the best so far)" if cancelled else "")
                                + " — Strength scales it")  # fmt: skip
        self._show()
