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


# ---- pinned by hand-made maps (issue 36: mutation testing) ------------------------------------
def two_segment_map(tau: float = 0.225) -> LatentMap:
    """2×4 map: segment 0 the left three pixels of the top row, segment 1 the other five;
    segment 0 passes in F4 (0.2), segment 1 in W+ (0.1)."""
    labels = np.array([[0, 0, 0, 1], [1, 1, 1, 1]])
    errors = np.array([[0.5, 0.2, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.1]])
    return LatentMap(labels, errors, tau)


def test_queries_of_a_hand_made_map() -> None:
    lmap = two_segment_map()
    assert lmap.shape == (2, 4) and lmap.num_segments == 2
    assert lmap.segment_at(0, 2) == 0 and lmap.segment_at(0, 3) == 1 and lmap.segment_at(1.0, 0.0) == 1
    assert lmap.segment_areas().tolist() == [3, 5]
    assert lmap.automatic_space(0) is LayerSpace.F4 and lmap.automatic_space(1) is LayerSpace.W_PLUS
    cover = lmap.coverage()
    assert cover[LayerSpace.F4] == 3 / 8 and cover[LayerSpace.W_PLUS] == 5 / 8 and cover[LayerSpace.F10] == 0
    assert lmap.override(1, "F10") is lmap  # in place
    assert lmap.coverage()[LayerSpace.F10] == 5 / 8 and lmap.automatic_space(1) is LayerSpace.W_PLUS
    assert lmap.clear_override(0) is lmap and lmap.overrides == {1: LayerSpace.F10}  # no override of 0: nothing
    assert lmap.clear_override(1).clear_override() is lmap and lmap.overrides == {}
    for bad in (-1, 2):
        with pytest.raises(IndexError, match=rf"segment {bad} out of range 0\.\.1"):
            lmap.space_of_segment(bad)


def test_with_tau_keeps_everything_but_tau() -> None:
    lmap = LatentMap.from_predictions(np.full((5, 2, 3), 0.3), np.array([[0, 0, 1], [1, 1, 1]]), keep_pixels=True)
    assert lmap.pixel_errors.dtype == np.float32 and lmap.pixel_errors.shape == (5, 2, 3)
    lmap.override(0, LayerSpace.F8)
    moved = lmap.with_tau(0.35)
    assert moved is not lmap and moved.tau == 0.35 and lmap.tau == 0.225
    assert moved.pixel_errors is lmap.pixel_errors and moved.overrides == {0: LayerSpace.F8}
    moved.override(1, LayerSpace.F4)
    assert 1 not in lmap.overrides  # the overrides are copied, not shared
    assert LatentMap.from_predictions(np.zeros((5, 2, 3)), np.zeros((2, 3), int)).pixel_errors is None


def test_uniform_map_errors_and_coverage() -> None:
    lmap = LatentMap.uniform((3, 4), "F6", tau=0.3)
    assert lmap.tau == 0.3 and lmap.labels.shape == (3, 4) and not lmap.labels.any()
    assert lmap.segment_errors.tolist() == [[1e9, 1e9, 0.0, 0.0, 0.0]]
    assert lmap.coverage()[LayerSpace.F6] == 1.0


def test_segment_means_of_an_empty_segment_and_shape_errors() -> None:
    labels = np.array([[0, 0, 3], [3, 3, 0]])  # segments 1 and 2 have no pixels
    means = segment_means(np.stack([labels * 0.1, labels * 0.2]), labels)
    assert means.shape == (4, 2)
    np.testing.assert_allclose(means[[0, 3]], [[0.0, 0.0], [0.3, 0.6]])
    assert (means[[1, 2]] == 1e9).all()
    with pytest.raises(ValueError, match=r"error maps \(5, 3, 2\) do not match the label map \(2, 3\)"):
        segment_means(np.zeros((5, 3, 2)), labels)
    with pytest.raises(ValueError, match="expected 5 error maps, got 4"):
        LatentMap.from_predictions(np.zeros((4, 2, 3)), labels)


def test_construction_is_validated() -> None:
    labels = np.array([[0, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"non-empty \(H, W\) array, got \(0, 0\)"):
        LatentMap(np.zeros((0, 0), int), np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r"non-empty \(H, W\) array, got \(4,\)"):
        LatentMap(np.zeros(4, int), np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"must be \(K=2, 5\) for labels 0\.\.1, got \(2, 4\)"):
        LatentMap(labels, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="segment_errors must be"):
        LatentMap(labels - 1, np.zeros((1, 5)))  # negative labels
    for tau in (-0.01, float("inf")):
        with pytest.raises(ValueError, match="tau must be a finite non-negative number"):
            LatentMap(labels, np.zeros((2, 5)), tau)
    assert LatentMap(labels, np.zeros((2, 5)), 0).tau == 0.0  # τ = 0 is allowed
    lmap = LatentMap(labels, np.zeros((2, 5)), overrides={1: "F8", 0.0: LayerSpace.F4})
    assert lmap.overrides == {1: LayerSpace.F8, 0: LayerSpace.F4}
    with pytest.raises(IndexError):
        LatentMap(labels, np.zeros((2, 5)), overrides={2: "F8"})


def test_label_png_depth_and_refusals() -> None:
    import base64

    import cv2

    def depth(labels: np.ndarray) -> np.dtype:
        return cv2.imdecode(np.frombuffer(base64.b64decode(encode_labels(labels)), np.uint8), cv2.IMREAD_UNCHANGED).dtype

    assert depth(np.array([[0, 255]])) == np.uint8 and depth(np.array([[0, 256]])) == np.uint16
    np.testing.assert_array_equal(decode_labels(encode_labels(np.array([[65535, 0]]))), [[65535, 0]])
    assert decode_labels(encode_labels(np.array([[3, 1]]))).dtype == np.int32
    for bad in (np.array([[-1, 2]]), np.array([[0, 65536]])):
        with pytest.raises(ValueError, match=r"^label maps must hold 0\.\.65535$"):
            encode_labels(bad)
    colour_png = base64.b64encode(cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))[1].tobytes()).decode()
    for text in (colour_png, base64.b64encode(b"not a png").decode()):
        with pytest.raises(ValueError, match="^invalid label-map PNG$"):
            decode_labels(text)


def test_json_fields_and_refusals() -> None:
    lmap = two_segment_map(0.3).override(1, LayerSpace.F8).override(0, "W+")
    data = lmap.to_json()
    assert data["format"] == "sam_editor.latent_map" and data["version"] == 1
    assert (data["height"], data["width"]) == (2, 4) and data["tau"] == 0.3
    assert data["spaces"] == ["W+", "F4", "F6", "F8", "F10"]
    assert list(data["overrides"].items()) == [("0", "W+"), ("1", "F8")]
    assert data["segment_errors"] == lmap.segment_errors.tolist()
    back = LatentMap.from_json(json.loads(json.dumps(data)))
    assert back.overrides == lmap.overrides and back.tau == 0.3
    assert LatentMap.from_json({**data, "version": 0}).tau == 0.3  # older versions read
    del data["overrides"]
    assert LatentMap.from_json(data).overrides == {}
    for change, why in (
        ({"format": "x"}, "not a latent map \\(format 'x'\\)"),
        ({"version": 2}, "latent map version 2 is newer than supported \\(1\\)"),
        ({"spaces": ["W+", "F4", "F6", "F10", "F8"]}, "unexpected space list"),
        ({"height": 3}, "^label map size does not match the stored height/width$"),
        ({"width": 5}, "^label map size does not match the stored height/width$"),
    ):
        with pytest.raises(ValueError, match=why):
            LatentMap.from_json({**data, **change})


def test_overlay_is_the_alpha_blend_with_the_space_colours_and_darkened_borders() -> None:
    lmap = two_segment_map()  # segment 0 → F4, segment 1 → W+
    image = (np.arange(2 * 4 * 3).reshape(2, 4, 3) * 6 + 100).astype(np.uint8)

    def assert_rounds(out: np.ndarray, exact: np.ndarray) -> None:  # rounded to the nearest level
        assert out.dtype == np.uint8 and np.abs(out - exact).max() <= 0.5 + 1e-3

    colours = np.array([SPACE_COLORS[LayerSpace.F4]] * 3 + [SPACE_COLORS[LayerSpace.W_PLUS]] * 5, float).reshape(2, 4, 3)
    for alpha in (0.0, 0.3, 1.0):
        blend = (1 - alpha) * image + alpha * colours
        out = lmap.overlay(image, alpha=alpha, boundaries=False)
        assert_rounds(out, blend)
        # a border pixel is the pixel right of or below a change of segment, at 35 %
        border = np.array([[0, 0, 0, 1], [1, 1, 1, 0]], bool)
        expected = np.where(border[..., None], blend * 0.35, blend)
        assert_rounds(lmap.overlay(image, alpha=alpha), expected)
    np.testing.assert_array_equal(lmap.overlay(image, alpha=7.0), lmap.overlay(image, alpha=1.0))
    np.testing.assert_array_equal(lmap.overlay(image, alpha=-1.0, boundaries=False), image)
    # an image twice the size: the map is scaled by nearest neighbour
    big = lmap.overlay(np.zeros((4, 8, 3), np.uint8), alpha=1.0, boundaries=False)
    assert tuple(big[1, 5]) == SPACE_COLORS[LayerSpace.F4] and tuple(big[1, 6]) == SPACE_COLORS[LayerSpace.W_PLUS]
    assert tuple(big[2, 0]) == SPACE_COLORS[LayerSpace.W_PLUS]
    for bad in (np.zeros((2, 4), np.uint8), np.zeros((2, 4, 4), np.uint8)):
        with pytest.raises(ValueError, match=r"expected an RGB image \(H, W, 3\)"):
            lmap.overlay(bad)


def test_legend_labels_and_swatches() -> None:
    assert legend_entries() == [
        ("W+ (most editable)", SPACE_COLORS[LayerSpace.W_PLUS]),
        ("F4", SPACE_COLORS[LayerSpace.F4]),
        ("F6", SPACE_COLORS[LayerSpace.F6]),
        ("F8", SPACE_COLORS[LayerSpace.F8]),
        ("F10 (most faithful)", SPACE_COLORS[LayerSpace.F10]),
    ]
    img = legend_image(row_height=22, width=190)
    assert img.shape == (22 * 5 + 4, 190, 3) and img.dtype == np.uint8
    assert (img[:2] == 255).all() and (img[-2:] == 255).all()  # a white margin above and below
    for i, (_, rgb) in enumerate(legend_entries()):
        y0 = 2 + 22 * i
        # the swatch: x 4…20, y y0+3…y0+19, filled with the space's colour, white around it
        assert (img[y0 + 3 : y0 + 20, 4:21] == rgb).all()
        assert (img[y0 + 2, 4:21] == 255).all() and (img[y0 + 20, 4:21] == 255).all()
        assert (img[y0 + 3 : y0 + 20, 3] == 255).all() and (img[y0 + 3 : y0 + 20, 21] == 255).all()
        # the label: grey-level ink right of the swatch, within its own row, anti-aliased
        ink = img[y0 : y0 + 22, 22:].min(axis=2) < 255
        assert ink.sum() > 20 and (np.ptp(img[y0 : y0 + 22, 22:][ink], axis=1) == 0).all()
        rows = np.nonzero(ink.any(axis=1))[0]
        assert rows.min() >= 3 and rows.max() <= 17  # the text sits on the baseline y0 + 15
        levels = img[y0 : y0 + 22, 22:, 0][ink]
        assert levels.min() < 60 and ((levels > 60) & (levels < 200)).any()
    assert legend_image(row_height=30, width=250).shape == (30 * 5 + 4, 250, 3)
    assert legend_image().shape == (22 * 5 + 4, 190, 3)  # the defaults


def test_tau_scale_clamps_serialises_and_refuses() -> None:
    from sam_editor.invertibility.latent_map import TauScale

    s = TauScale("l2+SSIM", 0.3, 0.12, 0.55, "test")
    assert (s.clamp(0.0), s.clamp(0.2), s.clamp(9), s.clamp("0.4")) == (0.12, 0.2, 0.55, 0.4)
    assert s.to_json() == {"format": "sam_editor.tau", "metric": "l2+SSIM", "tau": 0.3, "range": [0.12, 0.55],
                           "source": "test"}
    assert TauScale("m", 0.0, 0.0, 0.0).default == 0.0  # zero is allowed, and a range of one value
    for args in (("m", float("nan"), 0.0, 1.0), ("m", 0.5, -0.1, 1.0), ("m", 0.5, 0.0, float("inf"))):
        with pytest.raises(ValueError, match="τ values must be finite and non-negative"):
            TauScale(*args)
    for default in (0.1, 0.6):
        with pytest.raises(ValueError, match=rf"τ default {default} outside its range \[0.12, 0.55\]"):
            TauScale("m", default, 0.12, 0.55)


def test_tau_files_source_and_refusals(tmp_path) -> None:
    from sam_editor.invertibility.latent_map import LPIPS_TAU, TauScale, read_tau_scale, tau_scale_beside

    p = tmp_path / "tau.json"
    p.write_text(json.dumps({"format": "sam_editor.tau", "metric": "m", "tau": 0.2, "range": [0.1, 0.3]}))
    assert read_tau_scale(p) == TauScale("m", 0.2, 0.1, 0.3, "tau.json")  # no source: the file's name
    assert tau_scale_beside(None) is LPIPS_TAU
    for text, why in (("[1, 2]", "tau.json is not a τ calibration \\(format None\\)"),
                      ('{"format": "x"}', "tau.json is not a τ calibration \\(format 'x'\\)"),
                      ('{"format": "sam_editor.tau", "tau": 0.2, "range": [0.1, 0.3]}', "tau.json: broken τ calibration")):
        p.write_text(text)
        with pytest.raises(ValueError, match=why):
            read_tau_scale(p)


def test_segment_means_of_an_empty_map_and_no_warning_for_empty_segments() -> None:
    import warnings

    assert segment_means(np.zeros((5, 0, 0)), np.zeros((0, 0), int)).shape == (0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 for a segment without pixels stays quiet
        means = segment_means(np.ones((2, 1, 2)), np.array([[0, 2]]))
    assert means.tolist() == [[1.0, 1.0], [1e9, 1e9], [1.0, 1.0]]
    with pytest.raises(ValueError, match="do not match the label map"):
        segment_means(np.zeros((3, 4)), np.zeros(4, int))  # maps of a 1-D "image"


def test_dtypes_and_json_without_optional_fields() -> None:
    lmap = LatentMap(np.array([[0, 1]], np.int64), np.zeros((2, 5), np.float32))
    assert lmap.labels.dtype == np.int32 and lmap.segment_errors.dtype == np.float64
    data = lmap.to_json()
    del data["version"]  # files written before the version field
    del data["overrides"]
    back = LatentMap.from_json(data)
    assert back.overrides == {} and back.segment_errors.dtype == np.float64 and back.labels.dtype == np.int32


def test_a_failed_png_encoding_is_reported(monkeypatch) -> None:
    import sam_editor.invertibility.latent_map as lm

    monkeypatch.setattr(lm.cv2, "imencode", lambda *a, **k: (False, None))
    with pytest.raises(RuntimeError, match="^PNG encoding of the label map failed$"):
        encode_labels(np.zeros((2, 2), int))


def test_borders_of_three_segments_and_the_default_alpha() -> None:
    labels = np.array([[0, 1, 1], [2, 2, 1], [2, 2, 1]])
    lmap = LatentMap(labels, np.zeros((3, 5)))  # every segment in W+
    image = np.full((3, 3, 3), 200, np.uint8)
    # a border pixel: right of or below a change of segment (worked out by hand)
    border = np.array([[0, 1, 0], [1, 1, 1], [0, 0, 1]], bool)
    flat = lmap.overlay(image, alpha=0.0)
    assert (flat[border] == 70).all() and (flat[~border] == 200).all()  # 200 · 0.35 = 70
    np.testing.assert_array_equal(lmap.overlay(image), lmap.overlay(image, alpha=0.5))


def test_an_empty_label_map_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        LatentMap.from_predictions(np.zeros((5, 0, 0)), np.zeros((0, 0), int))


def test_consecutive_labels_are_kept_as_the_segmenter_numbered_them() -> None:
    labels = np.array([[0, 2], [1, 1]])  # consecutive, but not in order of first appearance
    errors = np.stack([labels * 0.1] * 5)
    lmap = LatentMap.from_predictions(errors, labels)
    np.testing.assert_array_equal(lmap.labels, labels)
    np.testing.assert_allclose(lmap.segment_errors[:, 0], [0.0, 0.1, 0.2])


def test_legend_labels_sit_at_their_place_with_thin_strokes():
    """Each label is drawn 1 px thick at scale 0.42, starting 4 px right of the row's swatch cell
    (x = row_height + 4) on the baseline row_height − 7 below the row's top: the same label drawn
    alone at that place on a white canvas is found, pixel for pixel, in the legend (a label moved
    by one pixel, drawn 2 px thick, or with cv2.LINE_AA taken as its thickness is not)."""
    import cv2

    for row_height, width in ((22, 190), (30, 250)):
        img = legend_image(row_height=row_height, width=width)
        for i, (text, _) in enumerate(legend_entries()):
            y0 = 2 + i * row_height
            alone = np.full((row_height, width, 3), 255, np.uint8)
            cv2.putText(alone, text, (row_height + 4, row_height - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (0, 0, 0), thickness=1, lineType=cv2.LINE_AA)  # fmt: skip
            cols = slice(row_height, width)  # right of the swatch
            np.testing.assert_array_equal(img[y0 : y0 + row_height, cols], alone[:, cols], err_msg=text)
            ink = alone[:, cols].min(axis=2) < 128
            assert ink.any() and ink.sum() < 0.25 * ink.size  # a thin label, not a blot
