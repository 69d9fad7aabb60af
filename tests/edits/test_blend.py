"""Blend-back: the edit's change applied to the photo at its own resolution."""

from __future__ import annotations

import numpy as np
import pytest

from sam_editor.edits.blend import blend_back, soft_reach
from sam_editor.imageio import Placement


def scene(rng: np.random.Generator, photo: tuple[int, int], frame: tuple[int, int]):
    img = rng.integers(0, 256, (*photo, 3), dtype=np.uint8)
    place = Placement.fit(photo, frame)
    recon = rng.integers(0, 256, (*frame, 3), dtype=np.uint8)
    return img, place, recon


def test_no_edit_gives_the_photo_back_bit_for_bit() -> None:
    img, place, recon = scene(np.random.default_rng(0), (300, 400), (32, 32))
    assert np.array_equal(blend_back(img, recon, recon, None, place), img)


def test_pixels_outside_the_reach_are_the_photo_and_inside_take_the_change() -> None:
    rng = np.random.default_rng(1)
    img, place, recon = scene(rng, (300, 400), (32, 32))  # 4:3 photo in a square frame: rows 4…27
    recon //= 2
    edited = recon + 40  # +40 everywhere
    reach = np.zeros((32, 32), bool)
    reach[:, :16] = True  # the edit may act on the left half only
    out = blend_back(img, edited, recon, reach, place)
    assert out.shape == img.shape
    # right of the feathered edge (3σ = 3 frame px = 37.5 photo px past column 200): untouched
    assert np.array_equal(out[:, 245:], img[:, 245:])
    # well inside the reach: photo + the change (the photo's detail is kept, not replaced)
    inside = out[:, :150].astype(int) - img[:, :150]
    unclipped = (img[:, :150] < 200).all(axis=2)
    assert np.abs(inside[unclipped] - 40).max() <= 1


def test_photo_detail_survives_where_the_generator_is_blurry() -> None:
    rng = np.random.default_rng(2)
    img, place, recon = scene(rng, (120, 160), (48, 64))  # 4:3 in 4:3: the box is the frame
    assert place.full
    edited = recon.copy()
    edited[..., 2] = np.clip(edited[..., 2].astype(int) + 30, 0, 255)
    out = blend_back(img, edited, recon, np.ones((48, 64), bool), place)
    # the generator image is 48×64; the output keeps the photo's own per-pixel texture
    hi_freq = lambda a: np.abs(np.diff(a.astype(int), axis=1)).mean()  # noqa: E731
    assert hi_freq(out[..., 0]) == pytest.approx(hi_freq(img[..., 0]), rel=0.05)
    assert out[..., 2].astype(int).mean() > img[..., 2].astype(int).mean() + 15


def test_local_edit_on_a_big_photo_touches_only_its_part() -> None:
    rng = np.random.default_rng(3)
    img, place, recon = scene(rng, (1200, 1600), (48, 64))
    edited = recon.copy()
    edited[20:28, 30:38] = 255 - edited[20:28, 30:38]
    reach = np.zeros((48, 64), bool)
    reach[18:30, 28:40] = True
    out = blend_back(img, edited, recon, reach, place)
    changed = np.nonzero(np.any(out != img, axis=2))
    # 25 photo px per frame px: the change lies within the reach, grown by the 3-px feather
    assert changed[0].min() >= 15 * 25 and changed[0].max() < 33 * 25
    assert changed[1].min() >= 25 * 25 and changed[1].max() < 43 * 25


def test_soft_reach_is_exactly_zero_far_away_and_one_deep_inside() -> None:
    r = np.zeros((40, 40), bool)
    r[10:30, 10:30] = True
    s = soft_reach(r)
    assert s[20, 20] == pytest.approx(1.0) and (s[:, 34:] == 0).all() and (s[:6] == 0).all()
    assert 0 < s[20, 30] < 1


def test_wrong_photo_size_is_an_error() -> None:
    img, place, recon = scene(np.random.default_rng(4), (30, 40), (16, 16))
    with pytest.raises(ValueError, match="placed photo"):
        blend_back(img[:20], recon, recon, None, place)
