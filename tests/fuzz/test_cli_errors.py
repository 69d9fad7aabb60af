"""Issue 30, items 2 and 5 through the real CLI (in-process `cli.main`): every bad input is one
`error:` line and exit 2 — never a traceback, never torch's weights_only advice, never code run
— and output names are checked before a long job."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from bundle_factory import write_sample

from sam_editor import cli
from sam_editor.inversion.phi import Phi

from .badfiles import evil_pickle, evil_torch


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    rc = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


def one_error_line(rc: int, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("note:", "\r"))]
    errors = [ln for ln in lines if "error:" in ln]
    assert rc == 2, err
    assert len(errors) == 1, err
    assert "Traceback" not in err and "weights_only" not in err and "internal error" not in err, err
    return errors[0]


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    marker = tmp_path / "CODE_RAN"
    files = {
        "junk": b"this is not a checkpoint",
        "empty": b"",
        "evil torch": evil_torch(marker),
        "evil pickle": evil_pickle(marker),
        "truncated torch": evil_torch(marker)[:200],
    }
    out = {}
    for name, data in files.items():
        p = tmp_path / (name.replace(" ", "_") + ".pt")
        p.write_bytes(data)
        out[name] = p
    out["folder"] = tmp_path / "folder.pt"
    out["folder"].mkdir()
    out["missing"] = tmp_path / "missing.pt"
    return out


def test_latent_map_bad_photo_and_bad_predictor(fuzz_bundle, bad_files: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    photo = write_sample(tmp_path / "car.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    pred = fuzz_bundle.generator_path.parent / "invertibility.pt"
    line = one_error_line(*run(capsys, "latent-map", junk, "--predictor", pred, "--out", tmp_path / "m.json"))
    assert "junk.png" in line
    for kind, path in bad_files.items():
        line = one_error_line(*run(capsys, "latent-map", photo, "--predictor", path, "--out", tmp_path / "m.json"))
        if kind.startswith("evil"):
            assert "may contain code" in line, line
    assert not (tmp_path / "CODE_RAN").exists()


def test_demo_sample_bad_generator(bad_files: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    for kind, path in bad_files.items():
        line = one_error_line(*run(capsys, "demo", "sample", "--generator", path, "--out", tmp_path / "s.png", "--n", "1"))
        if kind.startswith("evil"):
            assert "this file is not a checkpoint SAM Editor can read safely; it may contain code" in line, line
    assert not (tmp_path / "CODE_RAN").exists()


def huge_npy(path: Path) -> Path:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 100000000000, 9), }"
    header += " " * (118 - len(header)) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64)
    return path


def test_edit_with_a_direction_claiming_terabytes(fuzz_bundle, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    G = fuzz_bundle.G
    phi = Phi(G.mean_w_plus(1)).save(tmp_path / "phi.pt")
    gen = fuzz_bundle.generator_path
    line = one_error_line(*run(capsys, "edit", phi, "--generator", gen, "--direction", f"{huge_npy(tmp_path / 'huge.npy')}:1", "--out", tmp_path / "e.png"))
    assert "does not fit" in line
    np.save(tmp_path / "ok.npy", np.zeros((G.num_ws, G.w_dim), np.float32))
    rc, err = run(capsys, "edit", phi, "--generator", gen, "--direction", f"{tmp_path / 'ok.npy'}:1", "--out", tmp_path / "e.png")
    assert rc == 0 and (tmp_path / "e.png").is_file(), err


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "sam-editor-recipe", "version": 1, "tau": 0.2, "region": ' + "[" * 100_000 + "]" * 100_000 + "}",
        json.dumps({"format": "sam-editor-recipe", "version": 1, "tau": 0.2, "inversion": "x"}),
        json.dumps({"format": "sam-editor-recipe", "version": 1, "tau": 0.2, "export": {"full_size": "no"}}),
        json.dumps([1, 2]),
        "{not json",
    ],
)
def test_apply_bad_recipes(fuzz_bundle, tmp_path: Path, capsys, text: str) -> None:  # noqa: ANN001
    (tmp_path / "photos").mkdir()
    write_sample(tmp_path / "photos" / "car.png")
    recipe = tmp_path / "recipe.json"
    recipe.write_text(text)
    one_error_line(*run(capsys, "apply", recipe, tmp_path / "photos", "--out", tmp_path / "out", "--generator", fuzz_bundle.generator_path))


def test_invert_output_names_checked_before_the_job(fuzz_bundle, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    long_photo = write_sample(tmp_path / ("a" * 250 + ".png"))
    gen = fuzz_bundle.generator_path
    common = ["invert", "--generator", gen, "--method", "wplus", "--steps", "1", "--init", "mean"]
    rc, err = run(capsys, common[0], long_photo, *common[1:], "--out", tmp_path / "out")
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 3 and all(len(n.encode()) <= 240 for n in names), names
    (tmp_path / "a_file").write_text("x")  # a folder below a file cannot be made
    line = one_error_line(*run(capsys, common[0], long_photo, *common[1:], "--out", tmp_path / "a_file" / "out"))
    assert "a_file" in line
    (tmp_path / "taken.pt").mkdir()
    line = one_error_line(*run(capsys, common[0], long_photo, *common[1:], "--out", tmp_path / "taken.pt"))
    assert "folder" in line
    rc, err = run(capsys, common[0], long_photo, *common[1:], "--out", tmp_path / "single" / "X.pt")
    assert rc == 0, err
    assert (tmp_path / "single" / "X.pt").is_file() and Phi.load(tmp_path / "single" / "X.pt").w_plus.shape[0] == 1
    assert (tmp_path / "single" / "X_reconstruction.png").is_file()


def test_edit_and_ganspace_default_to_the_demo_bundle(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from sam_editor.gan.checkpoints import load_generator_any
    from sam_editor.weights import demo_bundle_dir

    demo = demo_bundle_dir() / "generator.pt"
    if not demo.is_file():
        pytest.skip("no demo bundle")
    G = load_generator_any(demo)[0]
    phi = Phi(G.mean_w_plus(1)).save(tmp_path / "phi.pt")
    rc, err = run(capsys, "edit", phi, "--ganspace", "0:1", "--n-samples", "2000", "--components", "4",
                  "--ganspace-cache", tmp_path, "--out", tmp_path / "e.png")  # fmt: skip
    assert rc == 0 and (tmp_path / "e.png").is_file(), err


def test_edit_reads_the_generator_formats_invert_reads(fuzz_bundle, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A rosinality .pt (an official-family format, not ours) works for edit as for invert."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ckpt_helpers", Path(__file__).parents[1] / "gan" / "test_checkpoints.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    G = fuzz_bundle.G
    rosinality = tmp_path / "rosinality.pt"
    helpers.write_rosinality(G, rosinality)
    phi = Phi(G.mean_w_plus(1)).save(tmp_path / "phi.pt")
    rc, err = run(capsys, "edit", phi, "--generator", rosinality, "--ganspace", "0:1", "--n-samples", "2000",
                  "--components", "4", "--ganspace-cache", tmp_path, "--out", tmp_path / "e.png")  # fmt: skip
    assert rc == 0 and (tmp_path / "e.png").is_file(), err


def test_apply_with_a_250_character_photo_name(fuzz_bundle, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from .badfiles import busy_session

    recipe = busy_session(fuzz_bundle, tmp_path).export_png(tmp_path / "recipe.png")
    assert isinstance(recipe, Path)
    photos = tmp_path / "photos"
    photos.mkdir()
    write_sample(photos / ("b" * 250 + ".png"))
    rc, err = run(capsys, "apply", recipe, photos, "--out", tmp_path / "out", "--generator", fuzz_bundle.generator_path, "--steps", "1")
    assert rc == 0, err
    outputs = [p for p in (tmp_path / "out").iterdir() if p.suffix == ".png"]
    assert len(outputs) == 1 and len(outputs[0].name.encode()) <= 240
    (tmp_path / "blocker").write_text("x")
    line = one_error_line(*run(capsys, "apply", recipe, photos, "--out", tmp_path / "blocker" / "out", "--generator", fuzz_bundle.generator_path))
    assert "blocker" in line
