"""The "Invertibility map" panel: overlay visibility and opacity, τ, legend, the segment under the
pointer (or the selection) and its layer override."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from sam_editor.gan.layers import LayerSpace
from sam_editor.session import SegmentInfo
from sam_editor.util import TAU_DEFAULT, TAU_MAX, TAU_MIN

from .overlay import InvertibilityBars, Legend, space_color

SPACES = tuple(LayerSpace)


class MapPanel(QWidget):
    tauChanged = Signal(float)
    tauReleased = Signal()
    overlayChanged = Signal()  # visibility or opacity
    overrideRequested = Signal(object)  # LayerSpace, or None for "automatic"
    resetOverridesRequested = Signal()
    brushToggled = Signal(bool)
    editRegionRequested = Signal(bool)  # True: edits only on the selection; False: everywhere

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(10)

        view = QGroupBox("Overlay")
        form = QFormLayout(view)
        self.show_overlay = QCheckBox("Show on source")
        self.show_overlay.setChecked(True)
        self.show_overlay.toggled.connect(self.overlayChanged)
        self.opacity = QLabeledSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.valueChanged.connect(self.overlayChanged)
        self.opacity.setToolTip("Overlay opacity (%)")
        form.addRow(self.show_overlay)
        form.addRow("Opacity", self.opacity)
        layout.addWidget(view)

        thresh = self.tau_box = QGroupBox("Threshold τ")
        tl = QVBoxLayout(thresh)
        self.tau = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.tau.setRange(TAU_MIN, TAU_MAX)
        self.tau.setDecimals(3)
        self.tau.setSingleStep(0.005)
        self.tau.setValue(TAU_DEFAULT)
        self.tau.setToolTip("Each segment takes the most editable space whose predicted error is ≤ τ")
        self.tau.valueChanged.connect(self._tau_moved)
        self.tau._slider.sliderReleased.connect(self.tauReleased)
        hint = QLabel("Higher τ → more editable, lower τ → more faithful")
        hint.setObjectName("hint")
        self.segmenter_label = QLabel("")
        self.segmenter_label.setObjectName("hint")
        self.segmenter_label.setWordWrap(True)
        tl.addWidget(self.tau)
        tl.addWidget(hint)
        tl.addWidget(self.segmenter_label)
        layout.addWidget(thresh)

        legend_box = QGroupBox("Latent spaces")
        ll = QVBoxLayout(legend_box)
        self.legend = Legend()
        ll.addWidget(self.legend)
        layout.addWidget(legend_box)

        seg = QGroupBox("Segment")
        sl = QVBoxLayout(seg)
        self.segment_title = QLabel("Hover over the source to inspect a segment")
        self.segment_title.setWordWrap(True)
        self.bars = InvertibilityBars()
        sl.addWidget(self.segment_title)
        sl.addWidget(self.bars)
        row = QHBoxLayout()
        row.setSpacing(3)
        self.space_buttons = QButtonGroup(self)
        self.space_buttons.setExclusive(False)
        for i, space in enumerate(SPACES):
            b = QToolButton()
            b.setText(space.value)
            b.setToolTip(f"Put the selected segments in {space.value} (key {i + 1})")
            c = space_color(space)
            b.setStyleSheet(f"QToolButton {{ border-bottom: 3px solid {c.name()}; padding: 3px 6px; }}")
            b.clicked.connect(lambda _=False, s=space: self.overrideRequested.emit(s))
            self.space_buttons.addButton(b, i)
            row.addWidget(b)
        self.auto_button = QToolButton()
        self.auto_button.setIcon(qta.icon("mdi6.auto-fix"))
        self.auto_button.setToolTip("Back to the τ rule for the selected segments (key 0)")
        self.auto_button.clicked.connect(lambda: self.overrideRequested.emit(None))
        row.addWidget(self.auto_button)
        row.addStretch(1)
        sl.addLayout(row)
        tools = QHBoxLayout()
        self.brush = QPushButton(qta.icon("mdi6.brush"), "Brush")
        self.brush.setCheckable(True)
        self.brush.setToolTip("Drag over several segments, then pick their space (B)")
        self.brush.toggled.connect(self.brushToggled)
        self.reset_overrides = QPushButton(qta.icon("mdi6.restore"), "Reset overrides")
        self.reset_overrides.clicked.connect(self.resetOverridesRequested)
        tools.addWidget(self.brush)
        tools.addWidget(self.reset_overrides)
        sl.addLayout(tools)
        self.overrides_label = QLabel("")
        self.overrides_label.setObjectName("hint")
        sl.addWidget(self.overrides_label)
        region = QHBoxLayout()
        self.edit_only = QPushButton(qta.icon("mdi6.selection"), "Edit only these")
        self.edit_only.setToolTip(
            "Edits act only on the selected segments; the rest of the image stays as inverted (E)"
        )
        self.edit_only.clicked.connect(lambda: self.editRegionRequested.emit(True))
        self.edit_everywhere = QPushButton(qta.icon("mdi6.selection-off"), "Edit everywhere")
        self.edit_everywhere.setToolTip("Let edits act on the whole image again (Shift+E)")
        self.edit_everywhere.clicked.connect(lambda: self.editRegionRequested.emit(False))
        region.addWidget(self.edit_only)
        region.addWidget(self.edit_everywhere)
        sl.addLayout(region)
        self.region_label = QLabel("")
        self.region_label.setObjectName("hint")
        sl.addWidget(self.region_label)
        layout.addWidget(seg)

        self.stale = QLabel("")
        self.stale.setWordWrap(True)
        self.stale.setObjectName("warning")
        self.stale.setVisible(False)
        layout.addWidget(self.stale)
        layout.addStretch(1)
        self.set_selection_enabled(False)
        self.set_edit_region(0)

    def _tau_moved(self, value: float) -> None:
        self.tauChanged.emit(float(value))

    # ---- what the panel shows, asked by the editor --------------------------------------------
    def overlay_opacity(self) -> float:
        """Overlay opacity, 0–1."""
        return self.opacity.value() / 100

    def overlay_visible(self) -> bool:
        return self.show_overlay.isChecked()

    # ---- commands from menus and keys (they emit the panel's own signals) --------------------
    def set_overlay_visible(self, visible: bool) -> None:
        self.show_overlay.setChecked(visible)

    def set_brush(self, on: bool) -> None:
        self.brush.setChecked(on)

    # ---- updates from the session (widgets never echo back: signals blocked) ----------------
    def set_tau(self, tau: float) -> None:
        with QSignalBlocker(self.tau):
            self.tau.setValue(tau)

    def set_scale(self, metric: str, lo: float, hi: float, segmenter: str) -> None:
        """The bundle's τ scale (the metric its predictor predicts, the slider range) and which
        segmenter makes the segments."""
        self.tau_box.setTitle(f"Threshold τ (on predicted {metric} error)")
        if (lo, hi) != (self.tau.minimum(), self.tau.maximum()):
            with QSignalBlocker(self.tau):
                self.tau.setRange(lo, hi)
        self.segmenter_label.setText(f"Segments: {segmenter}")

    def set_coverage(self, coverage: dict[LayerSpace, float] | None) -> None:
        """Share of the image in each space, for the legend (None: no map yet)."""
        self.legend.set_coverage(coverage)

    def set_segment(self, info: SegmentInfo | None, tau: float, selected: int, predicted: bool = True) -> None:
        if not predicted:
            self.segment_title.setText(
                "No invertibility predictor is loaded, so every segment starts in W+. "
                "Click a segment (or brush several) and pick its space."
                if info is None
                else f"<b>Segment {info.segment}</b> · {info.area * 100:.1f} % of the image<br>in <b>{info.space.value}</b>"
                + (" (override)" if info.overridden else " (no prediction)")
            )
            self.bars.setVisible(False)
            return
        self.bars.setVisible(True)
        if info is None:
            self.segment_title.setText("Hover over the source to inspect a segment; click to select it")
        else:
            how = "override" if info.overridden else "by τ"
            sel = f" · {selected} selected" if selected > 1 else ""
            self.segment_title.setText(
                f"<b>Segment {info.segment}</b> · {info.area * 100:.1f} % of the image{sel}<br>"
                f"in <b>{info.space.value}</b> ({how}; τ rule says {info.automatic.value})"
            )
        self.bars.set_info(info, tau)

    def set_overrides(self, count: int) -> None:
        self.reset_overrides.setEnabled(count > 0)
        self.overrides_label.setText(f"{count} segment{'s' * (count != 1)} overridden (hatched)" if count else "")

    def set_edit_region(self, count: int) -> None:
        self.edit_everywhere.setEnabled(count > 0)
        self.region_label.setText(f"Edits act only on {count} segment{'s' * (count != 1)}" if count else "")

    def set_selection_enabled(self, enabled: bool, available: list[LayerSpace] | None = None) -> None:
        for space, b in zip(SPACES, self.space_buttons.buttons(), strict=True):
            b.setEnabled(enabled and (available is None or space in available))
        self.auto_button.setEnabled(enabled)
        self.edit_only.setEnabled(enabled)

    def set_stale(self, stale: bool) -> None:
        self.stale.setText("The map changed since the last inversion — press Invert to use it.")
        self.stale.setVisible(stale)
