"""The official-format rehearsal (`benchmarks/rehearse_official.py`) at its small size: stand-ins of
every official file (TF-era car pickle, official SAM predictor, torchvision VGG16, open_clip model,
SegFormer ADE20k folder) are found the way the app finds the official bundle, and the whole job —
map, SAM inversion, GANSpace + text edit, full-size export, then invert / edit / apply through the
CLI — runs on them. The full-size run is done by hand (docs/benchmarks/rehearsal_full.txt)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from sam_editor.session.recipe import read_recipe

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "resources" / "samples" / "car_street.png"


def _script():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("rehearse_official", ROOT / "benchmarks" / "rehearse_official.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow  # 16 s on the quiet 2-core machine (56 s at load 7): a whole job, session core and CLI
def test_small_rehearsal_runs_the_whole_official_job(tmp_path) -> None:
    from sam_editor.perceptual import perceptual

    pointed = ("SAM_EDITOR_WEIGHTS", "TORCH_HOME", "SAM_EDITOR_CACHE", "SAM_EDITOR_DATA", "OMP_NUM_THREADS")
    threads, env = torch.get_num_threads(), {k: os.environ.get(k) for k in pointed}
    try:
        report = _script().rehearse([
            "--size", "small", "--steps", "2", "--text-steps", "1", "--repeats", "1", "--threads", "1",
            "--photo", str(PHOTO), "--workdir", str(tmp_path / "r"),
        ])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
        for key in [k for k in perceptual._default if str(tmp_path) in k[1]]:  # the stand-in VGG16
            del perceptual._default[key]
    assert {k: os.environ.get(k) for k in pointed} == env  # the folders it pointed the app at are given back
    v = report.values
    # the official bundle, every part from the stand-ins: no fallback, nothing missing
    assert v["kind"] == "official" and v["notes"] == []
    assert v["predictor"] == "OfficialSAMPredictor" and "ADE20k" in v["segmenter"]
    assert v["output_size"] == (48, 64)  # the car file's known 4:3 crop of the square frame
    # the session's export: at the photo's own size, with the recipe of this job inside
    photo_size = Image.open(PHOTO).size
    exported = Path(v["export"])
    assert exported.is_file() and Image.open(exported).size == photo_size == tuple(v["photo_size"])
    recipe = read_recipe(exported)
    assert recipe.method == "sam" and recipe.steps == 2 and recipe.full_size
    assert [e["kind"] for e in recipe.edits()] == ["ganspace", "styleclip"]
    assert recipe.data["generator"]["sha256"]
    # the CLI's apply of that recipe wrote the photo at its size too
    assert Image.open(v["apply_export"]).size == photo_size
    assert (tmp_path / "r" / "out" / "cli_edit.png").is_file()
    assert v["sam_s_per_step"] > 0 and v["edit_uncached_s"] > 0 and v["cli_invert_s"] > 0
