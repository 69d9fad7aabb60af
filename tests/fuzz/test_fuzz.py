"""Property-based fuzzing of every reader and the CLI (issue 30): Hypothesis generates broken
images, checkpoints, φ files, recipes, presets and projects and feeds them through the real
readers. The properties: a reader returns a value or a Problem / the user-error exception it
documents — nothing else escapes; a refused project leaves the session as it was; the CLI
answers with exit 0 or 2 and at most one `error:` line; and no pickle ever runs code (the
marker file is never created). The number of inputs per class is printed at the end of the run
(≥ 500 in all)."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from bundle_factory import write_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sam_editor import cli
from sam_editor.gan.checkpoints import load_generator_any
from sam_editor.gan.native import CheckpointError, load_generator
from sam_editor.imageio import Problem, SourceImage, encode_png, png_text_entries, read_image
from sam_editor.inversion.encoder import load_encoder
from sam_editor.inversion.phi import Phi
from sam_editor.invertibility.predictor import load_predictor
from sam_editor.session import Session
from sam_editor.session.recipe import RECIPE_KEY, RecipeError, decode_tensor, read_recipe, session_recipe

from .badfiles import Evil, busy_session, evil_pickle, evil_torch, project_members, same, snapshot, write_members
from .strategies import broken_bytes, json_values, mutated, mutated_json

COUNTS: Counter[str] = Counter()  # generated inputs per class (printed by conftest at the end)
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
USER_ERRORS = (ValueError, CheckpointError)  # what a reader may raise: our file errors, all ValueErrors


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def marker(work: Path) -> Path:
    return work / "CODE_RAN"


@pytest.fixture(scope="module")
def valid(fuzz_bundle, good_project: Path, work: Path, marker: Path) -> dict[str, bytes]:  # noqa: ANN001
    png = write_sample(work / "car.png").read_bytes()
    ok, jpg = cv2.imencode(".jpg", cv2.imread(str(work / "car.png")))
    assert ok
    G = fuzz_bundle.G
    phi = Phi(G.mean_w_plus(1), {4: torch.zeros(1, *G.feature_shape(4))}, {4: torch.ones(1, 1, 4, 4)})
    folder = fuzz_bundle.generator_path.parent
    return {
        "png": png,
        "jpg": jpg.tobytes(),
        "generator": fuzz_bundle.generator_path.read_bytes(),
        "predictor": (folder / "invertibility.pt").read_bytes(),
        "evil": evil_torch(marker),
        "phi.pt": phi.save(work / "phi.pt").read_bytes(),
        "phi.npz": phi.save(work / "phi.npz").read_bytes(),
        "recipe": json.dumps(session_recipe(busy_session(fuzz_bundle, work))).encode(),
    }


def _write(work: Path, name: str, data: bytes) -> Path:
    p = work / name
    p.write_bytes(data)
    return p


# ----------------------------------------------------------------------------------- images
@settings(FUZZ, max_examples=130)
@given(data=st.data())
def test_fuzz_images(valid: dict[str, bytes], work: Path, data: st.DataObject) -> None:
    blob = data.draw(broken_bytes(valid["png"], valid["jpg"]))
    suffix = data.draw(st.sampled_from([".png", ".jpg", ".tif", ".webp", ".bmp"]))
    path = _write(work, "photo" + suffix, blob)
    COUNTS["images"] += 1
    got = read_image(path)
    assert isinstance(got, SourceImage | Problem)
    if isinstance(got, SourceImage):
        assert got.rgb.dtype == np.uint8 and got.rgb.ndim == 3 and got.rgb.shape[2] == 3
    try:
        png_text_entries(path)
    except (ValueError, OSError):
        pass


# ----------------------------------------------------------------------------------- checkpoints
def _payloads(valid: dict[str, bytes]) -> st.SearchStrategy[bytes]:
    """Torch files whose structure is plausible but wrong: the right 'format' with random
    config, state dict, spaces or metadata values."""

    def save(obj: object) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    tensorish = st.one_of(json_values, st.builds(lambda n: torch.zeros(n), st.integers(0, 3)))
    generator = st.fixed_dictionaries(
        {"format": st.sampled_from(["sam-editor-generator", "x"]), "version": json_values | st.just(1)},
        optional={"config": st.one_of(json_values.map(json.dumps), json_values), "meta": json_values.map(json.dumps),
                  "state_dict": st.dictionaries(st.text(max_size=6), tensorish, max_size=3)},
    )  # fmt: skip
    predictor = st.fixed_dictionaries(
        {"format": st.just("sam_editor.invertibility/tiny-v1")},
        optional={"spaces": json_values, "config": json_values, "state_dict": json_values, "meta": json_values},
    )
    formats = st.sampled_from(["sam-editor-generator", "sam-editor-encoder-v1", "sam_editor.invertibility/tiny-v1"])
    keys = st.sampled_from(["sd_base", "state_dict", "opts", "latent_avg", "format", "config", "metadata", "spaces"])
    tables = st.dictionaries(st.sampled_from(["encoder.x", "width", "input_size", "resolution"]), tensorish, max_size=3)
    anything = st.dictionaries(keys, st.one_of(tensorish, formats, tables), min_size=1, max_size=5)
    return st.one_of(generator, predictor, anything).map(save)


@settings(FUZZ, max_examples=90)
@given(data=st.data())
def test_fuzz_checkpoints(valid: dict[str, bytes], work: Path, marker: Path, data: st.DataObject) -> None:
    blob = data.draw(st.one_of(broken_bytes(valid["generator"], valid["predictor"], valid["evil"]), _payloads(valid)))
    path = _write(work, data.draw(st.sampled_from(["c.pt", "c.pkl", "c.pth"])), blob)
    COUNTS["checkpoints"] += 1
    for load in (load_generator, load_generator_any, load_predictor, load_encoder):
        try:
            load(path)
        except USER_ERRORS as exc:
            assert "weights_only" not in str(exc)
    assert not marker.exists()


# ----------------------------------------------------------------------------------- φ files
@settings(FUZZ, max_examples=90)
@given(data=st.data())
def test_fuzz_phi_files(valid: dict[str, bytes], work: Path, marker: Path, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["pt bytes", "npz bytes", "header", "plain dict", "pickle"]))
    if kind == "pt bytes":
        path = _write(work, "phi.pt", data.draw(mutated(valid["phi.pt"])))
    elif kind == "npz bytes":
        path = _write(work, "phi.npz", data.draw(mutated(valid["phi.npz"])))
    elif kind == "pickle":
        path = _write(work, "phi.pt", evil_pickle(marker))
    else:
        good = torch.load(io.BytesIO(valid["phi.pt"]), weights_only=True)
        if kind == "header":
            good["header"] = data.draw(mutated_json(json.loads(good["header"])))
        else:
            good = {"w_plus": data.draw(st.one_of(json_values, st.just(good["w_plus"]), st.just(torch.zeros(2)))),
                    "delta_f": data.draw(json_values), "masks": data.draw(json_values)}  # fmt: skip
        buf = io.BytesIO()
        torch.save(good, buf)
        path = _write(work, "phi.pt", buf.getvalue())
    COUNTS["phi files"] += 1
    try:
        phi = Phi.load(path)
    except ValueError:
        return
    finally:
        assert not marker.exists()
    assert phi.w_plus.ndim == 3 and set(phi.delta_f) <= set(phi.masks)


# ----------------------------------------------------------------------------------- recipes, presets
@settings(FUZZ, max_examples=110)
@given(data=st.data())
def test_fuzz_recipes(valid: dict[str, bytes], work: Path, data: st.DataObject) -> None:
    text = data.draw(mutated_json(json.loads(valid["recipe"])))
    container = data.draw(st.sampled_from(["json", "png", "png bytes"]))
    if container == "json":
        path = _write(work, "recipe.json", text.encode())
    else:  # inside an export's iTXt chunk, the PNG itself possibly damaged too
        png = encode_png(np.full((8, 8, 3), 90, np.uint8), {RECIPE_KEY: text})
        path = _write(work, "recipe.png", data.draw(mutated(png)) if container == "png bytes" else png)
    COUNTS["recipes"] += 1
    try:
        r = read_recipe(path)
    except RecipeError:
        return
    # a recipe that reads is usable all the way: every accessor, every stored direction
    assert isinstance(r.full_size, bool) and 0 <= r.tau <= 1 and r.steps >= 0
    r.overrides(), r.region_points(), r.generator_sha256()  # noqa: B018
    for e in r.edits():
        if e.get("delta_w") is not None:
            decode_tensor(e["delta_w"])


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_fuzz_presets(work: Path, data: st.DataObject) -> None:
    from sam_editor.edits.presets import load_preset_list, load_user_presets

    good = [{"name": "a", "component": 1, "layers": [0, 3], "strength": 2.0}]
    (work / "presets").mkdir(exist_ok=True)
    text = data.draw(mutated_json(good))
    (work / "presets" / "p.json").write_text(text)
    _write(work, "presets.json", text.encode())
    COUNTS["presets"] += 1
    for load in (lambda: load_preset_list(work / "presets.json"), lambda: load_user_presets(work / "presets")):
        try:
            load()
        except ValueError:
            pass


# ----------------------------------------------------------------------------------- projects
@pytest.fixture(scope="module")
def busy(fuzz_bundle, work: Path) -> Session:  # noqa: ANN001
    return busy_session(fuzz_bundle, work)


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_fuzz_projects(busy: Session, good_project: Path, work: Path, marker: Path, data: st.DataObject) -> None:
    members = project_members(good_project)
    how = data.draw(st.sampled_from(["json", "json", "member bytes", "zip bytes", "evil member"]))
    if how == "json":
        members["project.json"] = data.draw(mutated_json(json.loads(members["project.json"]))).encode()
    elif how == "member bytes":
        name = data.draw(st.sampled_from(sorted(members)))
        members[name] = data.draw(mutated(members[name][:4096] if name == "source.png" else members[name]))
    elif how == "evil member":
        members[data.draw(st.sampled_from(["phi.pt", "tensors.pt"]))] = data.draw(st.sampled_from([evil_torch(marker), evil_pickle(marker)]))
    path = work / "fuzz.samproj"
    if how == "zip bytes":
        path.write_bytes(data.draw(mutated(good_project.read_bytes())))
    else:
        write_members(path, members)
    COUNTS["projects"] += 1
    before = snapshot(busy)
    result = busy.load_project(path)
    assert not marker.exists()
    if isinstance(result, Problem):
        assert same(before, snapshot(busy)) and "Traceback" not in result.message
    else:  # it was still a valid project: now it is the session; put the busy one back
        assert isinstance(result, list) and busy.source is not None
        busy.load_project(good_project)


# ----------------------------------------------------------------------------------- the CLI
@settings(FUZZ, max_examples=50)
@given(data=st.data())
def test_fuzz_cli(fuzz_bundle, valid: dict[str, bytes], work: Path, marker: Path, data: st.DataObject, capsys) -> None:  # noqa: ANN001
    gen, pred = fuzz_bundle.generator_path, fuzz_bundle.generator_path.parent / "invertibility.pt"
    photos = work / "photos"
    photos.mkdir(exist_ok=True)
    write_sample(photos / "car.png")
    command = data.draw(st.sampled_from(["apply", "edit", "latent-map", "demo sample", "invert"]))
    if command == "apply":
        f = _write(work, "r.json", data.draw(mutated_json(json.loads(valid["recipe"]))).encode())
        argv = ["apply", f, photos, "--out", work / "applied", "--generator", gen, "--steps", "1"]
    elif command == "edit":
        f = _write(work, "e.pt", data.draw(broken_bytes(valid["phi.pt"], valid["evil"])))
        argv = ["edit", f, "--generator", gen, "--ganspace", "0:1", "--n-samples", "500", "--components", "2",
                "--ganspace-cache", work / "gs", "--out", work / "e.png"]  # fmt: skip
    elif command == "latent-map":
        f = _write(work, "l.png", data.draw(broken_bytes(valid["png"], valid["jpg"])))
        argv = ["latent-map", f, "--predictor", pred, "--out", work / "l.json"]
    elif command == "demo sample":
        f = _write(work, "g.pt", data.draw(broken_bytes(valid["generator"], valid["evil"])))
        argv = ["demo", "sample", "--generator", f, "--n", "1", "--out", work / "s.png"]
    else:
        f = _write(work, "i.png", data.draw(broken_bytes(valid["png"])))
        argv = ["invert", f, "--generator", gen, "--method", "wplus", "--steps", "1", "--init", "mean", "--out", work / "inv"]
    COUNTS["cli"] += 1
    rc = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc in (0, 2), (argv, err)
    assert "Traceback" not in err and "internal error" not in err and "weights_only" not in err, err
    if rc == 2:
        assert sum("error:" in ln for ln in err.splitlines()) == 1, err
    assert not marker.exists()


def test_marker_and_counts(marker: Path) -> None:
    """Runs after the fuzzers in this module: no code ran, and enough inputs were generated."""
    assert not marker.exists()
    if len(COUNTS) == 7:  # the whole module ran (not a -k selection)
        assert sum(COUNTS.values()) >= 500, COUNTS


def test_evil_really_would_run(tmp_path: Path) -> None:
    """The marker is a real detector: unpickling Evil without a whitelist does create it."""
    m = tmp_path / "ran"
    pickle.loads(pickle.dumps(Evil(m)))  # noqa: S301 - on purpose, our own object
    assert m.exists()


def test_zip_members_roundtrip(good_project: Path, work: Path) -> None:
    out = write_members(work / "copy.samproj", project_members(good_project))
    assert zipfile.ZipFile(out).namelist() == zipfile.ZipFile(good_project).namelist()
