"""The demo bundle's semantic segmenter (issue 35): file format and refusals on tiny models,
segments = connected components of the class map with tiny ones merged, and — with the shipped
weights — the car as one segment on held-out renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sam_editor.invertibility.segmenters import (
    CarWorldSegmenter,
    CarWorldSegNet,
    ClassMapSegmenter,
    OversegSegmenter,
    SegmenterFileError,
    make_segmenter,
    register_segmenter,
    save_carworld_segmenter,
    segmenter_for,
    segmenter_names,
)

CLASSES = ("sky", "vegetation", "ground", "road", "car", "clutter")
SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "demo" / "segmenter.pt"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = CarWorldSegNet(len(CLASSES), (4, 4, 6, 6, 8)).eval()
    return save_carworld_segmenter(net, tmp_path / "segmenter.pt", CLASSES, meta={"steps": 0}, work_size=64)


def test_tiny_file_round_trips_and_segments_any_image_size(tiny: Path) -> None:
    seg = CarWorldSegmenter(tiny)
    assert seg.class_names == CLASSES and seg.work_size == 64 and seg.meta == {"steps": 0}
    raw = torch.load(tiny, weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float16 for v in raw.values() if v.is_floating_point())
    rng = np.random.default_rng(0)
    for shape in ((64, 64, 3), (75, 130, 3), (200, 90, 3)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        prob = seg.probabilities(img)
        assert prob.shape == shape[:2] + (len(CLASSES),)
        np.testing.assert_allclose(prob.sum(-1), 1.0, atol=1e-4)
        labels = seg.segment(img)
        assert labels.shape == shape[:2] and labels.dtype == np.int32
        assert set(np.unique(labels)) == set(range(int(labels.max()) + 1))
    assert make_segmenter("carworld", tiny).label == seg.label
    assert isinstance(segmenter_for("auto", None, tiny.parent / "invertibility.pt"), CarWorldSegmenter)
    assert isinstance(segmenter_for("auto", None, tiny.parent / "elsewhere" / "p.pt"), OversegSegmenter)


def test_broken_files_are_refused_clearly(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(SegmenterFileError, match="not found"):
        CarWorldSegmenter(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(SegmenterFileError, match="not a readable segmenter"):
        CarWorldSegmenter(junk)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(tiny.read_bytes()[: tiny.stat().st_size // 2])
    with pytest.raises(SegmenterFileError):
        CarWorldSegmenter(cut)
    ckpt = torch.load(tiny, weights_only=True)
    other = tmp_path / "other.pt"
    torch.save({**ckpt, "format": "sam_editor.invertibility/tiny-v1"}, other)
    with pytest.raises(SegmenterFileError, match="not a car-world segmenter"):
        CarWorldSegmenter(other)
    torch.save({**ckpt, "classes": list(CLASSES[:4])}, other)
    with pytest.raises(SegmenterFileError, match="4 class names for 6 outputs"):
        CarWorldSegmenter(other)
    bad = dict(ckpt["state_dict"])
    bad["head.weight"] = bad["head.weight"][:3]
    torch.save({**ckpt, "state_dict": bad}, other)
    with pytest.raises(SegmenterFileError, match="broken segmenter file"):
        CarWorldSegmenter(other)
    with pytest.raises(ValueError, match="needs its weights"):
        make_segmenter("carworld")


class _Fixed(ClassMapSegmenter):
    min_area_fraction = 0.01

    def __init__(self, classes: np.ndarray) -> None:
        self.classes = classes

    def class_map(self, image: np.ndarray) -> np.ndarray:
        return self.classes


def test_segments_are_components_of_the_class_map_with_specks_merged() -> None:
    classes = np.zeros((100, 100), np.int32)  # sky
    classes[60:] = 3  # road
    classes[40:75, 20:80] = 4  # one car
    classes[50, 30] = classes[52:54, 60:62] = 5  # specks of clutter on the car (< 1 % of the image)
    classes[10:30, 85:95] = 4  # a second, separate car-coloured object: its own segment
    labels = _Fixed(classes).segment(np.zeros((100, 100, 3), np.uint8))
    car = labels[40:75, 20:80]
    assert len(np.unique(car)) == 1  # the car is one segment, the specks joined it
    assert labels[20, 90] != car[0, 0]
    assert len(np.unique(labels)) == 4  # sky, road, car, the other object


def test_registered_segmenters_plug_into_make_segmenter() -> None:
    seen = {}

    def factory(weights, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen["weights"] = weights
        return OversegSegmenter(**kwargs)

    register_segmenter("test-plugin", factory)
    assert "test-plugin" in segmenter_names()
    assert isinstance(make_segmenter("test-plugin", "w.bin", max_segments=5), OversegSegmenter)
    assert seen["weights"] == "w.bin"
    with pytest.raises(ValueError, match="unknown segmenter 'nope'"):
        make_segmenter("nope")


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the demo bundle has no segmenter.pt")
def test_shipped_segmenter_finds_the_car_as_one_segment_on_heldout_renders() -> None:
    """Pooled car IoU > 0.8, and the car's interior (its mask eroded by 2 px, so a boundary a pixel
    off is not a split) lies in one segment (≥ 95 %) for ≥ 80 % of the visible cars."""
    import cv2

    from sam_editor.demo import carworld
    from sam_editor.demo.clutter import cluttered_scene

    seg = CarWorldSegmenter(SHIPPED)
    rng = np.random.default_rng(9_200_000)  # no training or eval stream uses this seed
    inter = union = one = visible = 0
    for _ in range(16):
        img, classes, _ = cluttered_scene(rng, 128)
        car = classes == carworld.CAR
        pred = seg.class_map(img) == carworld.CAR
        inter += (pred & car).sum()
        union += (pred | car).sum()
        interior = cv2.erode(car.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if interior.sum() < 50:  # hidden behind clutter
            continue
        visible += 1
        _, counts = np.unique(seg.segment(img)[interior], return_counts=True)
        one += counts.max() >= 0.95 * interior.sum()
    assert inter / union > 0.8
    assert visible >= 12 and one >= 0.8 * visible
