"""Segmenters used by the refinement step of §3.1."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from sam_editor.invertibility.segmenters import (
    OversegSegmenter,
    connected_components,
    make_segmenter,
    merge_regions,
    relabel_consecutive,
)


def assert_label_contract(labels: np.ndarray, shape: tuple[int, int]) -> None:
    assert labels.dtype == np.int32 and labels.shape == shape
    assert labels.min() == 0
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))


def disc_image(h: int = 384, w: int = 512, noise: float = 0.0) -> np.ndarray:
    img = np.full((h, w, 3), (40, 120, 200), np.uint8)
    cv2.circle(img, (w // 2, h // 2), h // 4, (230, 60, 30), -1, lineType=cv2.LINE_AA)
    if noise:
        img = np.clip(img + np.random.default_rng(0).normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    return img


def car_scene(h: int = 384, w: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Sky gradient over a grey road, a shaded red car body with windows and wheels; body mask."""
    rng = np.random.default_rng(7)
    img = np.zeros((h, w, 3), np.float32)
    horizon = int(h * 0.45)
    t = np.linspace(0, 1, horizon)[:, None]
    img[:horizon] = (1 - t)[..., None] * np.array([70, 130, 220]) + t[..., None] * np.array([170, 200, 235])
    img[horizon:] = (95, 95, 100)
    img[horizon:] += rng.normal(0, 6, (h - horizon, w, 1))
    body = np.zeros((h, w), np.uint8)
    cv2.rectangle(body, (90, 170), (420, 290), 1, -1)
    cv2.rectangle(body, (160, 120), (350, 175), 1, -1)
    shade = np.linspace(1.1, 0.8, h)[:, None]  # light from above
    red = np.stack([200 * shade, 30 * shade, 35 * shade], -1).repeat(w, 1)
    img[body > 0] = red[body > 0]
    windows = np.zeros_like(body)
    cv2.rectangle(windows, (175, 130), (250, 168), 1, -1)
    cv2.rectangle(windows, (262, 130), (335, 168), 1, -1)
    img[windows > 0] = (60, 70, 85)
    for cx in (160, 350):
        cv2.circle(img, (cx, 290), 34, (20, 20, 20), -1)
    body_only = (body > 0) & (windows == 0) & (img.sum(-1) > 100)
    return np.clip(img, 0, 255).astype(np.uint8), body_only


@pytest.mark.parametrize("noise", [0.0, 6.0])
def test_uniform_disc_is_at_most_three_segments(noise: float) -> None:
    img = disc_image(noise=noise)
    labels = OversegSegmenter().segment(img)
    assert_label_contract(labels, img.shape[:2])
    assert labels.max() + 1 <= 3
    inside = labels[192 - 60 : 192 + 60, 256 - 60 : 256 + 60]
    outside = labels[:40]
    assert np.unique(inside).size == 1 and np.unique(outside).size == 1
    assert inside[0, 0] != outside[0, 0]


def test_car_body_stays_one_segment() -> None:
    img, body = car_scene()
    labels = OversegSegmenter().segment(img)
    assert_label_contract(labels, img.shape[:2])
    assert 3 <= labels.max() + 1 <= 40
    body_labels = labels[body]
    main = np.bincount(body_labels).argmax()
    assert np.mean(body_labels == main) > 0.9
    # the car's segment does not leak into the sky or the road
    assert np.mean(labels[:60] == main) < 0.05 and np.mean(labels[-40:] == main) < 0.05


def test_tiny_segments_are_merged_and_count_is_capped() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    img = cv2.resize(img, (512, 384), interpolation=cv2.INTER_NEAREST)  # 384 coloured blocks
    seg = OversegSegmenter(max_segments=40)
    labels = seg.segment(img)
    assert_label_contract(labels, (384, 512))
    assert labels.max() + 1 <= 40
    areas = np.bincount(labels.ravel()) / labels.size
    assert areas.min() >= 0.004  # ≥ ~0.5 % of the image (nearest upsampling rounds)


def test_overseg_speed_512x384() -> None:
    img, _ = car_scene()
    seg = OversegSegmenter()
    seg.segment(img)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        seg.segment(img)
        times.append(time.perf_counter() - t0)
    # target is < 100 ms (see benchmarks/bench_latent_map.py); loose bound for a shared CI box
    assert min(times) < 0.4


def test_merge_regions_absorbs_small_regions_into_neighbours() -> None:
    labels = np.zeros((20, 20), np.int32)
    labels[:, 10:] = 1
    labels[5, 5] = 2  # a one-pixel island inside region 0
    feats = np.zeros((20, 20, 3), np.float32)
    feats[:, 10:] = 100
    feats[5, 5] = 90  # closer in colour to region 1, but only adjacent to region 0
    out = merge_regions(labels, feats, min_area=4)
    assert out.max() + 1 == 2 and out[5, 5] == out[0, 0]


def test_connected_components_and_relabel() -> None:
    classes = np.zeros((10, 10), np.int32)
    classes[:, :3] = 7
    classes[:, 7:] = 7  # two separate blobs of the same class
    labels = connected_components(classes)
    assert labels.max() + 1 == 3
    np.testing.assert_array_equal(relabel_consecutive(np.array([[9, 9], [4, 100]])), [[0, 0], [1, 2]])


def test_make_segmenter_errors() -> None:
    assert isinstance(make_segmenter("overseg"), OversegSegmenter)
    with pytest.raises(ValueError):
        make_segmenter("deeplab")
    with pytest.raises(ValueError):
        make_segmenter("nope")
    with pytest.raises(ValueError):
        OversegSegmenter().segment(np.zeros((4, 4), np.uint8))
