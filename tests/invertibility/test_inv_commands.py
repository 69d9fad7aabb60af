"""CLI sub-commands ``latent-map`` and ``train-invertibility``."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sam_editor.gan.layers import LayerSpace
from sam_editor.invertibility.commands import main, register
from sam_editor.invertibility.latent_map import LatentMap
from sam_editor.invertibility.predictor import TinyInvertibilityNet, load_predictor, save_predictor


def test_register_adds_both_commands() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["latent-map", "img.png", "--predictor", "p.pt"])
    assert args.tau is None and args.segmenter == "auto"  # τ and segmenter come from the bundle
    assert args.out is None and callable(args.func)
    args = parser.parse_args(["train-invertibility", "data", "--out", "m.pt", "--steps", "7"])
    assert args.steps == 7 and callable(args.func)


@pytest.fixture
def two_halves(tmp_path: Path) -> tuple[Path, Path]:
    """(image, predictor): an 80×60 image whose halves are two segments, and a tiny random predictor."""
    torch.manual_seed(0)
    pred = save_predictor(TinyInvertibilityNet(width=4, input_size=(24, 32)), tmp_path / "p.pt")
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, 40:] = (200, 40, 40)
    cv2.imwrite(str(tmp_path / "img.png"), image)
    return tmp_path / "img.png", pred


def test_latent_map_command_writes_json_and_overlay(two_halves, tmp_path: Path, capsys) -> None:
    img, pred = two_halves
    out = tmp_path / "maps" / "map.json"
    rc = main(["latent-map", str(img), "--predictor", str(pred), "--tau", "0.3", "--out", str(out)])
    assert rc == 0
    lmap = LatentMap.load(out)
    assert lmap.shape == (60, 80) and lmap.tau == 0.3 and lmap.num_segments == 2
    overlay = cv2.imread(str(out.with_suffix(".png")))
    assert overlay is not None and overlay.shape == (60, 80, 3)
    assert "segments" in capsys.readouterr().out


def test_latent_map_override_forces_the_clicked_segment(two_halves, tmp_path: Path, capsys) -> None:
    img, pred = two_halves
    out = tmp_path / "map.json"
    base = ["latent-map", str(img), "--predictor", str(pred), "--out", str(out)]
    for tau, space in ((0.0, "W+"), (10.0, "F10")):  # τ = 0 puts every segment in F10, τ = 10 in W+
        assert main([*base, "--tau", str(tau), "--override", f"70,30={space}"]) == 0
        lmap = LatentMap.load(out)
        right, left = lmap.segment_at(30, 70), lmap.segment_at(30, 10)
        assert right != left and lmap.overrides == {right: LayerSpace.parse(space)}
        assert lmap.space_of_segment(right) == LayerSpace.parse(space)
        assert lmap.space_of_segment(left) != lmap.space_of_segment(right)
    assert main([*base, "--override", "80,30=F6"]) == 2  # x = 80 is outside the 80-px-wide image
    assert "outside" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--override", "70,30:F6"])
    assert "X,Y=SPACE" in capsys.readouterr().err


def test_train_command(target_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    rc = main(
        [
            "train-invertibility",
            str(target_folder),
            "--out",
            str(out),
            "--steps",
            "3",
            "--width",
            "4",
            "--input-size",
            "24",
            "32",
        ]
    )
    assert rc == 0 and isinstance(load_predictor(out), TinyInvertibilityNet)
