"""τ comes from the bundle (issue 35): a bundle declares the metric its predictor predicts, its
default τ and slider range (tau.json beside the predictor; else the paper's LPIPS-VGG 0.225), and
the session, the recipes and the CLI (`latent-map`, invert/eval `--latent-map auto`) use it."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bundle_factory import HEAD_ERRORS, make_bundle, write_sample

from sam_editor.invertibility.latent_map import LPIPS_TAU, TauScale, read_tau_scale, tau_scale_beside

# HEAD_ERRORS = W+ 0.36, F4 0.27, F6 0.19, F8 0.08: τ 0.30 → F4 everywhere, 0.225 → F6
CALIBRATED = {"format": "sam_editor.tau", "metric": "l2+SSIM", "tau": 0.30, "range": [0.12, 0.55], "source": "test"}


def quiet(*_a) -> None:  # noqa: ANN002
    return None


def never() -> bool:
    return False


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("tau")
    mp.setenv("SAM_EDITOR_CACHE", str(root / "cache"))
    plain, calibrated = root / "plain", root / "calibrated"
    b_plain = make_bundle(plain)
    shutil.copytree(plain / "demo", calibrated / "demo")  # the same bundle, plus a calibration
    (calibrated / "demo" / "tau.json").write_text(json.dumps(CALIBRATED))
    from sam_editor.session import load_bundle

    b_cal = load_bundle([calibrated], ganspace_samples=4000, cache_dir=calibrated / "cache")
    yield {"plain": (plain, b_plain), "calibrated": (calibrated, b_cal)}
    mp.undo()


def test_tau_scale_file_and_refusals(tmp_path: Path) -> None:
    p = tmp_path / "tau.json"
    p.write_text(json.dumps(CALIBRATED))
    assert read_tau_scale(p) == TauScale("l2+SSIM", 0.30, 0.12, 0.55, "test")
    assert tau_scale_beside(tmp_path / "invertibility.pt").default == 0.30
    assert tau_scale_beside(tmp_path / "sub" / "p.pt") == LPIPS_TAU and LPIPS_TAU.default == 0.225
    for broken, why in (({**CALIBRATED, "format": "x"}, "not a τ calibration"), ({**CALIBRATED, "tau": 0.9}, "outside"),
                        ({**CALIBRATED, "range": [0.1]}, "broken")):
        p.write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=why):
            read_tau_scale(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        read_tau_scale(p)


def test_bundle_declares_its_tau_and_the_session_and_recipes_use_it(folders, tmp_path: Path) -> None:
    from sam_editor.session import Problem, Session, predict_latent_map
    from sam_editor.session.recipe import session_recipe

    for name, tau, metric in (("plain", 0.225, "LPIPS-VGG"), ("calibrated", 0.30, "l2+SSIM")):
        bundle = folders[name][1]
        assert bundle.tau == tau and bundle.tau_scale.metric == metric
        assert metric in bundle.describe()["tau"]
        s = Session(bundle)
        assert s.tau == tau  # before any map: the bundle's default
        assert not isinstance(s.open_image(write_sample(tmp_path / f"{name}.png")), Problem)
        s.apply_latent_map(predict_latent_map(bundle, s.work, s.tau, quiet, never, box=s.placement.box))
        assert s.latent_map.tau == tau
        photo = s.placement.mask() if hasattr(s.placement, "mask") else np.ones(s.work.shape[:2], bool)
        ranks = s.latent_map.space_map()[photo]
        assert (ranks == (1 if tau == 0.30 else 2)).mean() > 0.9  # F4 at 0.30, F6 at 0.225
        assert session_recipe(s)["tau"] == pytest.approx(tau)


def test_broken_tau_file_falls_back_to_the_paper_scale_with_a_note(folders, tmp_path: Path) -> None:  # noqa: ANN001
    shutil.copytree(folders["plain"][0] / "demo", tmp_path / "demo")
    (tmp_path / "demo" / "tau.json").write_text(json.dumps({**CALIBRATED, "range": "wide"}))
    from sam_editor.session import load_bundle

    b = load_bundle([tmp_path], ganspace_samples=4000, cache_dir=tmp_path / "cache")
    assert b.tau == 0.225 and b.tau_scale == LPIPS_TAU
    assert any("τ calibration" in n and "0.225" in n for n in b.notes)


def test_cli_latent_map_and_invert_take_tau_from_the_bundle(folders, tmp_path: Path) -> None:
    from sam_editor.invertibility.commands import main
    from sam_editor.invertibility.latent_map import LatentMap

    img = write_sample(tmp_path / "car.png")
    for name, tau in (("plain", 0.225), ("calibrated", 0.30)):
        pred = folders[name][0] / "demo" / "invertibility.pt"
        out = tmp_path / f"{name}.json"
        assert main(["latent-map", str(img), "--predictor", str(pred), "--out", str(out)]) == 0
        assert LatentMap.load(out).tau == pytest.approx(tau)
        assert main(["latent-map", str(img), "--predictor", str(pred), "--out", str(out), "--tau", "0.4"]) == 0
        assert LatentMap.load(out).tau == pytest.approx(0.4)  # --tau still overrides
    # invert/eval --latent-map auto: the rank map shows which τ was used (F4 at 0.30, F6 at 0.225)
    import torch

    from sam_editor.session.invert_commands import auto_latent_map

    image = torch.zeros(1, 3, 64, 64)
    for name, rank in (("plain", 2), ("calibrated", 1)):
        args = argparse.Namespace(predictor=str(folders[name][0] / "demo" / "invertibility.pt"), generator=None,
                                  segmenter="auto", segmenter_weights=None, tau=None)
        ranks = auto_latent_map(image, (64, 64), args)
        assert np.asarray(ranks).min() == np.asarray(ranks).max() == rank
    assert HEAD_ERRORS[1] < 0.30 < HEAD_ERRORS[0]
