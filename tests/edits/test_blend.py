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


def grown_by_one(reach: np.ndarray) -> np.ndarray:
    """The reach grown by one frame pixel (3×3 maximum), written without OpenCV."""
    r = np.pad(reach.astype(np.float64), 1)
    h, w = reach.shape
    return np.max([r[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)


def reference_blend(photo, edited, recon, reach, place) -> np.ndarray:
    """blend_back written the plain way (module doc): the colour model's coefficients upsampled to
    the whole photo with cv2.resize's own bilinear interpolation and applied to every pixel,
    y = photo + A · photo/255 + b, rounded half up — no bounds, strips or taps of its own."""
    rows, cols = place.slices()
    delta = edited.astype(np.float64) - recon
    if reach is not None:
        delta *= grown_by_one(reach)[..., None]
    delta = np.ascontiguousarray(delta[rows, cols], np.float32)
    (hp, wp), (bh, bw) = photo.shape[:2], delta.shape[:2]
    small = cv2.resize(photo, (bw, bh), interpolation=cv2.INTER_AREA)
    coef = guided_coefficients(small.astype(np.float32) / 255, delta)
    up = cv2.resize(coef, (wp, hp), interpolation=cv2.INTER_LINEAR)
    g = photo.astype(np.float32)
    out = g + up[..., 9:]
    for c in range(3):  # A's row c: the change per unit of photo channel c, in three outputs
        out += g[..., c : c + 1] / 255 * up[..., 3 * c : 3 * c + 3]
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def assert_same_pixels(out: np.ndarray, ref: np.ndarray) -> None:
    """Equal but for float rounding: at most 1 level, on at most 1 pixel in 10⁴."""
    diff = np.abs(out.astype(int) - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4


@pytest.mark.parametrize(
    "photo_size, frame",
    [((1200, 1600), (48, 64)), ((700, 1000), (64, 64))],  # 25 photo px per frame px; letterboxed, 15.6
)
def test_local_edit_on_a_big_photo_touches_only_its_part(photo_size, frame) -> None:
    rng = np.random.default_rng(3)
    img, place, recon = scene(rng, photo_size, frame)
    edited = recon.copy()
    edited[20:28, 30:38] = 255 - edited[20:28, 30:38]
    reach = np.zeros(frame, bool)
    reach[18:30, 28:40] = True
    out = blend_back(img, edited, recon, reach, place)
    # the values: those of the whole-photo reference (the rows and columns blend_back picks are
    # the ones the change reaches, the taps are cv2.resize's)
    assert_same_pixels(out, reference_blend(img, edited, recon, reach, place))
    # the change lies within the changed frame pixels 20…27, grown by the colour model's
    # 2·RADIUS windows and one pixel of bilinear upsampling
    t, left, _, _ = place.box
    sy, sx = photo_size[0] / place.box[2], photo_size[1] / place.box[3]
    changed = np.nonzero(np.any(out != img, axis=2))
    assert changed[0].min() >= (15 - t) * sy and changed[0].max() < (33 - t) * sy
    assert changed[1].min() >= (25 - left) * sx and changed[1].max() < (43 - left) * sx
    # and inside the inverted block the photo really took the change: ~ 255 − 2·photo there
    # (the reconstruction is noise, so the colour model carries mostly its mean change)
    assert (out != img).any(axis=2)[int((22 - t) * sy) : int((26 - t) * sy), int((32 - left) * sx)].all()


@pytest.mark.parametrize("reach_kind", ["none", "bool", "soft"])
def test_an_edit_up_to_the_photo_edges_equals_the_reference(reach_kind: str) -> None:
    # the change reaches every edge of a letterboxed, non-integer-ratio photo: the outermost
    # rows and columns (clamped taps) and the last frame row of the box
    rng = np.random.default_rng(11)
    img, place, recon = scene(rng, (230, 370), (32, 32))
    recon //= 2
    edited = np.clip(recon.astype(int) + rng.integers(-60, 61, recon.shape), 0, 255).astype(np.uint8)
    reach = {
        "none": None,
        "bool": rng.random((32, 32)) < 0.5,
        "soft": rng.random((32, 32)).astype(np.float32),
    }[reach_kind]
    out = blend_back(img, edited, recon, reach, place)
    assert_same_pixels(out, reference_blend(img, edited, recon, reach, place))


def test_a_photo_smaller_than_the_frame_equals_the_reference() -> None:
    # a screen-sized preview of a photo can have fewer pixels than the generator's frame
    rng = np.random.default_rng(14)
    img, place, recon = scene(rng, (27, 40), (48, 64))
    edited = recon.copy()
    edited[30:40, 20:30] = 255 - edited[30:40, 20:30]
    out = blend_back(img, edited, recon, None, place)
    assert_same_pixels(out, reference_blend(img, edited, recon, None, place))
    assert (out != img).any() and (out[:10] == img[:10]).all()


def test_a_change_of_one_level_is_applied_and_a_window_beside_it_is_the_photo() -> None:
    rng = np.random.default_rng(12)
    img = rng.integers(0, 200, (120, 160, 3), dtype=np.uint8)
    place = Placement.fit((120, 160), (48, 64))
    recon = rng.integers(0, 200, (48, 64, 3), dtype=np.uint8)
    edited = recon.copy()
    edited[:, :20] += 1  # the gentlest edit there is: +1 level on the left
    out = blend_back(img, edited, recon, None, place)
    assert_same_pixels(out, reference_blend(img, edited, recon, None, place))
    assert (out[:, :40].astype(int) - img[:, :40] == 1).mean() > 0.95
    # a window on the same rows right of everything the change reaches: the photo, untouched
    assert np.array_equal(blend_back(img, edited, recon, None, place, window=(0, 120, 100, 160)), img[:, 100:])


def test_darkening_and_brightening_saturate_instead_of_wrapping_around() -> None:
    img = np.full((96, 128, 3), 30, np.uint8)
    img[:, 64:] = 230
    place = Placement.fit((96, 128), (24, 32))
    recon = cv2.resize(img, (32, 24), interpolation=cv2.INTER_AREA)
    darker = np.clip(recon.astype(int) - 100, 0, 255).astype(np.uint8)  # 30 → 0, 230 → 130
    brighter = np.clip(recon.astype(int) + 100, 0, 255).astype(np.uint8)  # 30 → 130, 230 → 255
    out = blend_back(img, darker, recon, None, place)
    assert (out[:, :56] == 0).all() and (out[:, 72:] == 130).all()  # no 30 − 100 + 256 = 186
    out = blend_back(img, brighter, recon, None, place)
    assert (out[:, :56] == 130).all() and (out[:, 72:] == 255).all()  # no 230 + 100 − 256 = 74


def test_the_colour_model_is_fitted_to_each_photo_not_reused_for_the_same_change() -> None:
    # two photos, the same change: the second blend must not reuse the first one's colour model
    rng = np.random.default_rng(13)
    place = Placement.fit((64, 64), (16, 16))
    recon = rng.integers(0, 200, (16, 16, 3), dtype=np.uint8)
    edited = recon.copy()
    edited[..., 0] += 40
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = 255 - a
    for photo in (a, b, a):
        assert_same_pixels(blend_back(photo, edited, recon, None, place), reference_blend(photo, edited, recon, None, place))


def test_windows_are_clipped_to_the_photo() -> None:
    photo, _, _, _, small_truth, _ = two_colour(300, 32, (40, 70, 200))
    photo = np.ascontiguousarray(photo[:, :200])  # a 300×200 photo: rows and columns differ
    place = Placement.fit((300, 200), (32, 32))
    small, _ = letterbox(photo, (32, 32))
    whole = blend_back(photo, small_truth, small, None, place)
    part = blend_back(photo, small_truth, small, None, place, window=(-40, 10_000, 150, 10_000))
    assert np.array_equal(part, whole[:, 150:])
    assert np.array_equal(blend_back(photo, small_truth, small, None, place, window=(250, 400, -9, 30)), whole[250:, :30])
    for window in ((-20, -5, 0, 10), (0, 10, -20, -5), (0, 10, 250, 400), (300, 310, 0, 10), (5, 5, 0, 10)):
        with pytest.raises(ValueError, match="no pixels of the 300×200 photo"):
            blend_back(photo, small_truth, small, None, place, window=window)


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


def window_fit(guide: np.ndarray, target: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """The guided-filter coefficients the slow way: for every pixel, a ridge regression of the
    target on the guide over its (2·radius + 1)² window (edges mirrored, the edge pixel repeated:
    cv2.BORDER_REFLECT), A = (Cov(I) + eps·1)⁻¹ Cov(I, p), b = mean p − mean I · A."""
    h, w = guide.shape[:2]
    gi = np.pad(guide.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="symmetric")
    tp = np.pad(target.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="symmetric")
    n = 2 * radius + 1
    out = np.zeros((h, w, 12))
    for y in range(h):
        for x in range(w):
            i = gi[y : y + n, x : x + n].reshape(-1, 3)
            p = tp[y : y + n, x : x + n].reshape(-1, 3)
            ic, pc = i - i.mean(0), p - p.mean(0)
            a = np.linalg.solve(ic.T @ ic / len(i) + eps * np.eye(3), ic.T @ pc / len(i))
            out[y, x] = np.concatenate([a.ravel(), p.mean(0) - i.mean(0) @ a])
    return out


@pytest.mark.parametrize("radius, eps", [(1, 3e-4), (2, 1e-2)])
def test_guided_coefficients_are_a_ridge_fit_in_each_window(radius: int, eps: float) -> None:
    rng = np.random.default_rng(6)
    guide = rng.uniform(0, 1, (9, 11, 3)).astype(np.float32)
    target = rng.normal(0, 20, (9, 11, 3)).astype(np.float32)
    target[:, :5] = 0  # no change on the left …
    target[4, 0] = (0.5, 0, 0)  # … but half a level here: a change all the same
    target[:, 8] = 0
    coef = guided_coefficients(guide, target, radius, eps)
    expected = window_fit(guide, target, radius, eps)
    np.testing.assert_allclose(coef, expected, rtol=2e-3, atol=2e-3 * np.abs(expected).max())
    # pixels whose window sees no change get exactly no model; every other one gets one
    sees = np.zeros((9, 11), bool)
    for y, x in zip(*np.nonzero(np.abs(target).max(axis=2) > 0), strict=True):
        sees[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = True
    assert not coef[~sees].any()
    assert (np.abs(coef[sees]).max(axis=1) > 0).all()


def test_different_edit_and_reconstruction_sizes_are_an_error() -> None:
    img, place, recon = scene(np.random.default_rng(4), (30, 40), (16, 16))
    with pytest.raises(ValueError, match=r"edited \(16, 12, 3\) and reconstruction \(16, 16, 3\) differ in size"):
        blend_back(img, recon[:, :12], recon, None, place)


def test_wrong_photo_size_is_an_error() -> None:
    img, place, recon = scene(np.random.default_rng(4), (30, 40), (16, 16))
    with pytest.raises(ValueError, match=r"photo \(20, 40\) is not the placed photo \(30, 40\)"):
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


def test_segment_labels_are_refitted_for_another_map_of_the_same_photo() -> None:
    # the label cache is keyed by the map too: the same photo with its segments swapped around
    from sam_editor.edits.blend import upsample_labels

    photo, _, inside, small, _, place = two_colour(256, 32, (0, 0, 0))
    disc = (cv2.resize(inside.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA) > 0.5).astype(np.int32)
    a = upsample_labels(photo, disc, place, guide=small)
    b = upsample_labels(photo, 1 - disc, place, guide=small)
    assert np.array_equal(b, 1 - a) and (a == 1).any() and (a == 0).any()
