"""Blend-back: the edit's change applied to the photo at its own resolution."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sam_editor.edits.blend import RADIUS, blend_back, guided_coefficients
from sam_editor.imageio import Placement, letterbox


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
    # the colour model's windows reach 2·RADIUS frame px (+1 for the bilinear upsampling) past
    # the reach's edge at frame column 16 (12.5 photo px each): beyond that, untouched
    edge = int((16 + 2 * RADIUS + 1) * 12.5) + 1
    assert np.array_equal(out[:, edge:], img[:, edge:])
    # well inside the reach (windows that see only the +40): photo + the change (detail kept)
    inside = out[:, :120].astype(int) - img[:, :120]
    unclipped = (img[:, :120] < 200).all(axis=2)
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
    # 25 photo px per frame px: the change lies within the changed frame pixels 20…27,
    # grown by the colour model's 2·RADIUS windows and one pixel of bilinear upsampling
    assert changed[0].min() >= 15 * 25 and changed[0].max() < 33 * 25
    assert changed[1].min() >= 25 * 25 and changed[1].max() < 43 * 25


def two_colour(size: int, frame: int, new: tuple[int, int, int], noise: float = 0.0):
    """A photo with a sharp disc of one colour on another, the same disc recoloured (the truth),
    and both as the generator's frame sees them (area-reduced, so the disc's rim pixels mix)."""
    yy, xx = np.mgrid[0:size, 0:size]
    inside = (yy - 0.52 * size) ** 2 + (xx - 0.47 * size) ** 2 < (0.3 * size) ** 2
    photo = np.where(inside[..., None], np.array([190, 40, 36], np.uint8), np.array([90, 140, 70], np.uint8))
    truth = np.where(inside[..., None], np.array(new, np.uint8), photo)
    if noise:
        n = np.random.default_rng(0).normal(0, noise, photo.shape)
        photo, truth = (np.clip(a + n + 0.5, 0, 255).astype(np.uint8) for a in (photo, truth))
    small, place = letterbox(photo, (frame, frame))
    small_truth, _ = letterbox(truth, (frame, frame))
    return photo, truth, inside, small, small_truth, place


def distance_to_edge(inside: np.ndarray) -> np.ndarray:
    """Signed distance (px) to the disc's rim: > 0 inside."""
    m = inside.astype(np.uint8)
    return np.where(inside, cv2.distanceTransform(m, cv2.DIST_L2, 5), -cv2.distanceTransform(1 - m, cv2.DIST_L2, 5))


@pytest.mark.parametrize("with_reach", [False, True])
def test_the_change_stops_at_the_edge_the_photo_has(with_reach: bool) -> None:
    # 1024 px photo, 64 px frame: one frame pixel is 16 photo pixels, and the frame pixels on the
    # rim hold a mix of both colours (so does their change); the photo's own edge is sharp
    photo, truth, inside, small, small_truth, place = two_colour(1024, 64, (40, 70, 200))
    reach = None
    if with_reach:  # the user's selection at frame size: the disc, by majority
        reach = cv2.resize(inside.astype(np.float32), (64, 64), interpolation=cv2.INTER_AREA) > 0.5
    out = blend_back(photo, small_truth, small, reach, place)
    d = distance_to_edge(inside)
    err = np.abs(out.astype(int) - truth).max(axis=2)
    # outside the disc, more than 2 px from its rim: (almost) no change — bicubic upsampling put
    # a halo of up to ±100 levels 16–30 px out here
    assert err[d < -2].max() <= 3
    assert np.percentile(err[d < -2], 99.9) <= 1
    # inside, more than 2 px from the rim: the full new colour
    assert err[d > 2].max() <= 3
    # the change across the rim is as sharp as the photo's edge: within ±2 px it is already
    # at least 80 % done on the right side of the edge
    change = np.abs(out.astype(int) - photo).sum(axis=2) / np.abs(truth.astype(int) - photo).sum(axis=2).max()
    assert np.median(change[(d > 1) & (d <= 2)]) >= 0.8
    assert np.median(change[(d < -1) & (d >= -2)]) <= 0.2


def test_noise_in_the_photo_is_not_amplified_into_speckles() -> None:
    photo, truth, inside, small, small_truth, place = two_colour(512, 64, (40, 70, 200), noise=4.0)
    out = blend_back(photo, small_truth, small, None, place)
    d = distance_to_edge(inside)
    err = out.astype(float) - truth
    # the photo's noise carried over scaled with the colour (blue's channels are near red's
    # levels or below, so at most its own size); away from the rim the error stays at noise level
    assert np.sqrt((err[np.abs(d) > 3] ** 2).mean()) < 4.0


def test_guided_coefficients_recover_a_local_affine_colour_map() -> None:
    rng = np.random.default_rng(5)
    guide = rng.uniform(0, 1, (40, 40, 3)).astype(np.float32)
    m = np.array([[0.5, -0.2, 0.1], [0.0, 0.3, 0.2], [-0.4, 0.1, 0.6]], np.float32)
    target = guide @ m * 255 + np.array([10, -20, 5], np.float32)  # Δ = 255·guide·M + b
    coef = guided_coefficients(guide, target, eps=1e-8)
    np.testing.assert_allclose(coef[..., :9].reshape(40, 40, 3, 3), np.broadcast_to(m * 255, (40, 40, 3, 3)), atol=0.05)
    np.testing.assert_allclose(coef[..., 9:], np.broadcast_to([10, -20, 5], (40, 40, 3)), atol=0.05)
    # no change anywhere: exactly no model
    assert not guided_coefficients(guide, np.zeros_like(target)).any()


def test_wrong_photo_size_is_an_error() -> None:
    img, place, recon = scene(np.random.default_rng(4), (30, 40), (16, 16))
    with pytest.raises(ValueError, match="placed photo"):
        blend_back(img[:20], recon, recon, None, place)


def test_a_window_is_the_same_pixels_as_the_whole_result() -> None:
    # the result view's preview blends only the visible part; it must be the export's pixels
    photo, truth, inside, small, small_truth, place = two_colour(600, 48, (40, 70, 200))
    reach = cv2.resize(inside.astype(np.float32), (48, 48), interpolation=cv2.INTER_AREA) > 0.5
    whole = blend_back(photo, small_truth, small, reach, place)
    for window in ((100, 350, 50, 420), (0, 600, 590, 600), (0, 10, 0, 600)):
        part = blend_back(photo, small_truth, small, reach, place, guide=small, window=window)
        y0, y1, x0, x1 = window
        assert np.array_equal(part, whole[y0:y1, x0:x1])
    with pytest.raises(ValueError, match="no pixels"):
        blend_back(photo, small_truth, small, reach, place, window=(700, 800, 0, 10))


def test_should_stop_abandons_the_blend() -> None:
    photo, truth, inside, small, small_truth, place = two_colour(600, 48, (40, 70, 200))
    assert blend_back(photo, small_truth, small, None, place, should_stop=lambda: True) is None
    assert blend_back(photo, small_truth, small, None, place, should_stop=lambda: False) is not None
