"""The "Inversion" panel: method, steps, Invert / Cancel, progress with ETA, losses."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sam_editor.session import METHODS, InversionProgress

LOSS_NAMES = {"total": "total", "rec": "L_rec", "mse": "ℓ2", "perceptual": "LPIPS", "f": "L_F", "w_spread": "L_W"}


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class InversionPanel(QWidget):
    invertRequested = Signal(str, int, str)  # method, steps, start point ("encoder" | "mean")
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        box = QGroupBox("Inversion")
        form = QFormLayout(box)
        self.method = QComboBox()
        for key, label in METHODS.items():
            self.method.addItem(label, key)
        self.method.setToolTip("SAM picks a latent space per segment; the others are the paper's baselines")
        self.steps = QSpinBox()
        self.steps.setRange(1, 5000)
        self.steps.setValue(200)
        self.steps.setSingleStep(50)
        self.steps.setSuffix(" steps")
        self.start = QComboBox()
        self.start.addItem("Encoder", "encoder")
        self.start.addItem("Mean w", "mean")
        self.start.setToolTip(
            "Where the optimisation starts: the encoder's one-pass φ (shown as soon as the map is ready), "
            "or the generator's mean w (the paper's optimisation regime)"
        )
        self.start.currentIndexChanged.connect(self._allow_encoder_only)
        form.addRow("Method", self.method)
        form.addRow("Length", self.steps)
        form.addRow("Start from", self.start)
        buttons = QHBoxLayout()
        self.invert = QPushButton(qta.icon("mdi6.play", color="#e8e8e8"), "Invert")
        self.invert.setObjectName("primary")
        self.invert.setToolTip("Invert the image into the generator (Ctrl+I)")
        self.invert.clicked.connect(self._invert)
        self.cancel = QPushButton(qta.icon("mdi6.stop"), "Cancel")
        self.cancel.setToolTip("Stop and keep the best result so far (Esc)")
        self.cancel.clicked.connect(self.cancelRequested)
        buttons.addWidget(self.invert, 2)
        buttons.addWidget(self.cancel, 1)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setFormat("")
        self.progress.setValue(0)
        form.addRow(self.progress)
        self.eta = QLabel("")
        self.eta.setObjectName("hint")
        form.addRow(self.eta)
        self.losses = QLabel("")
        self.losses.setObjectName("mono")
        self.losses.setWordWrap(True)
        form.addRow(self.losses)
        layout.addWidget(box)
        self.set_running(False)
        self.set_ready(False)

    def _invert(self) -> None:
        self.invertRequested.emit(self.method.currentData(), self.steps.value(), self.current_start())

    # ---- commands from menus and keys ------------------------------------------------------
    def request_inversion(self) -> None:
        """What the Invert button does (nothing while it is disabled)."""
        if self.invert.isEnabled():
            self._invert()

    def method_labels(self) -> list[str]:
        return [self.method.itemText(i) for i in range(self.method.count())]

    def set_method(self, index: int) -> None:
        self.method.setCurrentIndex(index)

    def current_method(self) -> str:
        """Key of the chosen method (see session.METHODS)."""
        return str(self.method.currentData())

    def set_steps(self, steps: int) -> None:
        """0 means "the encoder's φ alone, no optimisation" (only when starting from the encoder)."""
        self.steps.setValue(steps)

    def steps_value(self) -> int:
        return self.steps.value()

    def current_start(self) -> str:
        """"encoder" or "mean" ("mean" whenever no encoder is loaded)."""
        return str(self.start.currentData()) if self.start.isEnabled() else "mean"

    def set_encoder_available(self, available: bool) -> None:
        self.start.setCurrentIndex(0 if available else 1)
        self.start.setEnabled(available)
        if not available:
            self.start.setToolTip("No encoder in this bundle: inversions start from the mean w")
        self._allow_encoder_only()

    def _allow_encoder_only(self, *_: object) -> None:
        """Length 0 ("Encoder only": no refinement after the encoder's φ) exists only when starting
        from the encoder; from the mean w an inversion needs at least one step."""
        encoder = self.current_start() == "encoder"
        self.steps.setMinimum(0 if encoder else 1)
        self.steps.setSpecialValueText("Encoder only" if encoder else "")
        self.steps.setToolTip(
            "Optimisation steps after the encoder's φ; the lowest value, Encoder only, skips the refinement"
            if encoder
            else "Optimisation steps from the mean w"
        )

    # ---- state --------------------------------------------------------------------------------
    def set_ready(self, ready: bool, why: str = "") -> None:
        self.invert.setEnabled(ready and not self.cancel.isEnabled())
        self.invert.setToolTip("Invert the image into the generator (Ctrl+I)" if ready else why)

    def set_running(self, running: bool) -> None:
        self.cancel.setEnabled(running)
        self.invert.setEnabled(not running)
        self.method.setEnabled(not running)
        self.steps.setEnabled(not running)

    def show_progress(self, p: InversionProgress) -> None:
        self.progress.setFormat("step %v / %m")
        self.progress.setMaximum(p.total)
        self.progress.setValue(p.step)
        self.eta.setText(f"{format_seconds(p.elapsed)} elapsed · ETA {format_seconds(p.eta)}")
        self.show_losses(p.losses)

    def show_losses(self, losses: dict[str, float]) -> None:
        parts = [f"{LOSS_NAMES[k]} {v:.4f}" for k, v in losses.items() if k in LOSS_NAMES]
        self.losses.setText("  ".join(parts))

    def show_done(self, text: str) -> None:
        self.eta.setText(text)

    def show_state(self, inversion: object | None, where: str = "") -> None:
        """The photo now open: its inversion (from a project) or none yet — never the timings
        and losses of the photo before."""
        self.progress.setFormat("")
        self.progress.setMaximum(100)
        self.progress.setValue(0)
        if inversion is None:
            self.show_done("")
            self.show_losses({})
            return
        how = "encoder φ" if inversion.steps_run == 0 else f"{inversion.steps_run} steps"  # type: ignore[attr-defined]
        self.show_done(f"{inversion.method}, {how} in {inversion.seconds:.1f} s{where}")  # type: ignore[attr-defined]
        self.show_losses(inversion.losses)  # type: ignore[attr-defined]
