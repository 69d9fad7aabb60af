"""Training data (eq. 3.1 targets) and ℓ2 training of the predictor (eq. 3.2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sam_editor.gan.layers import LayerSpace
from sam_editor.invertibility.data import ErrorMapDataset, generate_targets, list_targets, split_files
from sam_editor.invertibility.predictor import TinyInvertibilityNet, load_predictor, predict
from sam_editor.invertibility.segmenters import OversegSegmenter
from sam_editor.invertibility.train import latent_map_for_image, train_predictor

from .conftest import GAIN, FakeInversion, synthetic_image


def test_targets_hold_the_known_error_maps(target_folder: Path) -> None:
    files = list_targets(target_folder)
    assert len(files) == 28
    with np.load(files[0]) as data:
        image, errors = data["image"], data["errors"].astype(np.float32)
        assert list(data["spaces"]) == [s.value for s in LayerSpace]
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert errors.shape == (5, 48, 64)
    red = image[..., 0].astype(np.float32) / 255.0
    for space in LayerSpace:
        np.testing.assert_allclose(errors[space.rank], GAIN[space] * red, atol=2e-3)


def test_generation_is_resumable(image_folder: Path, tmp_path: Path) -> None:
    fake = FakeInversion()
    first = generate_targets(
        image_folder, tmp_path, fake.reconstruct, fake.error_map, size=(24, 32), batch_size=5
    )
    assert len(first.written) == 28 and fake.calls == 5 * 6  # 6 batches × 5 spaces
    assert all(fake.grad_enabled)
    (tmp_path / "img003.npz").write_bytes(b"truncated")  # an interrupted write
    (tmp_path / "img010.npz").unlink()
    fake.calls = 0
    again = generate_targets(
        image_folder, tmp_path, fake.reconstruct, fake.error_map, size=(24, 32), batch_size=5
    )
    assert sorted(p.name for p in again.written) == ["img003.npz", "img010.npz"]
    assert len(again.skipped) == 26 and fake.calls == 5
    assert len(again.targets) == 28


def test_generation_reports_each_batch_and_stops_between_batches(image_folder: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    part = generate_targets(
        image_folder, tmp_path, FakeInversion().reconstruct, FakeInversion().error_map, size=(24, 32), batch_size=5,
        on_step=lambda done, total, _info, _p: seen.append((done, total)), should_stop=lambda: len(seen) >= 2,
    )  # fmt: skip
    assert seen == [(5, 28), (10, 28)] and len(part.written) == 10  # what it finished is kept
    rest = generate_targets(image_folder, tmp_path, FakeInversion().reconstruct, FakeInversion().error_map, size=(24, 32))
    assert len(rest.skipped) == 10 and len(rest.written) == 18


def test_split_is_deterministic_and_disjoint(target_folder: Path) -> None:
    files = list_targets(target_folder)
    train, val = split_files(files, 0.25, seed=3)
    assert (train, val) == split_files(files, 0.25, seed=3)
    assert not set(train) & set(val) and len(train) + len(val) == len(files) and len(val) == 7


def test_predictor_learns_and_beats_a_constant_on_held_out_images(target_folder: Path, tmp_path: Path) -> None:
    steps_seen: list[tuple[int, int, float]] = []
    out = tmp_path / "inv.pt"
    result = train_predictor(
        target_folder,
        out,
        steps=150,
        batch_size=8,
        lr=3e-3,
        width=8,
        input_size=(48, 64),
        val_fraction=0.25,
        on_step=lambda s, t, info, _p: steps_seen.append((s, t, info["loss"])),
    )
    assert [s for s, _, _ in steps_seen] == list(range(1, 151)) and all(t == 150 for _, t, _ in steps_seen)
    assert not result.stopped and result.steps_done == 150 and result.num_val == 7
    assert result.val_mse < 0.3 * result.const_mse, result
    assert json.loads(out.with_suffix(".eval.json").read_text())["val_mse"] == pytest.approx(result.val_mse)
    model = load_predictor(out)
    assert isinstance(model, TinyInvertibilityNet)
    # the learnt maps follow the known function of colour on a fresh image
    image = synthetic_image(np.random.default_rng(99))
    maps = predict(model, image)
    red = image[..., 0].astype(np.float32) / 255.0
    corr = {s: np.corrcoef(maps[s.rank].ravel(), red.ravel())[0, 1] for s in LayerSpace}
    assert corr[LayerSpace.W_PLUS] > 0.8 and min(corr.values()) > 0.5, corr
    for space, errs in result.per_space.items():  # every head beats the constant
        assert errs["mse"] < 0.6 * errs["const_mse"], (space, errs)
    assert maps[LayerSpace.W_PLUS.rank].mean() > maps[LayerSpace.F10.rank].mean()
    lmap = latent_map_for_image(image, model, OversegSegmenter(), tau=0.2)
    assert lmap.shape == image.shape[:2] and lmap.pixel_errors is not None


def test_cancel_and_resume(target_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "inv.pt"
    seen: list[int] = []
    kwargs = dict(batch_size=4, width=4, input_size=(24, 32), checkpoint_every=4)
    stopped = train_predictor(
        target_folder, out, 12, on_step=lambda s, t, info, _p: seen.append(s), should_stop=lambda: len(seen) >= 6, **kwargs
    )
    assert stopped.stopped and stopped.steps_done == 6
    assert not out.exists() and out.with_name("inv.pt.ckpt").exists()
    seen.clear()
    done = train_predictor(target_folder, out, 12, on_step=lambda s, t, info, _p: seen.append(s), **kwargs)
    assert seen == list(range(7, 13)) and done.steps_done == 12 and out.exists()
    seen.clear()
    fresh = train_predictor(target_folder, out, 3, resume=False, on_step=lambda s, t, info, _p: seen.append(s), **kwargs)
    assert seen == [1, 2, 3] and fresh.steps_done == 3


def test_dataset_resizes_and_batches(target_folder: Path) -> None:
    ds = ErrorMapDataset(list_targets(target_folder)[:3], size=(24, 32))
    images, targets = ds.batch([0, 2])
    assert images.shape == (2, 3, 24, 32) and targets.shape == (2, 5, 24, 32)
    assert images.min() >= -1 and images.max() <= 1 and targets.dtype == torch.float32


def test_missing_data_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        train_predictor(tmp_path, tmp_path / "x.pt", 1)
