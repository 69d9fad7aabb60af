"""Car world (demo GAN training data) and clutter (hard test regions): properties, not snapshots."""

from __future__ import annotations

import dataclasses
import glob
import json

import cv2
import numpy as np
import pytest
import torch

from sam_editor.demo import carworld as cw
from sam_editor.demo import clutter as cl

SHARED_PHOTOS = sorted(glob.glob("/work/shared/photos/cars/*.png"))


def _params(seed: int) -> cw.SceneParams:
    return cw.sample_params(np.random.default_rng(seed))


def test_render_shape_dtype_and_size() -> None:
    p = _params(0)
    for size in (32, 64, 128):
        img = cw.render(p, size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert img.std() > 10  # a scene, not a flat fill


def test_same_seed_same_scene_other_seed_other_scene() -> None:
    imgs_a, params_a = cw.batch(np.random.default_rng(7), 4, 64)
    imgs_b, params_b = cw.batch(np.random.default_rng(7), 4, 64)
    imgs_c, params_c = cw.batch(np.random.default_rng(8), 4, 64)
    assert params_a == params_b and np.array_equal(imgs_a, imgs_b)
    assert params_a != params_c and not np.array_equal(imgs_a, imgs_c)
    assert np.array_equal(cw.render(params_a[0], 64), imgs_a[0])  # render is a pure function of params


def test_different_seeds_give_visibly_different_images() -> None:
    imgs = [cw.render(_params(s), 64).astype(np.int16) for s in range(8)]
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            assert np.abs(imgs[i] - imgs[j]).mean() > 4, (i, j)


def test_sampler_covers_every_caption_word_and_view() -> None:
    rng = np.random.default_rng(0)
    ps = [cw.sample_params(rng) for _ in range(400)]
    assert {p.body_type for p in ps} == set(cw.BODY_TYPES)
    assert {p.colour_name for p in ps} == set(cw.COLOURS)
    assert {p.view for p in ps} == set(cw.VIEWS)
    assert {p.sky_name for p in ps} == set(cw.SKIES)
    assert {p.road_name for p in ps} == set(cw.ROADS)
    assert len({p.colour_rgb for p in ps}) > 200  # colours are jittered, not 10 fixed values
    assert all((p.yaw_deg > 0) == (p.view == "three-quarter") for p in ps)


def test_car_is_inside_the_frame_and_fills_a_moderate_width() -> None:
    for seed in range(16):
        m = cw.car_mask(_params(seed), 128)
        assert m.dtype == bool and m.shape == (128, 128)
        assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()), seed
        cols = np.nonzero(m.any(0))[0]
        width = (cols.max() - cols.min() + 1) / 128
        assert 0.4 <= width <= 0.85, (seed, width)
        rows = np.nonzero(m.any(1))[0]
        assert rows.min() > 10 and m.mean() > 0.04, seed


def test_car_position_varies_enough_for_a_move_edit() -> None:
    # GANSpace can only find a "move the car" component if position is a real factor of
    # variation in the training data (at ±7 px std the GAN learnt ±3 px and no component moved it).
    rng = np.random.default_rng(1)
    centres = []
    for _ in range(200):
        cols = np.nonzero(cw.car_mask(cw.sample_params(rng), 128).any(0))[0]
        centres.append((cols.min() + cols.max()) / 2)
    assert np.std(centres) > 10.0
    lo, hi = np.percentile(centres, [10, 90])
    assert lo < 52 and hi > 76, (lo, hi)


def test_mask_covers_the_car_and_nothing_else() -> None:
    for seed in range(8):
        p = _params(seed)
        img, mask = cw.render_with_mask(p, 128)
        assert np.array_equal(img, cw.render(p, 128))  # the label pass doesn't alter the picture
        plate = cw.render(p, 128, car=False).astype(np.int16)
        diff = img.astype(np.int16) - plate
        changed = np.abs(diff).max(-1) > 12
        assert changed[mask].mean() > 0.9, seed  # mask pixels really show the car
        far = ~cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert diff[far].max() <= 2, seed  # away from the car only the (darkening) shadow differs


def test_mask_parts_are_disjoint_pieces_of_the_car() -> None:
    p = _params(3)
    car = cw.car_mask(p, 128, "car")
    parts = {k: cw.car_mask(p, 128, k) for k in ("paint", "glass", "wheels")}
    for name, m in parts.items():
        assert m.sum() > 20, name
        assert not (m & ~car).any(), name
    assert not (parts["paint"] & parts["glass"]).any() and not (parts["paint"] & parts["wheels"]).any()
    with pytest.raises(ValueError):
        cw.car_mask(p, 128, "roof")


def test_mirrored_views_face_opposite_ways() -> None:
    p = dataclasses.replace(_params(4), view="side-right", yaw_deg=0.0, center_x=0.5)
    right = cw.car_mask(p, 128, "car")
    left = cw.car_mask(dataclasses.replace(p, view="side-left"), 128, "car")
    assert not np.array_equal(left, right)
    assert (left ^ right[:, ::-1]).mean() < 0.01  # the same car, mirrored about the centre


def test_caption_colour_matches_the_paint_pixels() -> None:
    names = list(cw.COLOURS)
    palette = np.array([cw.COLOURS[n] for n in names], np.float64) * 0.85  # side panels are shaded
    rng = np.random.default_rng(11)
    for _ in range(60):
        p = cw.sample_params(rng)
        img, paint = cw.render_with_mask(p, 96, part="paint")
        med = np.median(img[paint].astype(np.float64), 0)
        word = cw.parse_caption(cw.caption(p))["colour"]
        assert names[int(np.argmin(((palette - med) ** 2).sum(1)))] == word, (word, med)
        if word == "red":
            assert med[0] > 2 * med[1] and med[0] > 2 * med[2]
        if word == "blue":
            assert med[2] > 1.5 * med[0] and med[2] > med[1]


def test_recolouring_changes_only_the_car() -> None:
    p = dataclasses.replace(_params(5), colour_name="red", colour_rgb=cw.COLOURS["red"])
    q = dataclasses.replace(p, colour_name="blue", colour_rgb=cw.COLOURS["blue"])
    a, paint = cw.render_with_mask(p, 128, "paint")
    b = cw.render(q, 128)
    changed = np.abs(a.astype(np.int16) - b).max(-1) > 0
    car = cw.car_mask(p, 128, "car")
    grown = cv2.dilate(car.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert changed[paint].mean() > 0.95 and not changed[~grown].any()
    assert a[paint][:, 0].mean() > a[paint][:, 2].mean() + 60 and b[paint][:, 2].mean() > b[paint][:, 0].mean() + 60


def test_caption_round_trip_and_vocabulary() -> None:
    rng = np.random.default_rng(2)
    vocab = set(cw.caption_vocab())
    for _ in range(200):
        p = cw.sample_params(rng)
        text = cw.caption(p)
        assert cw.parse_caption(text) == {"colour": p.colour_name, "body_type": p.body_type,
                                          "road": p.road_name, "sky": p.sky_name}
        assert set(text.split()) <= vocab
    orange = dataclasses.replace(p, colour_name="orange", sky_name="orange", road_name="grey")
    assert cw.caption(orange).startswith("an orange ") and "under an orange sky" in cw.caption(orange)
    for bad in ("a purple sedan on a grey road under a blue sky", "a red car", ""):
        with pytest.raises(ValueError):
            cw.parse_caption(bad)


def test_to_tensor_layout_and_range() -> None:
    imgs, _ = cw.batch(np.random.default_rng(1), 3, 32)
    t = cw.to_tensor(imgs)
    assert t.shape == (3, 3, 32, 32) and t.dtype == torch.float32
    assert t.min() >= -1.0 and t.max() <= 1.0
    assert torch.allclose(t[1, :, 5, 7], torch.tensor(imgs[1, 5, 7], dtype=torch.float32) / 127.5 - 1)
    assert cw.to_tensor(imgs[0]).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("kind", cl.KINDS)
def test_each_clutter_kind_draws_and_its_mask_is_exact(kind: str) -> None:
    if kind == "photo" and not SHARED_PHOTOS:
        # without photos "photo" draws the procedural texture: the "texture" case again
        pytest.skip("shared car photos not available")
    photos = SHARED_PHOTOS if kind == "photo" else ()
    for seed in range(3):
        img = cw.render(_params(seed), 128)
        before = img.copy()
        out, mask = cl.add_clutter(img, np.random.default_rng(seed), kinds=[kind], count=(2, 2),
                                   photo_paths=photos)
        assert np.array_equal(img, before)  # input untouched
        assert out.shape == img.shape and out.dtype == np.uint8 and mask.shape == img.shape[:2]
        changed = np.any(out != img, axis=-1)
        assert changed.sum() > 15, (kind, seed)
        assert not (changed & ~mask).any()  # every changed pixel is flagged...
        assert (mask & ~changed).sum() <= 0.05 * mask.sum()  # ...and flagged pixels did change


def test_clutter_is_deterministic_and_respects_count() -> None:
    img = cw.render(_params(1), 128)
    a = cl.add_clutter(img, np.random.default_rng(4))
    b = cl.add_clutter(img, np.random.default_rng(4))
    c = cl.add_clutter(img, np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    out, mask = cl.add_clutter(img, np.random.default_rng(4), count=(0, 0))
    assert np.array_equal(out, img) and not mask.any()
    with pytest.raises(ValueError):
        cl.add_clutter(img, np.random.default_rng(4), kinds=["tree"])


def test_photo_patches_come_from_the_given_photos(tmp_path) -> None:
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[:] = (10, 200, 30)  # RGB; a solid colour no procedural clutter uses
    path = tmp_path / "green.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    patch = cl.photo_patch([path], np.random.default_rng(0), 20, 30)
    assert patch.shape == (20, 30, 3) and (patch == (10, 200, 30)).all()
    img = cw.render(_params(2), 128)
    out, mask = cl.add_clutter(img, np.random.default_rng(1), kinds=["photo"], count=(1, 1), photo_paths=[path])
    assert mask.sum() > 50 and (out[mask] == (10, 200, 30)).all(1).mean() > 0.9
    with pytest.raises(FileNotFoundError):
        cl.photo_patch([tmp_path / "missing.png"], np.random.default_rng(0), 8, 8)


@pytest.mark.skipif(not SHARED_PHOTOS, reason="shared car photos not available")
def test_real_photo_patches_are_random_crops() -> None:
    patches = [cl.photo_patch(SHARED_PHOTOS, np.random.default_rng(s), 48, 40) for s in range(4)]
    assert all(p.shape == (48, 40, 3) and p.dtype == np.uint8 for p in patches)
    assert all(not np.array_equal(patches[0], p) for p in patches[1:])


def test_write_samples_writes_images_captions_and_masks(tmp_path) -> None:
    records = cl.write_samples(tmp_path / "clean", n=3, seed=9, size=64)
    rng = np.random.default_rng(9)
    captions = json.loads((tmp_path / "clean" / "captions.json").read_text())
    assert len(records) == 3 and len(captions) == 3
    for rec in records:
        p = cw.sample_params(rng)  # same seed, same scenes, in order
        img = cv2.cvtColor(cv2.imread(str(tmp_path / "clean" / rec["file"])), cv2.COLOR_BGR2RGB)
        assert np.array_equal(img, cw.render(p, 64)) and captions[rec["file"]] == cw.caption(p)
    records = cl.write_samples(tmp_path / "hard", n=3, seed=9, size=64, clutter=True, masks=True)
    params = json.loads((tmp_path / "hard" / "params.json").read_text())
    assert len(params) == 3 and all(r["clutter_fraction"] > 0 for r in records)
    for i in range(3):
        car = cv2.imread(str(tmp_path / "hard" / f"car_{i:05d}.png"), cv2.IMREAD_GRAYSCALE)
        hard = cv2.imread(str(tmp_path / "hard" / f"clutter_{i:05d}.png"), cv2.IMREAD_GRAYSCALE)
        assert car.shape == (64, 64) and car.max() == 255 and hard.max() == 255


# ----------------------------------------------------------------------------- semantic class maps


def test_class_map_car_class_is_the_car_mask_and_image_is_the_plain_render() -> None:
    for seed in range(6):
        p = _params(seed)
        img, classes = cw.render_with_classes(p, 128)
        assert classes.shape == (128, 128) and classes.dtype == np.uint8
        assert np.array_equal(img, cw.render(p, 128))
        assert np.array_equal(classes == cw.CAR, cw.car_mask(p, 128))
        assert classes.max() < len(cw.CLASSES) and cw.CLUTTER not in classes  # no clutter drawn


def _boundary_contrast(classes: np.ndarray, plate: np.ndarray) -> tuple[float, float]:
    """(median colour step across class boundaries, 90th percentile of steps inside classes),
    over 4-neighbour pairs of background pixels."""
    across, inside = [], []
    for a, b, pa, pb in ((classes[:, :-1], classes[:, 1:], plate[:, :-1], plate[:, 1:]),
                         (classes[:-1], classes[1:], plate[:-1], plate[1:])):
        ok = (a != cw.CAR) & (b != cw.CAR)
        step = np.abs(pa - pb).sum(-1)
        across.append(step[ok & (a != b)])
        inside.append(step[ok & (a == b)])
    return float(np.median(np.concatenate(across))), float(np.percentile(np.concatenate(inside), 90))


def test_class_map_matches_the_image() -> None:
    """Class boundaries lie on the image's edges (on the clean plate, so the car's shadow does not
    count) and inside a class the image is smooth; sky pixels have sky colours, road pixels the
    road's. A label map shifted by a few rows fails the edge test."""
    for seed in range(8):
        p = _params(seed)
        img, classes = cw.render_with_classes(p, 128)
        plate = cw.render(p, 128, car=False).astype(np.float32)
        across, inside = _boundary_contrast(classes, plate)
        assert across > 3 * inside, (seed, across, inside)
        sky = plate[classes == cw.SKY]
        lo = np.minimum(p.sky_top_rgb, p.sky_horizon_rgb) - 3
        hi = np.maximum(p.sky_top_rgb, p.sky_horizon_rgb) + 3
        assert ((sky >= lo) & (sky <= hi)).all(-1).mean() > 0.97
        road = np.median(plate[classes == cw.ROAD], 0)
        assert np.abs(road - np.asarray(p.road_rgb)).max() < 16
        rows = np.arange(128)[:, None].repeat(128, 1)
        assert rows[classes == cw.SKY].mean() < p.horizon_y * 128 < rows[classes == cw.ROAD].mean()
        across, inside = _boundary_contrast(np.roll(classes, 5, axis=0), plate)
        assert across < 3 * inside, seed


def test_cluttered_scene_labels_clutter_exactly_where_it_was_drawn() -> None:
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(5):
        img, classes, p = cl.cluttered_scene(rng_a, 96)
        clean, clean_classes = cw.render_with_classes(cw.sample_params(rng_b), 96)
        _, mask = cl.add_clutter(clean, rng_b)  # same random stream: the same clutter
        assert np.array_equal(classes == cw.CLUTTER, mask) and mask.any()
        assert np.array_equal(img[~mask], clean[~mask])  # every other pixel is the clean render
        assert np.array_equal(classes[~mask], clean_classes[~mask])


def test_write_samples_writes_class_maps(tmp_path) -> None:
    cl.write_samples(tmp_path, 2, seed=3, size=64, clutter=True, masks=True)
    for i in range(2):
        classes = cv2.imread(str(tmp_path / f"classes_{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        car = cv2.imread(str(tmp_path / f"car_{i:05d}.png"), cv2.IMREAD_UNCHANGED) > 0
        clutter = cv2.imread(str(tmp_path / f"clutter_{i:05d}.png"), cv2.IMREAD_UNCHANGED) > 0
        assert np.array_equal(classes == cw.CLUTTER, clutter)
        assert np.array_equal(classes == cw.CAR, car & ~clutter)
