"""LatentMap: refinement (§3.1), threshold selection (§3.2), overrides, masks, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sam_editor.gan.layers import LayerSpace
from sam_editor.invertibility.latent_map import (
    SPACE_COLORS,
    LatentMap,
    decode_labels,
    encode_labels,
    legend_entries,
    legend_image,
    segment_means,
    select_spaces,
)

SPACES = list(LayerSpace)


def blocky_labels(rng: np.random.Generator, h: int = 60, w: int = 80, k: int = 12) -> np.ndarray:
    coarse = rng.integers(0, k, (6, 8))
    labels = np.kron(coarse, np.ones((h // 6, w // 8), int))
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(h, w)


def random_map(seed: int = 0, tau: float = 0.225) -> LatentMap:
    rng = np.random.default_rng(seed)
    labels = blocky_labels(rng)
    errors = rng.uniform(0.0, 0.5, (5,) + labels.shape)
    return LatentMap.from_predictions(errors, labels, tau)


def test_segment_means_match_manual_average() -> None:
    rng = np.random.default_rng(3)
    labels = blocky_labels(rng)
    errors = rng.uniform(0, 1, (5,) + labels.shape)
    means = segment_means(errors, labels)
    for k in range(labels.max() + 1):
        np.testing.assert_allclose(means[k], errors[:, labels == k].mean(1))


def test_refinement_assigns_one_space_per_segment_by_the_paper_rule() -> None:
    lmap = random_map(1)
    smap = lmap.space_map()
    assert smap.shape == lmap.shape
    for k in range(lmap.num_segments):
        values = np.unique(smap[lmap.labels == k])
        assert values.size == 1
        means = lmap.segment_errors[k]
        passing = [s for s in SPACES if means[s.rank] <= lmap.tau]
        expected = passing[0] if passing else LayerSpace.F10  # most editable passing, F10 fallback
        assert values[0] == expected.rank == lmap.space_of_segment(k).rank


def test_select_spaces_fallback_and_order() -> None:
    errs = np.array(
        [
            [0.1, 0.1, 0.1, 0.1, 0.1],  # everything passes → W+
            [0.9, 0.3, 0.2, 0.1, 0.05],  # F6 is the most editable passing (≤ 0.2)
            [0.9, 0.9, 0.9, 0.9, 0.9],  # nothing passes → F10
            [0.9, 0.1, 0.9, 0.1, 0.9],  # non-monotone errors: F4
        ]
    )
    assert select_spaces(errs, 0.2).tolist() == [0, 2, 4, 1]


def test_raising_tau_never_makes_a_segment_less_editable() -> None:
    lmap = random_map(2)
    previous = None
    for tau in np.linspace(0.0, 0.6, 61):
        ranks = lmap.with_tau(float(tau)).segment_ranks()
        if previous is not None:
            assert np.all(ranks <= previous)
        previous = ranks
    assert np.all(previous == 0)  # above every error: all W+


def test_masks_partition_the_image_and_include_w_plus() -> None:
    for tau in (0.1, 0.225, 0.4):
        lmap = random_map(4, tau)
        masks = lmap.masks()
        assert list(masks) == SPACES
        stack = np.stack([masks[s] for s in SPACES])
        assert stack.dtype == bool and stack.shape == (5,) + lmap.shape
        assert np.all(stack.sum(0) == 1)
        cover = lmap.coverage()
        assert sum(cover.values()) == pytest.approx(1.0)


def test_overrides_survive_tau_changes_and_json_round_trip(tmp_path) -> None:
    lmap = random_map(5)
    lmap.override(3, LayerSpace.F8).override(7, "W+")
    for tau in (0.1, 0.3, 0.4):
        moved = lmap.with_tau(tau)
        assert moved.space_of_segment(3) is LayerSpace.F8
        assert moved.space_of_segment(7) is LayerSpace.W_PLUS
        assert np.all(moved.space_map()[moved.labels == 3] == LayerSpace.F8.rank)
    path = lmap.with_tau(0.3).save(tmp_path / "map.json")
    loaded = LatentMap.load(path)
    assert loaded.tau == 0.3
    assert loaded.overrides == {3: LayerSpace.F8, 7: LayerSpace.W_PLUS}
    np.testing.assert_array_equal(loaded.labels, lmap.labels)
    np.testing.assert_array_equal(loaded.segment_errors, lmap.segment_errors)
    np.testing.assert_array_equal(loaded.space_map(), lmap.with_tau(0.3).space_map())
    loaded.clear_override(3)
    assert loaded.space_of_segment(3) is loaded.automatic_space(3)
    loaded.clear_override()
    assert loaded.overrides == {}
    data = json.loads(path.read_text())
    assert "labels_png" in data and isinstance(data["labels_png"], str)


def test_invalid_inputs_are_rejected() -> None:
    lmap = random_map(6)
    with pytest.raises(IndexError):
        lmap.override(lmap.num_segments, LayerSpace.F4)
    with pytest.raises(ValueError):
        lmap.with_tau(float("nan"))
    with pytest.raises(ValueError):
        LatentMap(np.zeros((4, 4), np.int32), np.zeros((2, 5)))
    with pytest.raises(ValueError):
        LatentMap.from_json({"format": "something-else"})


def test_uniform_map_is_one_space_for_every_tau() -> None:
    for space in SPACES:
        lmap = LatentMap.uniform((10, 12), space)
        for tau in (0.0, 0.1, 0.4, 5.0):
            masks = lmap.with_tau(tau).masks()
            assert masks[space].all()
            assert sum(m.sum() for m in masks.values()) == 120


def test_label_png_round_trip_beyond_256_labels() -> None:
    labels = np.arange(40 * 30).reshape(40, 30) % 700
    np.testing.assert_array_equal(decode_labels(encode_labels(labels)), labels)
    small = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(decode_labels(encode_labels(small)), small)


def test_noncontiguous_labels_are_relabelled() -> None:
    labels = np.array([[5, 5, 9], [9, 9, 2]])
    lmap = LatentMap.from_predictions(np.zeros((5, 2, 3)), labels)
    assert lmap.num_segments == 3 and lmap.labels.max() == 2


def test_overlay_uses_the_fixed_space_colours() -> None:
    lmap = LatentMap.uniform((20, 30), LayerSpace.F6)
    image = np.zeros((20, 30, 3), np.uint8)
    out = lmap.overlay(image, alpha=1.0, boundaries=False)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3)
    assert tuple(out[5, 5]) == SPACE_COLORS[LayerSpace.F6]
    half = lmap.overlay(np.full((40, 60, 3), 200, np.uint8), alpha=0.5)  # resized to the image
    assert half.shape == (40, 60, 3)
    assert len({c for _, c in legend_entries()}) == 5
    assert legend_image().dtype == np.uint8
