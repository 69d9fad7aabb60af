"""Edit ▸ Preferences: the user's choices, kept in QSettings under `preferences/…`.

What applies at once: threads (the next job and render), the default τ (the next photo's map; a
map already on screen keeps its τ, which is undoable state of that photo), the export defaults
(the next export). What needs the models reloaded: the weights folder and the device (at once when
no photo is open, else at the next start). The interface scale is Qt's scale factor, read before
the window exists, so it applies at the next start."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

GROUP = "preferences"
DEVICES = ("auto", "cpu", "cuda")
UI_SCALES = (1.0, 1.25, 1.5, 1.75, 2.0)
EXPORT_WHICH = ("edited", "reconstruction")


@dataclasses.dataclass(frozen=True)
class Preferences:
    """Defaults are what the app did before there were preferences."""

    weights_dir: str = ""  # "" : the usual search folders only (`sam_editor.weights.search_dirs`)
    device: str = "auto"  # one of DEVICES
    threads: int = 0  # torch intra-op threads per job; 0: automatic (`workers.torch_threads_for`)
    tau: float | None = None  # None: the bundle's own default (its TauScale)
    export_which: str = "edited"
    export_side_by_side: bool = False
    export_full_size: bool = True
    ui_scale: float = 1.0

    def weights_dirs(self) -> list[Path] | None:
        """The folders the models are looked for in: the user's first, then the usual ones."""
        if not self.weights_dir:
            return None
        from sam_editor import weights

        return list(dict.fromkeys([Path(self.weights_dir).expanduser(), *weights.search_dirs()]))

    def device_arg(self) -> str | None:
        """For `load_bundle(device=…)`: None picks the GPU when there is one."""
        if self.device == "cuda":
            import torch

            return "cuda" if torch.cuda.is_available() else None
        return "cpu" if self.device == "cpu" else None

    def tau_for(self, scale: Any) -> float | None:
        """The preferred τ on a bundle's TauScale, held inside the scale's slider range (None:
        no preference — the bundle's default)."""
        return None if self.tau is None or scale is None else scale.clamp(self.tau)


def _get(settings: QSettings, key: str, default: Any, kind: type) -> Any:
    value = settings.value(f"{GROUP}/{key}", default)
    try:
        if kind is bool:
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
        return kind(value)
    except (TypeError, ValueError):
        return default  # a hand-edited settings file costs that one preference, nothing else


def load_preferences(settings: QSettings) -> Preferences:
    d = Preferences()
    tau_raw = settings.value(f"{GROUP}/tau", "")
    try:
        tau = float(tau_raw) if tau_raw not in ("", None) else None
    except (TypeError, ValueError):
        tau = None
    prefs = Preferences(
        weights_dir=str(_get(settings, "weights_dir", d.weights_dir, str)),
        device=_get(settings, "device", d.device, str),
        threads=max(0, _get(settings, "threads", d.threads, int)),
        tau=tau if tau is not None and tau >= 0 else None,
        export_which=_get(settings, "export_which", d.export_which, str),
        export_side_by_side=_get(settings, "export_side_by_side", d.export_side_by_side, bool),
        export_full_size=_get(settings, "export_full_size", d.export_full_size, bool),
        ui_scale=_get(settings, "ui_scale", d.ui_scale, float),
    )
    return dataclasses.replace(
        prefs,
        device=prefs.device if prefs.device in DEVICES else d.device,
        export_which=prefs.export_which if prefs.export_which in EXPORT_WHICH else d.export_which,
        ui_scale=min(max(prefs.ui_scale, 0.5), 3.0),
    )


def save_preferences(settings: QSettings, prefs: Preferences) -> None:
    for f in dataclasses.fields(prefs):
        value = getattr(prefs, f.name)
        settings.setValue(f"{GROUP}/{f.name}", "" if value is None else value)
    settings.sync()


def ui_scale_from_settings(settings: QSettings) -> float:
    return load_preferences(settings).ui_scale


def apply_ui_scale_env(settings: QSettings) -> None:
    """Before the QApplication exists: the interface scale as QT_SCALE_FACTOR (a value the user
    set in the environment wins)."""
    scale = ui_scale_from_settings(settings)
    if scale != 1.0 and "QT_SCALE_FACTOR" not in os.environ:
        os.environ["QT_SCALE_FACTOR"] = f"{scale:g}"


class PreferencesDialog(QDialog):
    """Shows `prefs`; `preferences()` is what the user chose. `tau_scale`: the loaded bundle's
    TauScale (the τ field's range and default), None before the models are loaded."""

    def __init__(
        self, prefs: Preferences, tau_scale: Any = None, cuda: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("preferencesDialog")
        layout = QVBoxLayout(self)

        models = QGroupBox("Models")
        ml = QFormLayout(models)
        row = QHBoxLayout()
        self.weights_dir = QLineEdit(prefs.weights_dir)
        self.weights_dir.setPlaceholderText("Default folders (the app's, $SAM_EDITOR_WEIGHTS, your data folder)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.weights_dir, 1)
        row.addWidget(browse)
        ml.addRow("Weights folder", row)
        self.device = QComboBox()
        for key, label in (("auto", "Automatic (GPU when present)"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)")):
            self.device.addItem(label, key)
        self.device.model().item(2).setEnabled(cuda or prefs.device == "cuda")
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        ml.addRow("Device", self.device)
        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, os.cpu_count() or 1))
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(min(prefs.threads, self.threads.maximum()))
        self.threads.setToolTip("CPU threads per job (inversion, render). Automatic: one for small generators.")
        ml.addRow("Threads", self.threads)
        layout.addWidget(models)

        inv = QGroupBox("Invertibility")
        il = QFormLayout(inv)
        self.tau_override = QCheckBox("Use my own default τ")
        self.tau = QDoubleSpinBox()
        self.tau.setDecimals(3)
        self.tau.setSingleStep(0.005)
        self.scale = tau_scale
        if tau_scale is not None:
            self.tau.setRange(tau_scale.lo, tau_scale.hi)
            default = tau_scale.default
            hint = f"The bundle's default is {tau_scale.default:g} on {tau_scale.metric} error (range {tau_scale.lo:g}–{tau_scale.hi:g})."
        else:
            self.tau.setRange(0.0, 10.0)
            default = 0.225
            hint = "The models are not loaded yet: the value is held inside the bundle's τ range when they are."
        self.tau_override.setChecked(prefs.tau is not None)
        self.tau.setValue(
            prefs.tau_for(tau_scale) if prefs.tau is not None and tau_scale is not None else (prefs.tau or default)
        )
        self.tau.setEnabled(self.tau_override.isChecked())
        self.tau_override.toggled.connect(self.tau.setEnabled)
        il.addRow(self.tau_override, self.tau)
        tau_hint = QLabel(hint + " Applies to the next photo's map.")
        tau_hint.setObjectName("hint")
        tau_hint.setWordWrap(True)
        il.addRow(tau_hint)
        layout.addWidget(inv)

        ex = QGroupBox("Export defaults")
        el = QFormLayout(ex)
        self.export_which = QComboBox()
        self.export_which.addItem("Edited image", "edited")
        self.export_which.addItem("Reconstruction", "reconstruction")
        self.export_which.setCurrentIndex(max(0, self.export_which.findData(prefs.export_which)))
        el.addRow("Export", self.export_which)
        self.export_side = QCheckBox("Side by side: source | reconstruction | edited")
        self.export_side.setChecked(prefs.export_side_by_side)
        el.addRow(self.export_side)
        self.export_size = QComboBox()
        self.export_size.addItem("Your photo at full size", True)
        self.export_size.addItem("Generator image only", False)
        self.export_size.setCurrentIndex(0 if prefs.export_full_size else 1)
        el.addRow("Size", self.export_size)
        layout.addWidget(ex)

        ui = QGroupBox("Interface")
        ul = QFormLayout(ui)
        self.ui_scale = QComboBox()
        for s in UI_SCALES:
            self.ui_scale.addItem(f"{s * 100:.0f} %", s)
        if self.ui_scale.findData(prefs.ui_scale) < 0:
            self.ui_scale.addItem(f"{prefs.ui_scale * 100:.0f} %", prefs.ui_scale)
        self.ui_scale.setCurrentIndex(self.ui_scale.findData(prefs.ui_scale))
        ul.addRow("Scale (after restart)", self.ui_scale)
        layout.addWidget(ui)

        self.note = QLabel("")
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        layout.addWidget(buttons)
        self.buttons = buttons

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Weights folder", self.weights_dir.text() or str(Path.home()))
        if folder:
            self.weights_dir.setText(folder)

    def restore_defaults(self) -> None:
        d = Preferences()
        self.weights_dir.setText(d.weights_dir)
        self.device.setCurrentIndex(self.device.findData(d.device))
        self.threads.setValue(d.threads)
        self.tau_override.setChecked(False)
        if self.scale is not None:
            self.tau.setValue(self.scale.default)
        self.export_which.setCurrentIndex(self.export_which.findData(d.export_which))
        self.export_side.setChecked(d.export_side_by_side)
        self.export_size.setCurrentIndex(0)
        self.ui_scale.setCurrentIndex(self.ui_scale.findData(d.ui_scale))

    def preferences(self) -> Preferences:
        return Preferences(
            weights_dir=self.weights_dir.text().strip(),
            device=str(self.device.currentData()),
            threads=int(self.threads.value()),
            tau=float(self.tau.value()) if self.tau_override.isChecked() else None,
            export_which=str(self.export_which.currentData()),
            export_side_by_side=self.export_side.isChecked(),
            export_full_size=bool(self.export_size.currentData()),
            ui_scale=float(self.ui_scale.currentData()),
        )
