"""Predictor S (eq. 3.2): our small CNN and the official SAM checkpoint format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_editor.invertibility.predictor import (
    OfficialSAMPredictor,
    TinyInvertibilityNet,
    load_official_predictor,
    load_predictor,
    predict,
    preprocess,
    save_predictor,
)
from sam_editor.testing.official_formats import (  # the official layout, shared with the rehearsal
    OFFICIAL_HEADS,
    official_base_spec,
    official_head_spec,
    random_state,
)


@pytest.fixture(scope="module")
def official_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    gen = torch.Generator().manual_seed(0)
    ckpt = {"sd_base": random_state(official_base_spec(), gen)}
    for name in OFFICIAL_HEADS:
        ckpt[name] = random_state(official_head_spec(), gen)
    path = tmp_path_factory.mktemp("official") / "invertibility_cars_sg2.pt"
    torch.save(ckpt, path)
    return path, ckpt


def test_official_checkpoint_loads_with_the_official_key_names(official_checkpoint) -> None:
    path, ckpt = official_checkpoint
    model = load_predictor(path)
    assert isinstance(model, OfficialSAMPredictor) and not model.training
    assert set(model.base.state_dict()) == set(ckpt["sd_base"])
    assert not any(p.is_meta for p in model.parameters())
    torch.testing.assert_close(
        model.base.state_dict()["decoder.last_conv.8.weight"], ckpt["sd_base"]["decoder.last_conv.8.weight"]
    )
    torch.testing.assert_close(model.heads["F6"].state_dict()["m.3.weight"], ckpt["F6"]["m.3.weight"])
    x = torch.rand(1, 3, 48, 64) * 2 - 1
    with torch.inference_mode():
        y = model(x)
        f6 = model.heads["F6"](model.base(x))
    assert y.shape == (1, 5, 48, 64) and torch.isfinite(y).all() and (y >= 0).all()
    # channel order is LayerSpace order: channel 2 is the F6 head applied to the shared features
    torch.testing.assert_close(y[:, 2:3], f6)
    # output stride 16 with multi-grid dilations (2, 4, 8) in layer4; low-level features at 1/4
    with torch.inference_mode():
        deep, low = model.base.backbone(x)
    assert deep.shape[-2:] == (3, 4) and low.shape[-2:] == (12, 16)
    assert [b.conv2.dilation[0] for b in model.base.backbone.layer4] == [2, 4, 8]
    # predict(): resized to the model's input size, maps returned at the image size
    model.input_size = (48, 64)
    image = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    maps = predict(model, image)
    assert maps.shape == (5, 60, 80) and maps.dtype == np.float32 and (maps >= 0).all()


def test_official_loader_accepts_dataparallel_prefix_and_rejects_bad_files(official_checkpoint, tmp_path) -> None:
    _, ckpt = official_checkpoint
    with torch.device("meta"):
        model = OfficialSAMPredictor(input_size=(32, 32))
    prefixed = dict(ckpt)
    prefixed["sd_base"] = {"module." + k: v for k, v in ckpt["sd_base"].items()}
    model.load_official_state(prefixed)
    missing_head = {k: v for k, v in ckpt.items() if k != "F10"}
    with pytest.raises(KeyError):
        model.load_official_state(missing_head)
    wrong = dict(ckpt)
    wrong["F4"] = dict(ckpt["F4"], **{"m.3.weight": torch.zeros(4, 2, 1, 1)})
    with pytest.raises(RuntimeError):
        model.load_official_state(wrong)
    missing_key = dict(ckpt)
    missing_key["sd_base"] = {k: v for k, v in ckpt["sd_base"].items() if "layer3.22." not in k}
    with pytest.raises(RuntimeError):
        model.load_official_state(missing_key)
    torch.save({"something": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError):
        load_predictor(tmp_path / "bad.pt")


def test_official_loader_function(official_checkpoint) -> None:
    path, _ = official_checkpoint
    model = load_official_predictor(path, input_size=(32, 48))
    assert model.input_size == (32, 48) and not model.training


def test_tiny_net_shapes_round_trip_and_heads(tmp_path) -> None:
    torch.manual_seed(0)
    model = TinyInvertibilityNet(width=8, input_size=(48, 64)).eval()
    assert len(model.heads) == 5
    x = torch.rand(2, 3, 48, 64) * 2 - 1
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (2, 5, 48, 64) and (y >= 0).all()
    path = save_predictor(model, tmp_path / "tiny.pt", {"note": "test"})
    loaded = load_predictor(path)
    assert isinstance(loaded, TinyInvertibilityNet) and loaded.input_size == (48, 64)
    assert loaded.meta["note"] == "test"
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), y)
    image = np.random.default_rng(1).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    assert predict(loaded, image).shape == (5, 97, 131)
    assert predict(loaded, image, out_size=(10, 20)).shape == (5, 10, 20)


def test_preprocess_normalises_to_minus_one_one() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[0, 0] = 255
    x = preprocess(image, None)
    assert x.shape == (1, 3, 4, 6)
    assert x.min() == -1 and x.max() == 1
    with pytest.raises(ValueError):
        preprocess(image.astype(np.float32), None)
