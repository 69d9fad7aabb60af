"""What an export writes, pinned case by case (issue 36, mutation testing of edits/blend.py):
`photo_output` for each view, at the generator's size and at the photo's, with expectations written
by hand (the crop of a numbered frame, the photo itself, properties of bicubic upscaling) and the
lazy inputs asked for only when blending."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sam_editor.edits import blend
from sam_editor.edits.blend import blend_back, guided_coefficients, photo_output, upsample_labels
from sam_editor.imageio import Placement, letterbox

from .test_blend import two_colour
from .test_blend_labels import brute_force

FRAME = (16, 16)
PHOTO = (30, 60)  # letterboxed into rows 4:12 of the 16×16 frame (8 × 16)


def _never():
    raise AssertionError("asked for although nothing is blended")


def _frame() -> np.ndarray:
    """(16, 16, 3) uint8 whose every pixel says where it is: (row, column, row + column)."""
    y, x = np.mgrid[0:16, 0:16]
    return np.stack([y, x, y + x], -1).astype(np.uint8)


def test_placement_of_the_test_photo():
    assert Placement.fit(PHOTO, FRAME).box == (4, 0, 8, 16)


@pytest.mark.parametrize("which", ["source", "reconstruction", "edited"])
def test_at_the_generator_size_every_view_is_its_image_cut_to_the_photo(which):
    place = Placement.fit(PHOTO, FRAME)
    photo = np.zeros((*PHOTO, 3), np.uint8)
    out = photo_output(which, _frame(), photo, _never, _never, place, full_size=False)
    y, x = np.mgrid[4:12, 0:16]
    assert out.shape == (8, 16, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.array_equal(out, np.stack([y, x, y + x], -1).astype(np.uint8))


def test_at_the_photo_size_the_source_is_the_photo_itself():
    place = Placement.fit(PHOTO, FRAME)
    photo = np.random.default_rng(0).integers(0, 256, (*PHOTO, 3), dtype=np.uint8)
    assert photo_output("source", _frame(), photo, _never, _never, place) is photo


def test_the_reconstruction_is_scaled_up_bicubically_to_the_photo():
    """A flat colour stays that colour at any size; a hard edge scaled up bicubically rings (values
    beyond both sides, which linear interpolation never makes), and its middle is the midpoint."""
    place = Placement.fit(PHOTO, FRAME)
    photo = np.zeros((*PHOTO, 3), np.uint8)
    flat = np.full((16, 16, 3), 77, np.uint8)
    up = photo_output("reconstruction", flat, photo, _never, _never, place)
    assert up.shape == (*PHOTO, 3) and (up == 77).all()
    edge = np.full((16, 16, 3), 100, np.uint8)
    edge[:, 8:] = 200  # columns 0-7 | 8-15 of the photo's 8 × 16 box
    up = photo_output("reconstruction", edge, photo, _never, _never, place)
    row = up[15, :, 0].astype(int)  # photo columns: 60 / 16 = 3.75 per frame column, the edge at 30
    assert row[:20].tolist() == [100] * 20 and row[-20:].tolist() == [200] * 20
    assert row.max() > 200 and row.min() < 100  # overshoot on both sides of the edge
    assert (row[:30] <= 150).all() and (row[30:] >= 150).all()
    assert (up == up[:1]).all()  # every row alike: the edge is vertical


def test_edited_at_the_photo_size_is_the_edit_blended_back_with_the_lazy_inputs():
    place = Placement.fit(PHOTO, FRAME)
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (*PHOTO, 3), dtype=np.uint8)
    rec = rng.integers(0, 200, (16, 16, 3), dtype=np.uint8)
    edited = rec + 40
    reach = np.zeros(FRAME, bool)
    reach[4, 0:3] = True  # the box's first row, columns 0-2
    asked: list[str] = []

    def reconstruction():
        asked.append("reconstruction")
        return rec

    def where():
        asked.append("reach")
        return reach

    out = photo_output("edited", edited, photo, reconstruction, where, place)
    assert sorted(asked) == ["reach", "reconstruction"]
    assert np.array_equal(out, blend_back(photo, edited, rec, reach, place))
    assert out.shape == photo.shape and not np.array_equal(out, photo)
    # far from the reach (grown by a frame pixel, then the 3×3 colour model's window) the photo stays
    assert np.array_equal(out[-10:], photo[-10:]) and np.array_equal(out[:, -25:], photo[:, -25:])


# ---- the colour models' caches: keyed by content, reused, at most four fits each ------------------
def _fit_inputs(seed: int):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    delta = rng.normal(0, 30, (12, 14, 3)).astype(np.float32)
    labels = (rng.random((12, 14)) * 3).astype(np.int32)
    return small, delta, labels


def test_the_change_model_cache_is_keyed_by_photo_and_change_and_holds_four_fits():
    small, delta, _ = _fit_inputs(0)
    other_photo, other_delta, _ = _fit_inputs(1)
    first = blend._coefficients(small, delta)
    assert first.dtype == np.float32 and first.shape == (12, 14, 12)
    assert blend._coefficients(small.copy(), delta.copy()) is first  # the same content: the same fit
    # another photo with the same change, the same photo with another change: fitted anew, and equal
    # to what an empty cache gives
    for s, d in ((other_photo, delta), (small, other_delta)):
        got = blend._coefficients(s, d)
        assert got is not first and not np.allclose(got, first)
        blend._CACHE.clear()
        assert np.array_equal(blend._coefficients(s, d), got)
    blend._CACHE.clear()
    fits = [blend._coefficients(*_fit_inputs(seed)[:2]) for seed in range(5)]
    assert len(blend._CACHE) == 4  # the oldest (seed 0) went, the four latest stay
    assert all(blend._coefficients(*_fit_inputs(seed)[:2]) is fits[seed] for seed in (1, 2, 3, 4))
    assert blend._coefficients(*_fit_inputs(0)[:2]) is not fits[0]


def test_the_segment_model_cache_is_keyed_by_photo_and_labels_and_holds_four_fits():
    small, _, labels = _fit_inputs(0)
    other_photo, _, other_labels = _fit_inputs(1)
    first = blend._segment_coefficients(small, labels)
    assert blend._segment_coefficients(small.copy(), labels.copy()) is first
    for s, lab in ((other_photo, labels), (small, other_labels)):
        got = blend._segment_coefficients(s, lab)
        assert got is not first and any(not np.allclose(got[k][2], first[k][2]) for k in first)
    blend._LABEL_CACHE.clear()
    fits = [blend._segment_coefficients(_fit_inputs(seed)[0], _fit_inputs(seed)[2]) for seed in range(5)]
    assert len(blend._LABEL_CACHE) == 4
    assert all(blend._segment_coefficients(_fit_inputs(s)[0], _fit_inputs(s)[2]) is fits[s] for s in (1, 2, 3, 4))
    assert blend._segment_coefficients(_fit_inputs(0)[0], _fit_inputs(0)[2]) is not fits[0]


def test_each_segment_is_fitted_over_its_box_grown_by_four_frame_pixels():
    """Segment k's model covers its bounding box grown by 2·(RADIUS + 1) = 4 frame pixels, clipped to
    the frame; there it equals the fit of the mask labels == k over the whole frame (A per unit of the
    0…255 photo), and the whole-frame fit is exactly 0 outside it."""
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    labels = np.zeros((16, 20), np.int32)
    labels[3:7, 4:10] = 1  # rows 3-6, columns 4-9
    labels[10:15, 12:20] = 2  # rows 10-14, columns 12-19 (the right edge)
    coefs = blend._segment_coefficients(small, labels)
    boxes = {k: (top, left, *c.shape[:2]) for k, (top, left, c) in coefs.items()}
    assert boxes == {0: (0, 0, 16, 20), 1: (0, 0, 11, 14), 2: (6, 8, 10, 12)}
    guide = small.astype(np.float32) / 255
    for k, (top, left, coef) in coefs.items():
        assert coef.dtype == np.float32
        whole = guided_coefficients(guide, (labels == k).astype(np.float32)[..., None])
        whole[..., :3] /= 255
        h, w = coef.shape[:2]
        np.testing.assert_allclose(coef, whole[top : top + h, left : left + w], rtol=0, atol=1e-5)
        outside = np.ones((16, 20), bool)
        outside[top : top + h, left : left + w] = False
        assert (whole[outside] == 0).all()


def test_labels_at_the_photo_size_are_int32_and_refusals_say_why():
    photo, _, inside, small, _, place = two_colour(64, 16, (0, 0, 0))
    labels = np.zeros((16, 16), np.int64)
    labels[4:12, 4:12] = 1
    out = upsample_labels(photo, labels, place)
    assert out.dtype == np.int32 and out.shape == (64, 64) and set(np.unique(out)) == {0, 1}
    with pytest.raises(ValueError, match=r"^photo \(64, 63\) is not the placed photo \(64, 64\)$"):
        upsample_labels(photo[:, :63], labels, place)
    with pytest.raises(ValueError, match=r"^labels \(16, 15\) are not at the frame size \(16, 16\)$"):
        upsample_labels(photo, labels[:, :15], place)


def _islands_scene():
    """A 300×400 photo (blurred colour blocks) letterboxed into a 32² frame (rows 4…27) and a map of
    small segments far from each other — so a segment's grown box ends inside the frame next to other
    segments' boundaries — plus one in the photo's bottom-right corner (its box at the frame's edge)."""
    rng = np.random.default_rng(11)
    photo = cv2.resize(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8), (400, 300), interpolation=cv2.INTER_NEAREST)
    photo = cv2.GaussianBlur(photo, (0, 0), 4)
    labels = np.zeros((32, 32), np.int32)
    labels[:, 18:] = 1  # a vertical boundary between columns 17 and 18
    labels[9:12, 5:8] = 2
    labels[19:22, 24:27] = 3
    labels[25:28, 29:32] = 4  # the photo's last rows are 27
    labels[13:16, 12:15] = 5  # its grown box ends at column 18, on the 1|0 boundary
    return photo, labels


def test_labels_of_small_segments_equal_the_argmax_of_every_mask():
    photo, labels = _islands_scene()
    _, place = letterbox(photo, (32, 32))
    up = upsample_labels(photo, labels, place)
    assert set(np.unique(up)) == {0, 1, 2, 3, 4, 5}
    assert np.mean(up != brute_force(photo, labels, place)) < 1e-4  # float rounding of near-ties
    window = (100, 140, 120, 300)
    assert np.array_equal(upsample_labels(photo, labels, place, window=window), up[100:140, 120:300])


def test_single_pixel_windows_on_pixels_the_colour_decides():
    """A window of one photo pixel near a boundary is decided by colour as in the whole map: pixels
    where the argmax of every mask differs from the nearest frame pixel's label."""
    photo, labels = _islands_scene()
    _, place = letterbox(photo, (32, 32))
    ref = brute_force(photo, labels, place)
    lab = labels[place.slices()]
    (hp, wp), (bh, bw) = photo.shape[:2], lab.shape
    y, x = np.mgrid[0:hp, 0:wp]
    nearest = lab[((2 * y + 1) * bh) // (2 * hp), ((2 * x + 1) * bw) // (2 * wp)]  # the frame pixel holding it
    ys, xs = np.nonzero(ref != nearest)
    assert ys.size > 20
    for i in np.linspace(0, ys.size - 1, 8).astype(int):
        py, px = int(ys[i]), int(xs[i])
        assert upsample_labels(photo, labels, place, window=(py, py + 1, px, px + 1))[0, 0] == ref[py, px]


def test_a_window_around_a_local_edit_is_the_whole_result_cut_out():
    """Window columns 40-149 and rows 10-109 of a 120×160 photo hold a local edit (frame pixels
    20-27 × 30-37 of 48×64, photo columns ~75-95) with photo on every side of it."""
    rng = np.random.default_rng(4)
    photo = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    place = Placement.fit((120, 160), (48, 64))
    rec = rng.integers(0, 200, (48, 64, 3), dtype=np.uint8)
    edited = rec.copy()
    edited[20:28, 30:38] += 50
    whole = blend_back(photo, edited, rec, None, place)
    part = blend_back(photo, edited, rec, None, place, window=(10, 110, 40, 150))
    assert np.array_equal(part, whole[10:110, 40:150])
    changed = np.nonzero((whole != photo).any(axis=2))
    assert changed[1].min() > 40 and changed[1].max() < 149  # the edit lies inside the window


def test_labels_off_the_photo_edges_are_decided_by_colour_as_the_argmax_of_every_mask():
    """The segmenter's boundaries 2/3 of a frame pixel off the photo's colour edges (a 12² map of
    3×3 blocks, the photo the same blocks in flat colours, shifted by 8 and 10 of its 12 px per frame
    pixel): near the boundaries the colour decides, as every mask's argmax does."""
    blocks = np.array([[2, 2, 0], [1, 2, 1], [0, 2, 2]], np.uint8)
    labels = cv2.resize(blocks, (12, 12), interpolation=cv2.INTER_NEAREST)
    big = np.roll(cv2.resize(blocks, (144, 144), interpolation=cv2.INTER_NEAREST), (-10, -8), (0, 1))
    photo = np.array([[220, 5, 138], [20, 76, 123], [108, 103, 7]], np.uint8)[big]
    labels = labels.astype(np.int32)
    place = Placement.fit((144, 144), (12, 12))
    up = upsample_labels(photo, labels, place)
    ref = brute_force(photo, labels, place)
    assert np.mean(up != ref) < 1e-4
    nearest = np.repeat(np.repeat(labels, 12, 0), 12, 1)
    assert (ref != nearest).sum() > 500  # the colour moved the boundaries
