"""Segmenters used to refine the predicted invertibility map (paper §3.1, "refining step").

The paper averages the predicted LPIPS error e_l (eq. 3.1/3.2) over every segment of a
pretrained semantic segmentation so that one object is assigned one latent space.  This module
provides the segment source behind that step:

* :class:`Segmenter` — the interface ``segment(image_rgb_uint8 HxWx3) -> int32 HxW labels 0..K-1``;
* :class:`OversegSegmenter` — a weight-free classical over-segmentation (OpenCV + NumPy):
  mean-shift filtering + colour-tolerance region growing at reduced resolution, then greedy
  region-adjacency-graph merging of similar neighbours and of tiny regions;
* :class:`ClassMapSegmenter` — base of the semantic segmenters: a per-pixel class map whose
  connected components are the segments, tiny components merged into their most similar neighbour
  (so one object — a car — is one segment, as §3.1 wants);
* :class:`CarWorldSegmenter` — the demo bundle's own small semantic net (``segmenter.pt``: sky,
  vegetation, ground, road, car, clutter), trained on the car world's labels by
  ``sam-editor demo train-segmenter``;
* :class:`TorchvisionSemanticSegmenter` — torchvision DeepLabV3-ResNet50 (VOC classes) loaded from a
  local weights file (a named fallback; VOC has one "background" class for sky, road and trees).

Every segmenter has a ``label`` (shown in the window: which segmenter made the segments).
:func:`register_segmenter` adds a named factory to :func:`make_segmenter` (e.g. an ADE20k model).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = [
    "Segmenter",
    "OversegSegmenter",
    "TorchvisionSemanticSegmenter",
    "ClassMapSegmenter",
    "CarWorldSegmenter",
    "CarWorldSegNet",
    "SegmenterFileError",
    "save_carworld_segmenter",
    "register_segmenter",
    "segmenter_names",
    "segmenter_for",
    "relabel_consecutive",
    "connected_components",
    "merge_regions",
    "make_segmenter",
]


class Segmenter(abc.ABC):
    """Splits an image into segments; every pixel gets exactly one segment id."""

    #: short human name of the segment source, shown in the window's map panel
    label: str = "segmenter"

    @abc.abstractmethod
    def segment(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 image (H, W, 3) → int32 label map (H, W) with labels 0..K-1, all used."""


# ----------------------------------------------------------------------------------- helpers


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    return np.ascontiguousarray(image)


def relabel_consecutive(labels: np.ndarray) -> np.ndarray:
    """Renumber arbitrary integer labels to 0..K-1 in raster order of first appearance."""
    flat = np.asarray(labels).ravel()
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # rank of each unique value by first appearance
    return order[inverse].reshape(np.shape(labels)).astype(np.int32)


def connected_components(class_map: np.ndarray) -> np.ndarray:
    """Split a class map into 4-connected components; returns int32 labels 0..K-1."""
    class_map = np.asarray(class_map)
    out = np.zeros(class_map.shape, np.int32)
    offset = 0
    for value in np.unique(class_map):
        mask = (class_map == value).astype(np.uint8)
        n, comp = cv2.connectedComponents(mask, connectivity=4)
        sel = mask.astype(bool)
        out[sel] = comp[sel] + offset - 1
        offset += n - 1
    return relabel_consecutive(out)


def _adjacent_pairs(labels: np.ndarray) -> np.ndarray:
    """Unique unordered pairs (a < b) of 4-adjacent different labels, shape (E, 2)."""
    h = np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1)
    v = np.stack([labels[:-1, :].ravel(), labels[1:, :].ravel()], 1)
    pairs = np.concatenate([h, v], 0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if pairs.size == 0:
        return np.zeros((0, 2), np.int64)
    pairs = np.sort(pairs, 1).astype(np.int64)
    key = np.unique(pairs[:, 0] * (int(labels.max()) + 1) + pairs[:, 1])
    n = int(labels.max()) + 1
    return np.stack([key // n, key % n], 1)


class _RegionGraph:
    """Region adjacency graph of a label map, rebuilt from fixed 4-neighbour pixel pairs.

    Edge cost = ``alpha`` · ‖mean feature difference‖ + (1 − ``alpha``) · mean feature contrast
    across the shared boundary (weak, smooth boundaries such as shading on a car body are cheap
    to cross even when the two regions' means differ).
    """

    def __init__(self, labels: np.ndarray, features: np.ndarray, alpha: float) -> None:
        h, w = labels.shape
        self.feats = features.reshape(h * w, -1).astype(np.float64)
        idx = np.arange(h * w).reshape(h, w)
        self.pa = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
        self.pb = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
        self.contrast = np.linalg.norm(self.feats[self.pa] - self.feats[self.pb], axis=1)
        self.alpha = float(alpha)
        self.update(labels.ravel())

    def update(self, flat_labels: np.ndarray) -> None:
        """Recompute region statistics and edges for consecutive labels ``flat_labels``."""
        self.labels = flat_labels
        k = self.k = int(flat_labels.max()) + 1
        self.counts = np.bincount(flat_labels, minlength=k).astype(np.float64)
        sums = np.stack(
            [np.bincount(flat_labels, self.feats[:, c], minlength=k) for c in range(self.feats.shape[1])], 1
        )
        self.means = sums / np.maximum(self.counts, 1)[:, None]
        la, lb = flat_labels[self.pa], flat_labels[self.pb]
        sel = la != lb
        a, b = np.minimum(la[sel], lb[sel]).astype(np.int64), np.maximum(la[sel], lb[sel]).astype(np.int64)
        if a.size == 0:
            self.ea = self.eb = np.zeros(0, np.int64)
            self.cost = np.zeros(0)
            return
        keys, inv = np.unique(a * k + b, return_inverse=True)
        boundary = np.bincount(inv, self.contrast[sel]) / np.bincount(inv)
        self.ea, self.eb = keys // k, keys % k
        colour = np.linalg.norm(self.means[self.ea] - self.means[self.eb], axis=1)
        self.cost = self.alpha * colour + (1.0 - self.alpha) * boundary

    def best_neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """For every region its cheapest neighbour (itself if isolated; ties → smallest id)."""
        nodes = np.concatenate([self.ea, self.eb])
        others = np.concatenate([self.eb, self.ea])
        costs = np.concatenate([self.cost, self.cost])
        best_cost = np.full(self.k, np.inf)
        np.minimum.at(best_cost, nodes, costs)
        best = np.full(self.k, np.iinfo(np.int64).max)
        tie = costs == best_cost[nodes]
        np.minimum.at(best, nodes[tie], others[tie])
        isolated = best_cost == np.inf
        best[isolated] = np.arange(self.k)[isolated]
        return best, best_cost

    def merge(self, parent: np.ndarray) -> None:
        """Apply a merge forest (``parent[i]`` = region that i joins) and rebuild the graph."""
        roots = parent.copy()
        for _ in range(64):  # pointer jumping; merge forests are acyclic (ties break by id)
            nxt = roots[roots]
            if np.array_equal(nxt, roots):
                break
            roots = nxt
        self.update(relabel_consecutive(roots[self.labels]))


def merge_regions(
    labels: np.ndarray,
    features: np.ndarray,
    *,
    max_cost: float = 0.0,
    min_area: int = 0,
    max_segments: int | None = None,
    alpha: float = 0.5,
    max_rounds: int = 200,
) -> np.ndarray:
    """Agglomerative region-adjacency-graph merging, vectorised in rounds.

    ``labels`` is an int label map and ``features`` a per-pixel (H, W, C) float array (e.g. CIE
    Lab).  Only adjacent regions merge.  (1) Mutual-cheapest pairs with cost < ``max_cost`` merge,
    round after round (a parallel form of greedy pairwise merging); (2) every region smaller than
    ``min_area`` pixels joins its cheapest neighbour; (3) the cheapest mutual pairs merge until at
    most ``max_segments`` regions remain.  Returns consecutive int32 labels.
    """
    shape = np.shape(labels)
    graph = _RegionGraph(relabel_consecutive(labels), np.asarray(features).reshape(*shape, -1), alpha)

    def mutual_round(threshold: float, limit: int | None) -> bool:
        best, cost = graph.best_neighbours()
        ids = np.arange(graph.k)
        pick = (best[best] == ids) & (best > ids) & (cost < threshold)
        if not pick.any():
            return False
        chosen = ids[pick]
        if limit is not None and chosen.size > limit:
            chosen = chosen[np.argsort(cost[chosen], kind="stable")[:limit]]
        parent = ids.copy()
        parent[best[chosen]] = chosen
        graph.merge(parent)
        return True

    def absorb_round(candidates: np.ndarray) -> bool:
        """Every candidate region joins its cheapest neighbour (Borůvka-style round)."""
        best, _cost = graph.best_neighbours()
        ids = np.arange(graph.k)
        candidates = candidates & (best != ids)
        if not candidates.any():
            return False
        parent = ids.copy()
        parent[candidates] = best[candidates]
        # mutually-cheapest pairs form 2-cycles: the smaller id becomes the root
        two = candidates & (parent[parent] == ids) & (ids < parent)
        parent[two] = ids[two]
        graph.merge(parent)
        return True

    if max_cost > 0:
        for _ in range(max_rounds):
            _best, cost = graph.best_neighbours()
            if graph.k <= 1 or not absorb_round(cost < max_cost):
                break
    if min_area > 0:
        for _ in range(max_rounds):
            if graph.k <= 1 or not absorb_round(graph.counts < min_area):
                break
    if max_segments is not None:
        for _ in range(max_rounds):
            excess = graph.k - max_segments
            if excess <= 0 or not mutual_round(np.inf, excess):
                break
    return graph.labels.reshape(shape).astype(np.int32)


def _resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    if labels.shape == (height, width):
        return labels.astype(np.int32)
    return cv2.resize(labels.astype(np.int32), (width, height), interpolation=cv2.INTER_NEAREST)


# ----------------------------------------------------------------------------- over-segmentation


class OversegSegmenter(Segmenter):
    """Weight-free over-segmentation tuned to keep whole objects (a car body, the sky) together.

    Pipeline at ``work_size`` (longest side, default 128 px, the resolution of the finest feature
    mask F10): mean-shift filtering (``cv2.pyrMeanShiftFiltering``) flattens textures; region
    growing with a floating colour tolerance (:meth:`_grow`) gives initial regions (gradients such
    as the sky stay connected); a region adjacency graph (:func:`merge_regions`, CIE-Lab features) then
    merges neighbours whose cost — a mix of mean-colour difference and boundary contrast — is
    below ``merge_cost``, absorbs regions below ``min_area_fraction`` of the image into their
    cheapest neighbour and caps the count at ``max_segments``.  Labels are upsampled with
    nearest-neighbour interpolation.  Defaults were tuned by eye on LSUN/Stanford-style car photos
    (car body one segment, separate from road and sky, 10–40 segments, ~30 ms of CPU at 512×384).
    """

    label = "over-segmentation (colour regions, no classes)"

    def __init__(
        self,
        work_size: int = 128,
        spatial_radius: int = 5,
        color_radius: float = 24.0,
        flood_tolerance: int = 4,
        merge_cost: float = 30.0,
        alpha: float = 0.5,
        min_area_fraction: float = 0.005,
        max_segments: int = 40,
        pyramid_levels: int = 0,
    ) -> None:
        self.work_size = int(work_size)
        self.spatial_radius = int(spatial_radius)
        self.color_radius = float(color_radius)
        self.flood_tolerance = int(flood_tolerance)
        self.merge_cost = float(merge_cost)
        self.alpha = float(alpha)
        self.min_area_fraction = float(min_area_fraction)
        self.max_segments = int(max_segments)
        self.pyramid_levels = int(pyramid_levels)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) → int32 labels (H, W), 0..K-1 (see class docstring)."""
        image = _check_image(image)
        height, width = image.shape[:2]
        scale = min(1.0, self.work_size / max(height, width))
        sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else image
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        filtered = cv2.pyrMeanShiftFiltering(bgr, self.spatial_radius, self.color_radius, maxLevel=self.pyramid_levels)
        labels = self._grow(filtered)
        lab = cv2.cvtColor(filtered, cv2.COLOR_BGR2LAB).astype(np.float32)
        min_area = int(round(self.min_area_fraction * sw * sh))
        labels = merge_regions(
            labels,
            lab,
            max_cost=self.merge_cost,
            alpha=self.alpha,
            min_area=min_area,
            max_segments=self.max_segments,
        )
        return _resize_labels(labels, height, width)

    def _grow(self, filtered_bgr: np.ndarray) -> np.ndarray:
        """Initial regions, a vectorised stand-in for a floating-range flood fill.

        A pixel whose left or upper neighbour differs by more than ``flood_tolerance`` (any
        channel) is a boundary pixel; the boundary is one pixel thick, so 4-connected components
        of the other pixels only join pixels linked by small colour steps (gradients such as the
        sky stay whole).  Boundary pixels start as singletons for the graph merging.
        """
        h, w = filtered_bgr.shape[:2]
        f = filtered_bgr.astype(np.int16)
        edge = np.zeros((h, w), bool)
        edge[:, 1:] |= np.abs(f[:, 1:] - f[:, :-1]).max(-1) > self.flood_tolerance
        edge[1:, :] |= np.abs(f[1:] - f[:-1]).max(-1) > self.flood_tolerance
        n, comp = cv2.connectedComponents((~edge).astype(np.uint8), connectivity=4)
        comp[edge] = n + np.arange(int(edge.sum()))  # boundary pixels start as singletons
        return (comp - 1).astype(np.int32)


# ----------------------------------------------------------------------------- semantic segmenter


class ClassMapSegmenter(Segmenter):
    """A semantic segmenter: ``class_map(image)`` → int32 (H, W) classes; the segments are the
    4-connected components of the class map, components under ``min_area_fraction`` of the image
    joining a neighbour (the most similar one in ``class_features``; by default the one-hot class).
    Subclasses set ``class_names`` and ``min_area_fraction`` and implement ``class_map``."""

    class_names: tuple[str, ...] = ()
    min_area_fraction: float = 0.005

    @abc.abstractmethod
    def class_map(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) → int32 class index per pixel (H, W)."""

    def class_features(self, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(H, W, C) features for merging tiny components; default: the one-hot class ×100."""
        return np.eye(int(classes.max()) + 1, dtype=np.float32)[classes] * 100.0

    def segment(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) → connected components of the class map, int32 0..K-1."""
        classes = self.class_map(image)
        return self.segments_of(classes, self.class_features(image, classes))

    def segments_of(self, classes: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Connected components of ``classes`` with the tiny ones merged into a neighbour."""
        labels = connected_components(classes)
        min_area = int(round(self.min_area_fraction * labels.size))
        if min_area > 0 and labels.max() > 0:
            if features is None:
                features = np.eye(int(classes.max()) + 1, dtype=np.float32)[classes] * 100.0
            labels = merge_regions(labels, features, min_area=min_area, alpha=1.0)
        return labels


class TorchvisionSemanticSegmenter(ClassMapSegmenter):
    """torchvision DeepLabV3-ResNet50 (21 VOC classes, incl. car = 7) from a local weights file.

    ``weights_path`` must point at a state dict of ``deeplabv3_resnet50`` (optionally wrapped in
    ``{"state_dict": ...}`` / ``{"model": ...}``; an ``aux_classifier`` is accepted and ignored).
    Nothing is ever downloaded.  The image is resized so that its shorter side is ``size``,
    normalised with the ImageNet statistics, and the argmax class map is split into connected
    components; components under ``min_area_fraction`` of the image join a neighbour.
    """

    label = "DeepLabV3-VOC (semantic, 21 classes)"
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(
        self,
        weights_path: str | Path,
        *,
        size: int = 256,
        device: str = "cpu",
        num_classes: int = 21,
        min_area_fraction: float = 0.005,
    ) -> None:
        import torch
        from torchvision.models.segmentation import deeplabv3_resnet50

        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"segmentation weights not found: {path} (no download is attempted)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        has_aux = any(k.startswith("aux_classifier.") for k in state)
        with torch.device("meta"):  # no random init; the tensors of the file are adopted
            model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=has_aux)
        model.load_state_dict(state, strict=True, assign=True)
        self.model = model.eval().to(device)
        self.size = int(size)
        self.device = device
        self.min_area_fraction = float(min_area_fraction)

    def class_map(self, image: np.ndarray) -> np.ndarray:
        """Per-pixel VOC class index (H, W) int32 at the input resolution."""
        import torch
        import torch.nn.functional as F

        image = _check_image(image)
        height, width = image.shape[:2]
        scale = self.size / min(height, width)
        sh, sw = max(1, round(height * scale)), max(1, round(width * scale))
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255.0)
        x = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False, antialias=scale < 1)
        mean = torch.tensor(self.MEAN).view(1, 3, 1, 1)
        std = torch.tensor(self.STD).view(1, 3, 1, 1)
        with torch.inference_mode():
            logits = self.model(((x - mean) / std).to(self.device))["out"]
            logits = F.interpolate(logits.float().cpu(), size=(height, width), mode="bilinear", align_corners=False)
        return logits.argmax(1)[0].numpy().astype(np.int32)


# ----------------------------------------------------------------------------- demo semantic net


class SegmenterFileError(ValueError):
    """A segmenter weights file that cannot be used (missing, wrong format, broken tensors)."""


SEGNET_FORMAT = "sam_editor.segmenter/carworld-v1"


def _conv(cin: int, cout: int, dilation: int = 1) -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _segnet_class() -> type:
    """CarWorldSegNet is built lazily so that importing this module does not import torch."""
    global _SEGNET
    if _SEGNET is not None:
        return _SEGNET
    import torch
    import torch.nn.functional as F
    from torch import nn

    class _CarWorldSegNet(nn.Module):
        """A small U-Net: four stride-2 stages (widths ``widths``), a dilated context block at
        1/16, bilinear upsampling with skip connections; input side a multiple of 16."""

        def __init__(self, num_classes: int = 6, widths: tuple[int, ...] = (16, 24, 32, 48, 64)) -> None:
            super().__init__()
            w = tuple(int(v) for v in widths)
            self.widths, self.num_classes = w, int(num_classes)
            self.stem = nn.Sequential(_conv(3, w[0]), _conv(w[0], w[0]))
            self.down = nn.ModuleList(
                nn.Sequential(nn.MaxPool2d(2), _conv(w[i], w[i + 1]), _conv(w[i + 1], w[i + 1])) for i in range(len(w) - 1)
            )
            self.context = nn.Sequential(_conv(w[-1], w[-1], 2), _conv(w[-1], w[-1], 4))
            self.up = nn.ModuleList(_conv(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1)))
            self.head = nn.Conv2d(w[0], self.num_classes, 1)

        def config(self) -> dict[str, Any]:
            return {"num_classes": self.num_classes, "widths": list(self.widths)}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """(N, 3, H, W) in [0, 1] → (N, classes, H, W) logits."""
            skips = [self.stem((x - 0.5) / 0.25)]
            for d in self.down:
                skips.append(d(skips[-1]))
            y = self.context(skips.pop())
            for u in self.up:
                s = skips.pop()
                y = u(torch.cat([F.interpolate(y, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
            return self.head(y)

    _SEGNET = _CarWorldSegNet
    return _SEGNET


_SEGNET: type | None = None


def CarWorldSegNet(num_classes: int = 6, widths: tuple[int, ...] = (16, 24, 32, 48, 64)) -> Any:  # noqa: N802
    """The demo segmenter's network (a small U-Net, ~0.1 M parameters at the default widths)."""
    return _segnet_class()(num_classes, widths)


def save_carworld_segmenter(model: Any, path: str | Path, classes: tuple[str, ...], meta: dict[str, Any] | None = None,
                            work_size: int = 128) -> Path:
    """Write a CarWorldSegNet as float16 weights + config + class names + metadata (atomic)."""
    import io

    import torch

    from sam_editor.util import atomic_write

    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"format": SEGNET_FORMAT, "config": model.config(), "classes": list(classes), "work_size": int(work_size),
                "state_dict": state, "meta": dict(meta or {})}, buf)
    return atomic_write(path, buf.getvalue())


class CarWorldSegmenter(ClassMapSegmenter):
    """The demo bundle's semantic segmenter (``weights/demo/segmenter.pt``).

    The image is resized so that its longer side is the file's ``work_size`` (128: the demo
    generator's resolution), edge-padded to a multiple of 16, classified by the small U-Net
    (:func:`CarWorldSegNet`), and the class probabilities are resized back.  Segments are the
    connected components of the argmax class map; components under ``min_area_fraction`` join the
    neighbour whose mean class probabilities are closest.  Refuses broken files with
    :class:`SegmenterFileError`.
    """

    label = "car-world semantic (demo)"

    def __init__(self, path: str | Path, *, device: str = "cpu", min_area_fraction: float = 0.004) -> None:
        import torch

        path = Path(path)
        if not path.is_file():
            raise SegmenterFileError(f"segmenter weights not found: {path}")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling problem is a broken file
            raise SegmenterFileError(f"{path.name} is not a readable segmenter file ({exc})") from exc
        if not isinstance(ckpt, dict) or ckpt.get("format") != SEGNET_FORMAT:
            fmt = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
            raise SegmenterFileError(f"{path.name} is not a car-world segmenter (format {fmt!r}, expected {SEGNET_FORMAT!r})")
        try:
            cfg = ckpt["config"]
            self.class_names = tuple(str(c) for c in ckpt["classes"])
            if len(self.class_names) != int(cfg["num_classes"]):
                raise ValueError(f"{len(self.class_names)} class names for {cfg['num_classes']} outputs")
            model = CarWorldSegNet(int(cfg["num_classes"]), tuple(cfg["widths"]))
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise SegmenterFileError(f"{path.name}: broken segmenter file ({exc})") from exc
        self.model = model.eval().to(device)
        self.device = device
        self.work_size = int(ckpt.get("work_size", 128))
        self.meta = dict(ckpt.get("meta", {}))
        self.min_area_fraction = float(min_area_fraction)
        self._last: tuple[int, np.ndarray] | None = None

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) → float32 (H, W, classes) softmax probabilities."""
        import torch
        import torch.nn.functional as F

        image = _check_image(image)
        height, width = image.shape[:2]
        scale = self.work_size / max(height, width)
        sh, sw = max(1, round(height * scale)), max(1, round(width * scale))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        ph, pw = -sh % 16, -sw % 16
        small = cv2.copyMakeBorder(small, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REPLICATE)
        x = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None].float().div(255.0)
        with torch.inference_mode():
            logits = self.model(x.to(self.device)).float().cpu()
        logits = logits[:, :, ph // 2 : ph // 2 + sh, pw // 2 : pw // 2 + sw]
        prob = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False).softmax(1)
        return prob[0].permute(1, 2, 0).numpy()

    def class_map(self, image: np.ndarray) -> np.ndarray:
        return self.probabilities(image).argmax(-1).astype(np.int32)

    def segment(self, image: np.ndarray) -> np.ndarray:
        prob = self.probabilities(image)
        return self.segments_of(prob.argmax(-1).astype(np.int32), prob * 100.0)


_FACTORIES: dict[str, Callable[..., Segmenter]] = {}


def register_segmenter(name: str, factory: Callable[..., Segmenter]) -> None:
    """Make ``make_segmenter(name, weights, **kwargs)`` call ``factory(weights, **kwargs)``
    (e.g. an ADE20k model in its own module); a later registration of a name replaces it."""
    _FACTORIES[name] = factory


def segmenter_names() -> list[str]:
    """Every name :func:`make_segmenter` accepts."""
    return ["overseg", "deeplab", "carworld", *_FACTORIES]


def _ade20k(weights: str | Path | None, **kwargs: Any) -> Segmenter:
    """The ADE20k SegFormer (official bundle); ``weights`` its folder, None = the registry's."""
    from .ade20k import Ade20kSegmenter  # torch is imported only when it is asked for

    return Ade20kSegmenter(weights, **kwargs)


register_segmenter("ade20k", _ade20k)


BUNDLE_SEGMENTER_FILE = "segmenter.pt"


def segmenter_for(name: str | None, weights: str | Path | None, predictor_path: str | Path | None) -> Segmenter:
    """The CLI's choice: ``name`` "auto" (or None) = the bundle's semantic ``segmenter.pt`` in the
    predictor's folder when there is one, else the over-segmentation; any other name → make_segmenter."""
    if name in (None, "auto"):
        if predictor_path is not None and (Path(predictor_path).parent / BUNDLE_SEGMENTER_FILE).is_file():
            return CarWorldSegmenter(Path(predictor_path).parent / BUNDLE_SEGMENTER_FILE)
        return OversegSegmenter()
    return make_segmenter(name, weights)


def make_segmenter(name: str = "overseg", weights: str | Path | None = None, **kwargs: Any) -> Segmenter:
    """Factory used by the CLI and the bundle: ``"overseg"``, ``"deeplab"`` (needs ``weights``),
    ``"carworld"`` (the demo net, e.g. ``weights/demo/segmenter.pt``) or a registered name."""
    if name in _FACTORIES:
        return _FACTORIES[name](weights, **kwargs)
    if name == "overseg":
        return OversegSegmenter(**kwargs)
    if name in ("deeplab", "deeplabv3", "torchvision"):
        if weights is None:
            raise ValueError("the deeplab segmenter needs a local weights file (--segmenter-weights)")
        return TorchvisionSemanticSegmenter(weights, **kwargs)
    if name == "carworld":
        if weights is None:
            raise ValueError("the carworld segmenter needs its weights file (the demo bundle's segmenter.pt)")
        return CarWorldSegmenter(weights, **kwargs)
    raise ValueError(f"unknown segmenter {name!r}; expected one of {', '.join(segmenter_names())}")
