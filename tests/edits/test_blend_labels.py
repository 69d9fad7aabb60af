"""The invertibility map's segments carried to the photo's resolution by the blend-back's guided
upsampling (`edits.blend.upsample_labels`): what the source view overlays and what a click on a
photo pixel selects."""

from __future__ import annotations

import cv2
import numpy as np

from sam_editor.edits.blend import guided_coefficients, upsample_labels
from sam_editor.imageio import letterbox

from .test_blend import distance_to_edge, two_colour


def disc_labels(inside: np.ndarray, frame: int) -> np.ndarray:
    """The map a segmenter gives at frame size: the disc (segment 1) by majority, on 0."""
    return (cv2.resize(inside.astype(np.float32), (frame, frame), interpolation=cv2.INTER_AREA) > 0.5).astype(np.int32)


def test_the_boundary_follows_the_edge_the_photo_has() -> None:
    # 1024 px photo, 64 px frame: one frame pixel is 16 photo pixels
    photo, _, inside, small, _, place = two_colour(1024, 64, (40, 70, 200))
    labels = disc_labels(inside, 64)
    up = upsample_labels(photo, labels, place, guide=small)
    assert up.shape == (1024, 1024)
    d = distance_to_edge(inside)
    wrong = (up == 1) != inside
    # nearest upsampling of the same map puts the boundary up to ~half a frame pixel (8 photo
    # px) off the rim; the guided labels are right everywhere more than 1 px from it
    nearest = cv2.resize(labels.astype(np.uint8), (1024, 1024), interpolation=cv2.INTER_NEAREST)
    assert ((nearest == 1) != inside)[np.abs(d) > 3].sum() > 1000
    assert wrong[np.abs(d) > 1.5].sum() == 0
    assert wrong.sum() < 0.2 * ((nearest == 1) != inside).sum()


def test_a_noisy_photo_still_gives_one_clean_boundary() -> None:
    photo, _, inside, small, _, place = two_colour(512, 32, (0, 0, 0), noise=8.0)
    up = upsample_labels(photo, disc_labels(inside, 32), place, guide=small)
    d = distance_to_edge(inside)
    wrong = (up == 1) != inside
    assert wrong[np.abs(d) > 3].mean() < 0.002  # noise does not speckle the map


def brute_force(photo: np.ndarray, labels: np.ndarray, place) -> np.ndarray:  # noqa: ANN001
    """Every segment's mask fitted over the whole frame, upsampled by cv2.resize, applied, argmax."""
    rows, cols = place.slices()
    lab = labels[rows, cols]
    small = cv2.resize(photo, (lab.shape[1], lab.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    g = photo.astype(np.float32)
    soft = []
    for k in range(int(lab.max()) + 1):
        coef = guided_coefficients(small, (lab == k).astype(np.float32)[..., None])
        coef[..., :3] /= 255
        big = cv2.resize(coef, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
        soft.append((big[..., :3] * g).sum(-1) + big[..., 3])
    return np.argmax(np.stack(soft), 0)


def test_only_deciding_near_boundaries_is_the_same_as_the_argmax_of_every_mask() -> None:
    rng = np.random.default_rng(5)
    photo = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (400, 300), interpolation=cv2.INTER_NEAREST)
    photo = cv2.GaussianBlur(photo, (0, 0), 3)
    labels = cv2.resize(rng.integers(0, 7, (5, 6)).astype(np.uint8), (32, 32), interpolation=cv2.INTER_NEAREST).astype(np.int32)
    _, place = letterbox(photo, (32, 32))  # 4:3 in a square frame: rows 4…27 are the photo
    up = upsample_labels(photo, labels, place)
    assert np.mean(up != brute_force(photo, labels, place)) < 1e-4  # float rounding of near-ties
    # a window is the same pixels as the whole
    assert np.array_equal(upsample_labels(photo, labels, place, window=(40, 90, 100, 333)), up[40:90, 100:333])
    assert upsample_labels(photo, labels, place, window=(123, 124, 45, 46))[0, 0] == up[123, 45]


def test_one_segment_is_that_segment_everywhere() -> None:
    photo, _, _, small, _, place = two_colour(256, 32, (0, 0, 0))
    assert np.array_equal(upsample_labels(photo, np.full((32, 32), 3), place), np.full((256, 256), 3))
