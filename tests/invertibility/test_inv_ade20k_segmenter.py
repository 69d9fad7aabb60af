"""The ADE20k segmenter for official weights (issue 35): NVIDIA's SegFormer checkpoints as published
on the Hugging Face hub (config.json + model.safetensors / pytorch_model.bin), read by our own forward
pass. Tiny models of the same format are written by `transformers`' own save_pretrained (the library
the published files come from) and its forward is the independent reference; refusals and fallbacks
need no transformers."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_editor.invertibility.ade20k import (
    MEAN,
    STD,
    Ade20kError,
    Ade20kSegmenter,
    find_ade20k_folder,
    load_segformer,
    official_segmenter,
)
from sam_editor.invertibility.segmenters import OversegSegmenter
from sam_editor.testing.official_formats import (
    ADE20K_NAMES,
    SEGFORMER_TINY,
    randomise_segformer,
    segformer_config,
    write_segformer_folder,
)
from sam_editor.util import UNSAFE_FILE

torch.set_flush_denormal(True)
torch.set_num_threads(1)

# a tiny SegFormer (4 stages as B0, heads > 1 and key/value reduction where B0 has them) and the
# folder writer: shared with the official-format rehearsal (sam_editor.testing.official_formats)
TINY = SEGFORMER_TINY
NAMES = ADE20K_NAMES
_randomise = randomise_segformer


def _config(**changes) -> dict:
    return segformer_config(TINY, **changes)


def _own_folder(folder: Path, seed: int = 0, fmt: str = "safetensors", **config_changes) -> Path:
    """A tiny checkpoint folder written without transformers (same names as the published file)."""
    return write_segformer_folder(folder, TINY, seed, fmt, **config_changes)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """(folder written by transformers' save_pretrained, the transformers model itself)."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.SegformerConfig(
        num_labels=150, id2label=dict(enumerate(NAMES)), label2id={n: i for i, n in enumerate(NAMES)}, **TINY
    )
    model = transformers.SegformerForSemanticSegmentation(cfg).eval()
    _randomise(model, seed=1)
    folder = tmp_path_factory.mktemp("segformer-tiny")
    model.save_pretrained(folder)  # safetensors, the published file's layout and names
    return folder, model


def _image(seed: int = 0, h: int = 48, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 3] = (110, 160, 230)  # sky
    img[h // 3 :] = (90, 90, 90)  # road
    cv2.rectangle(img, (w // 4, h // 3), (3 * w // 4, 2 * h // 3), (200, 30, 30), -1)  # a red "car"
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------- format and forward


def test_published_format_loads_and_matches_transformers_forward(hf):
    folder, ref = hf
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:  # the hub file's parameter names
        keys = set(f.keys())
    assert "segformer.encoder.block.1.1.attention.self.query.weight" in keys
    assert "decode_head.linear_c.3.proj.weight" in keys
    ours = load_segformer(folder)
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = ref(pixel_values=x).logits
    got = ours(x)
    assert got.shape == expected.shape == (2, 150, 16, 24)
    assert expected.std() > 0.5  # the randomised weights make a real test of every layer
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_class_map_matches_an_independent_computation(hf):
    folder, ref = hf
    seg = Ade20kSegmenter(folder, size=64, work_size=80)
    img = _image()
    classes = seg.class_map(img)
    assert classes.shape == img.shape[:2] and classes.dtype == np.int32
    assert classes.min() >= 0 and classes.max() < 150 and len(np.unique(classes)) > 1
    assert seg.class_names[20] == "car" and len(seg.class_names) == 150
    # the published preprocessor: resize to size², /255, ImageNet mean/std; then transformers' model
    x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    with torch.no_grad():
        logits = ref(pixel_values=x).logits
    expected = F.interpolate(logits, size=img.shape[:2], mode="bilinear", align_corners=False).argmax(1)[0].numpy()
    assert (classes == expected).mean() > 0.99


def test_class_map_is_computed_at_work_size_and_scaled_to_the_image(tmp_path):
    seg = Ade20kSegmenter(_own_folder(tmp_path / "m"), size=64, work_size=40)
    img = _image(h=60, w=100)
    classes = seg.class_map(img)
    assert classes.shape == (60, 100)
    small = cv2.resize(classes.astype(np.uint8), (40, 24), interpolation=cv2.INTER_NEAREST)
    back = cv2.resize(small, (100, 60), interpolation=cv2.INTER_NEAREST)
    assert (back == classes).mean() > 0.97  # nearest-upsampled from a 40×24 map, not finer


def test_segments_are_the_connected_components_of_the_class_map(tmp_path):
    seg = Ade20kSegmenter(_own_folder(tmp_path / "m", seed=3), size=64, work_size=80, min_area_fraction=0.0)
    img = _image(seed=1)
    classes, labels = seg.class_map(img), seg.segment(img)
    assert labels.dtype == np.int32 and sorted(np.unique(labels)) == list(range(labels.max() + 1))
    n_components = sum(cv2.connectedComponents((classes == c).astype(np.uint8), connectivity=4)[0] - 1
                       for c in np.unique(classes))  # fmt: skip
    assert labels.max() + 1 == n_components > 1
    for k in range(labels.max() + 1):
        inside = labels == k
        assert len(np.unique(classes[inside])) == 1  # one class per segment
        assert cv2.connectedComponents(inside.astype(np.uint8), connectivity=4)[0] == 2  # and connected


def test_tiny_components_join_a_neighbour(tmp_path):
    folder = _own_folder(tmp_path / "m", seed=3)
    img = _image(seed=1)
    exact = Ade20kSegmenter(folder, size=64, work_size=80, min_area_fraction=0.0).segment(img)
    merged_seg = Ade20kSegmenter(folder, size=64, work_size=80, min_area_fraction=0.05)
    merged = merged_seg.segment(img)
    assert merged.max() < exact.max()
    assert np.bincount(merged.ravel()).min() >= 0.05 * merged.size
    for k in range(exact.max() + 1):  # whole components are merged, never split
        assert len(np.unique(merged[exact == k])) == 1


def test_pytorch_model_bin_loads_like_safetensors(tmp_path):
    a = load_segformer(_own_folder(tmp_path / "st", seed=2))
    b = load_segformer(_own_folder(tmp_path / "bin", seed=2, fmt="bin"))
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(a(x), b(x))


# ------------------------------------------------------------------------------ refusals


def _expect_refusal(path: Path, *words: str) -> str:
    with pytest.raises(Ade20kError) as info:
        load_segformer(path)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


def test_truncated_and_garbage_safetensors_are_refused(tmp_path):
    folder = _own_folder(tmp_path / "m")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    _expect_refusal(folder, "model.safetensors", "broken or truncated")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    _expect_refusal(folder, "broken or truncated")


@pytest.mark.parametrize("fmt, name", [("bin", "pytorch_model.bin"), ("safetensors", "model.safetensors")])
def test_every_truncation_is_refused(tmp_path, fmt, name):
    folder = _own_folder(tmp_path / "m", fmt=fmt)
    data = (folder / name).read_bytes()
    damaged = "broken or truncated" if fmt == "safetensors" else "not a readable SegFormer checkpoint"
    for cut in (0, 1, 7, 8, 64, 300, len(data) // 3, len(data) - 1):
        (folder / name).write_bytes(data[:cut])
        assert UNSAFE_FILE not in _expect_refusal(folder, name, damaged)
    (folder / "plain.bin").write_bytes(pickle.dumps({"a": 1})[:-3])  # a bare, cut pickle
    _expect_refusal(folder / "plain.bin", "plain.bin", "not a readable")


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {_Payload.marker}",))


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    folder = _own_folder(tmp_path / "m", fmt="bin")
    _Payload.marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"decode_head.classifier.bias": _Payload()}, buf)
    (folder / "pytorch_model.bin").write_bytes(buf.getvalue())
    _expect_refusal(folder, UNSAFE_FILE)
    plain = tmp_path / "plain"  # a bare pickle, not a torch zip, is refused the same way
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps(_config()))
    (plain / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(), protocol=2))
    _expect_refusal(plain, UNSAFE_FILE)
    assert not _Payload.marker.exists()


@pytest.mark.parametrize(
    "config, words",
    [
        ("{not json", ["config.json", "not a readable"]),
        (json.dumps(_config(model_type="deeplab")), ["model_type", "segformer"]),
        (json.dumps(_config(id2label={str(i): f"c{i}" for i in range(21)})), ["21 classes", "150"]),
        (json.dumps(_config(depths=[1, 1, 1])), ["stages"]),
        (json.dumps(_config(hidden_sizes=[8, 16, 24, 30])), ["divisible"]),
    ],
)
def test_bad_configs_are_refused(tmp_path, config, words):
    folder = _own_folder(tmp_path / "m")
    (folder / "config.json").write_text(config)
    _expect_refusal(folder, *words)


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = _own_folder(tmp_path / "m")
    state = load_file(str(folder / "model.safetensors"))
    # a bigger model's config beside these weights: shapes differ
    (folder / "config.json").write_text(json.dumps(_config(decoder_hidden_size=32)))
    _expect_refusal(folder, "shape", "decode_head")
    (folder / "config.json").write_text(json.dumps(_config()))
    # a tensor missing, and one that belongs to no SegFormer
    state.pop("segformer.encoder.block.1.1.mlp.dense2.weight")
    state["aux_head.weight"] = torch.zeros(3)
    save_file(state, str(folder / "model.safetensors"))
    _expect_refusal(folder, "1 tensors missing", "mlp.dense2", "1 unexpected", "aux_head")
    state = load_file(str(_own_folder(tmp_path / "n") / "model.safetensors"))
    state["decode_head.classifier.bias"][3] = float("nan")
    save_file(state, str(tmp_path / "n" / "model.safetensors"))
    _expect_refusal(tmp_path / "n", "NaN")


def test_missing_files_say_how_to_fetch(tmp_path):
    _expect_refusal(tmp_path / "nowhere", "sam-editor weights fetch")
    folder = _own_folder(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    _expect_refusal(folder, "no model.safetensors or pytorch_model.bin", "sam-editor weights fetch")
    (folder / "config.json").unlink()
    _expect_refusal(folder, "no config.json")


# ------------------------------------------------------------- registry and official bundle


def _registry_folder(root: Path) -> Path:
    from sam_editor import weights

    return root / weights.get("segformer-ade20k").subdir


def test_registry_lists_both_files_in_one_folder(tmp_path, monkeypatch, capsys):
    import argparse

    from sam_editor import weights
    from sam_editor.weights_commands import cmd_list

    w, c = weights.get("segformer-ade20k"), weights.get("segformer-ade20k-config")
    assert (w.filename, c.filename) == ("model.safetensors", "config.json") and w.kind == c.kind == "segmentation"
    assert weights.target_path(w, tmp_path).parent == weights.target_path(c, tmp_path).parent
    assert w.url.startswith("https://huggingface.co/nvidia/segformer-b0-finetuned-ade-512-512/")
    monkeypatch.setenv("SAM_EDITOR_WEIGHTS", str(tmp_path))
    assert find_ade20k_folder() is None
    _own_folder(_registry_folder(tmp_path))
    assert find_ade20k_folder() == _registry_folder(tmp_path)
    cmd_list(argparse.Namespace(dir=str(tmp_path), urls=False))
    rows = {line.split()[0]: line.split()[2] for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert rows["segformer-ade20k"] == rows["segformer-ade20k-config"] == "present"


def test_a_bare_config_json_in_a_weights_root_is_not_taken_for_the_segmenter(tmp_path):
    _own_folder(tmp_path)  # config.json + model.safetensors directly in the root
    assert find_ade20k_folder([tmp_path]) is None


def test_official_segmenter_uses_ade20k_when_present(tmp_path):
    _own_folder(_registry_folder(tmp_path))
    seg, notes = official_segmenter([tmp_path])
    assert isinstance(seg, Ade20kSegmenter) and notes == []
    assert "ADE20k" in seg.label


def test_official_segmenter_falls_back_and_names_the_fallback(tmp_path):
    seg, notes = official_segmenter([tmp_path])  # nothing there
    assert isinstance(seg, OversegSegmenter)
    assert len(notes) == 1 and "over-segmentation" in notes[0] and "segformer-ade20k" in notes[0]
    # a broken ADE20k file and a broken DeepLabV3 file: both reasons are given
    folder = _own_folder(_registry_folder(tmp_path))
    (folder / "model.safetensors").write_bytes(b"junk")
    from sam_editor import weights

    deeplab = weights.get("deeplabv3-resnet50-coco")
    (tmp_path / deeplab.filename).write_bytes(b"junk")
    seg, notes = official_segmenter([tmp_path])
    assert isinstance(seg, OversegSegmenter)
    assert "broken or truncated" in notes[0] and "DeepLabV3" in notes[0] and "over-segmentation" in notes[0]


def test_make_segmenter_knows_ade20k(tmp_path, monkeypatch):
    from sam_editor.invertibility.segmenters import make_segmenter, segmenter_names

    assert "ade20k" in segmenter_names()
    seg = make_segmenter("ade20k", _own_folder(tmp_path / "m"), size=64)
    assert isinstance(seg, Ade20kSegmenter) and seg.size == 64
    monkeypatch.setenv("SAM_EDITOR_WEIGHTS", str(tmp_path / "empty"))
    with pytest.raises(Ade20kError, match="sam-editor weights fetch 'segformer-ade20k\\*'"):
        make_segmenter("ade20k")


@pytest.mark.parametrize("present", [True, False])
def test_official_bundle_uses_ade20k_or_names_its_fallback(tmp_path, present):
    from sam_editor import weights
    from sam_editor.gan.native import save_generator
    from sam_editor.gan.networks import Generator, GeneratorConfig
    from sam_editor.session.models import Bundle, load_bundle

    gen = tmp_path / weights.get("stylegan2-car").subdir / weights.get("stylegan2-car").filename
    gen.parent.mkdir(parents=True)
    cfg = GeneratorConfig(resolution=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    save_generator(gen, Generator(cfg).eval(), {})  # a tiny G, read by content under the official name
    if present:
        _own_folder(_registry_folder(tmp_path))
    bundle = load_bundle(weights_dirs=[tmp_path], device="cpu", cache_dir=tmp_path / "cache")
    assert isinstance(bundle, Bundle) and bundle.kind == "official"
    if present:
        assert isinstance(bundle.segmenter, Ade20kSegmenter) and "ADE20k" in bundle.describe()["segmenter"]
        assert not any("fallback" in n for n in bundle.notes)
    else:
        assert isinstance(bundle.segmenter, OversegSegmenter)
        assert any("fallback colour over-segmentation" in n and "segformer-ade20k" in n for n in bundle.notes)


def test_latent_map_command_with_ade20k(tmp_path, monkeypatch, capsys):
    """`sam-editor latent-map --segmenter ade20k`: one error line when the files are missing, the
    SegFormer's segments (and its label) when they are there."""
    from sam_editor.invertibility.commands import main
    from sam_editor.invertibility.predictor import TinyInvertibilityNet, save_predictor

    torch.manual_seed(0)
    pred = save_predictor(TinyInvertibilityNet(width=4, input_size=(24, 32)), tmp_path / "p.pt")
    cv2.imwrite(str(tmp_path / "img.png"), _image()[:, :, ::-1])
    base = ["latent-map", str(tmp_path / "img.png"), "--predictor", str(pred), "--segmenter", "ade20k"]
    monkeypatch.setenv("SAM_EDITOR_WEIGHTS", str(tmp_path / "weights"))
    assert main([*base, "--out", str(tmp_path / "a.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "segformer-ade20k" in err and "Traceback" not in err
    _own_folder(_registry_folder(tmp_path / "weights"))
    assert main([*base, "--out", str(tmp_path / "b.json")]) == 0
    assert "ADE20k SegFormer" in capsys.readouterr().out
