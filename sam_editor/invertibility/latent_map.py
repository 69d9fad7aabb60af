"""The refined latent map: which latent space each image segment is inverted in (paper §3.1–3.2).

Refinement (§3.1): the predicted error maps e_l = S_l(x) (eq. 3.2) are averaged over every segment
of a segmentation, so one segment has one value per space.  Selection (§3.2): every segment gets
the most editable space l ∈ Φ = (W+, F4, F6, F8, F10) whose mean predicted error is ≤ τ; if no
space qualifies the segment falls back to F10 (the official implementation's rule).  The binary
masks m_i (one per space, used in the image formation of eq. 3.3–3.4) partition the image.

A :class:`LatentMap` keeps the label map and the per-segment means, so changing τ re-thresholds
in microseconds without re-running the network or the segmenter.  Manual per-segment overrides
take precedence over the threshold rule and survive τ changes.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sam_editor.gan.layers import LayerSpace
from sam_editor.util import TAU_DEFAULT, TAU_MAX, TAU_MIN, atomic_write

__all__ = [
    "SPACES",
    "TAU_DEFAULT",
    "TAU_MIN",
    "TAU_MAX",
    "SPACE_COLORS",
    "LatentMap",
    "segment_means",
    "select_spaces",
    "legend_entries",
    "TauScale",
    "LPIPS_TAU",
    "read_tau_scale",
    "tau_scale_beside",
    "TAU_FILE",
    "legend_image",
    "encode_labels",
    "decode_labels",
]

SPACES: tuple[LayerSpace, ...] = tuple(LayerSpace)
UNREACHABLE = 1.0e9  # segment error that no threshold accepts (used by LatentMap.uniform)
FORMAT = "sam_editor.latent_map"
VERSION = 1

#: Fixed display colour per space (RGB); the palette of the official visualisation.
SPACE_COLORS: dict[LayerSpace, tuple[int, int, int]] = {
    LayerSpace.W_PLUS: (0, 98, 155),
    LayerSpace.F4: (116, 118, 120),
    LayerSpace.F6: (252, 137, 0),
    LayerSpace.F8: (97, 129, 57),
    LayerSpace.F10: (255, 205, 0),
}
_PALETTE = np.array([SPACE_COLORS[s] for s in SPACES], np.float32)


TAU_FILE = "tau.json"  # a bundle's τ calibration, beside its predictor
TAU_FORMAT = "sam_editor.tau"


@dataclass(frozen=True)
class TauScale:
    """What τ means for one bundle: the metric its predictor predicts (the e_l of eq. 3.1–3.2), the
    default threshold and the slider range. The paper's τ = 0.225 is a threshold on LPIPS-VGG error;
    a predictor trained on another error (the l2+SSIM fallback) needs its own, calibrated τ
    (`sam-editor demo calibrate-tau`). ``source`` says where the numbers come from."""

    metric: str
    default: float
    lo: float
    hi: float
    source: str = ""

    def __post_init__(self) -> None:
        for v in (self.default, self.lo, self.hi):
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"τ values must be finite and non-negative, got {v}")
        if not self.lo <= self.default <= self.hi:
            raise ValueError(f"τ default {self.default} outside its range [{self.lo}, {self.hi}]")

    def clamp(self, tau: float) -> float:
        return min(max(float(tau), self.lo), self.hi)

    def to_json(self) -> dict[str, Any]:
        return {"format": TAU_FORMAT, "metric": self.metric, "tau": self.default, "range": [self.lo, self.hi],
                "source": self.source}


#: The paper's / official code's scale: LPIPS-VGG error, τ = 0.225, the official sweep's range.
LPIPS_TAU = TauScale("LPIPS-VGG", TAU_DEFAULT, TAU_MIN, TAU_MAX, "paper §3.2 / official code")


def read_tau_scale(path: str | Path) -> TauScale:
    """A bundle's ``tau.json`` → :class:`TauScale` (ValueError with the reason if broken).

    Extra keys (the calibration's figures and command) are allowed and ignored here."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read τ calibration {path.name}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != TAU_FORMAT:
        raise ValueError(f"{path.name} is not a τ calibration (format {data.get('format') if isinstance(data, dict) else None!r})")
    try:
        lo, hi = (float(v) for v in data["range"])
        return TauScale(str(data["metric"]), float(data["tau"]), lo, hi, str(data.get("source", path.name)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path.name}: broken τ calibration ({exc})") from exc


def tau_scale_beside(predictor_path: str | Path | None) -> TauScale:
    """The τ scale of the bundle a predictor file belongs to: ``tau.json`` in its folder when
    there is one (ValueError if broken), else the paper's LPIPS-VGG scale."""
    if predictor_path is not None and (Path(predictor_path).parent / TAU_FILE).is_file():
        return read_tau_scale(Path(predictor_path).parent / TAU_FILE)
    return LPIPS_TAU


def segment_means(errors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Refinement of §3.1: mean predicted error of every segment in every space.

    ``errors`` (S, H, W) predicted e_l maps, ``labels`` (H, W) ints 0..K-1 → float64 (K, S).
    Segments with no pixels (should not happen) get ``UNREACHABLE``.
    """
    errors = np.asarray(errors)
    labels = np.asarray(labels)
    if errors.ndim != 3 or errors.shape[1:] != labels.shape:
        raise ValueError(f"error maps {errors.shape} do not match the label map {labels.shape}")
    flat = labels.ravel()
    k = int(flat.max()) + 1 if flat.size else 0
    counts = np.bincount(flat, minlength=k).astype(np.float64)
    sums = np.stack([np.bincount(flat, e.ravel().astype(np.float64), minlength=k) for e in errors], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    means[counts == 0] = UNREACHABLE
    return means


def select_spaces(segment_errors: np.ndarray, tau: float) -> np.ndarray:
    """Selection rule of §3.2 → rank (0 = W+ … 4 = F10) per segment.

    ``segment_errors`` (K, S), columns ordered from most to least editable (StyleGAN2's five, or
    a generator family's Φ, e.g. BigGAN-deep's Z+, F2). The most editable space whose mean
    predicted error is ≤ τ; the least editable one (F10) when none is.  Monotone: a larger τ
    never yields a less editable space.
    """
    ok = np.asarray(segment_errors) <= tau
    return np.where(ok.any(1), ok.argmax(1), ok.shape[1] - 1).astype(np.int32)


def encode_labels(labels: np.ndarray) -> str:
    """Label map → base64 PNG (8-bit if < 256 labels, else 16-bit; lossless)."""
    labels = np.asarray(labels)
    top = int(labels.max()) if labels.size else 0
    if labels.min(initial=0) < 0 or top > 65535:
        raise ValueError("label maps must hold 0..65535")
    ok, buf = cv2.imencode(
        ".png", labels.astype(np.uint8 if top < 256 else np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    if not ok:
        raise RuntimeError("PNG encoding of the label map failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def decode_labels(text: str) -> np.ndarray:
    """Inverse of :func:`encode_labels` → int32 (H, W)."""
    buf = np.frombuffer(base64.b64decode(text), np.uint8)
    labels = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if labels is None or labels.ndim != 2:
        raise ValueError("invalid label-map PNG")
    return labels.astype(np.int32)


@dataclass(eq=False)
class LatentMap:
    """Per-segment latent-space assignment of one image (see module docstring).

    ``labels`` int32 (H, W) segment ids 0..K-1; ``segment_errors`` float64 (K, 5) mean predicted
    error per segment and space (LayerSpace order); ``tau`` the threshold τ; ``overrides`` manual
    segment → space choices.  ``pixel_errors`` optionally keeps the raw (5, H, W) prediction for
    display; it is not saved.  ``with_tau`` returns a new map; ``override``/``clear_override``
    modify this one in place (and return it).
    """

    labels: np.ndarray
    segment_errors: np.ndarray
    tau: float = TAU_DEFAULT
    overrides: dict[int, LayerSpace] = field(default_factory=dict)
    pixel_errors: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int32)
        self.segment_errors = np.asarray(self.segment_errors, dtype=np.float64)
        if self.labels.ndim != 2 or self.labels.size == 0:
            raise ValueError(f"label map must be a non-empty (H, W) array, got {self.labels.shape}")
        k = int(self.labels.max()) + 1
        if self.labels.min() < 0 or self.segment_errors.shape != (k, len(SPACES)):
            raise ValueError(
                f"segment_errors must be (K={k}, {len(SPACES)}) for labels 0..{k - 1}, got {self.segment_errors.shape}"
            )
        self.tau = _check_tau(self.tau)
        self.overrides = {self._check_segment(s): _as_space(v) for s, v in dict(self.overrides).items()}

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_predictions(
        cls, errors: np.ndarray, labels: np.ndarray, tau: float = TAU_DEFAULT, keep_pixels: bool = False
    ) -> LatentMap:
        """Refine predicted maps ``errors`` (5, H, W) with segmentation ``labels`` (H, W)."""
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or np.bincount(labels.ravel()).min() == 0):
            from sam_editor.invertibility.segmenters import relabel_consecutive

            labels = relabel_consecutive(labels)
        if np.shape(errors)[0] != len(SPACES):
            raise ValueError(f"expected {len(SPACES)} error maps, got {np.shape(errors)[0]}")
        means = segment_means(errors, labels)
        return cls(labels, means, tau, pixel_errors=np.asarray(errors, np.float32) if keep_pixels else None)

    @classmethod
    def uniform(cls, shape: tuple[int, int], space: LayerSpace | str, tau: float = TAU_DEFAULT) -> LatentMap:
        """Whole image (``shape`` = (H, W)) in one space, for every τ (single-layer baselines)."""
        rank = _as_space(space).rank
        errors = np.where(np.arange(len(SPACES)) < rank, UNREACHABLE, 0.0)[None]
        return cls(np.zeros(tuple(shape), np.int32), errors, tau)

    # ----------------------------------------------------------------- queries
    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    @property
    def num_segments(self) -> int:
        return int(self.segment_errors.shape[0])

    def segment_at(self, y: int, x: int) -> int:
        """Segment id under pixel (y, x) — e.g. for a click in the GUI."""
        return int(self.labels[int(y), int(x)])

    def segment_areas(self) -> np.ndarray:
        """Pixel count per segment, (K,)."""
        return np.bincount(self.labels.ravel(), minlength=self.num_segments)

    def automatic_space(self, segment: int) -> LayerSpace:
        """The threshold rule's space for ``segment``, ignoring any override."""
        k = self._check_segment(segment)
        return SPACES[int(select_spaces(self.segment_errors[k : k + 1], self.tau)[0])]

    def space_of_segment(self, segment: int) -> LayerSpace:
        """Override if set, else the most editable space with mean error ≤ τ (F10 if none)."""
        k = self._check_segment(segment)
        forced = self.overrides.get(k)
        return forced if forced is not None else self.automatic_space(k)

    def segment_ranks(self) -> np.ndarray:
        """Rank (0 = W+ … 4 = F10) of every segment's space, overrides applied, (K,) int32."""
        ranks = select_spaces(self.segment_errors, self.tau)
        for k, space in self.overrides.items():
            ranks[k] = space.rank
        return ranks

    def space_map(self) -> np.ndarray:
        """Per-pixel rank of the assigned space, int32 (H, W)."""
        return self.segment_ranks()[self.labels]

    def masks(self) -> dict[LayerSpace, np.ndarray]:
        """Binary masks m_i, one per space (W+ included); they partition the image."""
        smap = self.space_map()
        return {space: smap == space.rank for space in SPACES}

    def coverage(self) -> dict[LayerSpace, float]:
        """Fraction of the image assigned to each space."""
        counts = np.bincount(self.space_map().ravel(), minlength=len(SPACES))
        return {space: float(counts[space.rank]) / self.labels.size for space in SPACES}

    # ----------------------------------------------------------------- edits
    def with_tau(self, tau: float) -> LatentMap:
        """A new map re-thresholded at ``tau`` (no network/segmenter run; overrides kept)."""
        return LatentMap(self.labels, self.segment_errors, tau, dict(self.overrides), self.pixel_errors)

    def override(self, segment: int, space: LayerSpace | str) -> LatentMap:
        """Force ``segment`` into ``space`` regardless of τ (in place; returns self)."""
        self.overrides[self._check_segment(segment)] = _as_space(space)
        return self

    def clear_override(self, segment: int | None = None) -> LatentMap:
        """Drop the override of ``segment`` (all overrides if None); in place, returns self."""
        if segment is None:
            self.overrides.clear()
        else:
            self.overrides.pop(self._check_segment(segment), None)
        return self

    # ----------------------------------------------------------------- persistence
    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict; the label map is a base64 PNG."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "height": self.shape[0],
            "width": self.shape[1],
            "spaces": [s.value for s in SPACES],
            "tau": self.tau,
            "labels_png": encode_labels(self.labels),
            "segment_errors": self.segment_errors.tolist(),
            "overrides": {str(k): v.value for k, v in sorted(self.overrides.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatentMap:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a latent map (format {data.get('format')!r})")
        if int(data.get("version", 0)) > VERSION:
            raise ValueError(f"latent map version {data['version']} is newer than supported ({VERSION})")
        if [LayerSpace.parse(s) for s in data["spaces"]] != list(SPACES):
            raise ValueError(f"unexpected space list {data['spaces']}")
        labels = decode_labels(data["labels_png"])
        if labels.shape != (int(data["height"]), int(data["width"])):
            raise ValueError("label map size does not match the stored height/width")
        overrides = {int(k): LayerSpace.parse(v) for k, v in data.get("overrides", {}).items()}
        return cls(labels, np.array(data["segment_errors"], np.float64), float(data["tau"]), overrides)

    def save(self, path: str | Path) -> Path:
        """Write the map as ``.json`` (atomic replace)."""
        return atomic_write(path, json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: str | Path) -> LatentMap:
        return cls.from_json(json.loads(Path(path).read_text()))

    # ----------------------------------------------------------------- display
    def overlay(self, image: np.ndarray, alpha: float = 0.5, boundaries: bool = True) -> np.ndarray:
        """Blend the per-space colours (:data:`SPACE_COLORS`) over an RGB uint8 image.

        The map is resized (nearest) to the image if their sizes differ; ``boundaries`` darkens
        segment borders.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), got {image.shape}")
        h, w = image.shape[:2]
        labels = self.labels
        if labels.shape != (h, w):
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        colour = _PALETTE[self.segment_ranks()[labels]]
        a = float(np.clip(alpha, 0.0, 1.0))
        out = (1.0 - a) * image.astype(np.float32) + a * colour
        if boundaries:
            edge = np.zeros((h, w), bool)
            edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
            edge[1:, :] |= labels[1:, :] != labels[:-1, :]
            out[edge] *= 0.35
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    # ----------------------------------------------------------------- internals
    def _check_segment(self, segment: int) -> int:
        k = int(segment)
        if not 0 <= k < self.num_segments:
            raise IndexError(f"segment {segment} out of range 0..{self.num_segments - 1}")
        return k


def _as_space(space: LayerSpace | str) -> LayerSpace:
    return space if isinstance(space, LayerSpace) else LayerSpace.parse(str(space))


def _check_tau(tau: float) -> float:
    tau = float(tau)
    if not math.isfinite(tau) or tau < 0:
        raise ValueError(f"tau must be a finite non-negative number, got {tau}")
    return tau


def legend_entries() -> list[tuple[str, tuple[int, int, int]]]:
    """(label, RGB colour) per space, most editable first."""
    notes = {LayerSpace.W_PLUS: " (most editable)", LayerSpace.F10: " (most faithful)"}
    return [(s.value + notes.get(s, ""), SPACE_COLORS[s]) for s in SPACES]


def legend_image(row_height: int = 22, width: int = 190) -> np.ndarray:
    """A small RGB uint8 legend: one colour swatch and label per space."""
    img = np.full((row_height * len(SPACES) + 4, width, 3), 255, np.uint8)
    for i, (text, rgb) in enumerate(legend_entries()):
        y0 = 2 + i * row_height
        cv2.rectangle(img, (4, y0 + 3), (4 + row_height - 6, y0 + row_height - 3), rgb, -1)
        cv2.putText(
            img, text, (row_height + 4, y0 + row_height - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA
        )
    return img
