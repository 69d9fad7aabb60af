"""Predictor S (eq. 3.2): our small CNN and the official SAM checkpoint format."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_editor.invertibility.predictor import (
    InvertibilityPredictor,
    OfficialHead,
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


# ---- pinned by hand (issue 36: mutation testing) ------------------------------------------------
def test_preprocess_is_rgb_channels_first_scaled_and_resized_like_opencv() -> None:
    image = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    x = preprocess(image, None)
    assert x.dtype == torch.float32 and x.shape == (1, 3, 30, 40)
    torch.testing.assert_close(x[0, 2, 7, 11], torch.tensor(image[7, 11, 2] / 127.5 - 1, dtype=torch.float32))
    torch.testing.assert_close(x[0].permute(1, 2, 0), torch.from_numpy(image / 127.5 - 1).float())
    assert torch.equal(preprocess(image, (30, 40)), x)  # its own size: untouched
    for size, interp in (((15, 20), cv2.INTER_AREA), ((45, 60), cv2.INTER_LINEAR), ((20, 50), cv2.INTER_AREA)):
        ref = cv2.resize(image, size[::-1], interpolation=interp).astype(np.float32) / 127.5 - 1
        torch.testing.assert_close(preprocess(image, size)[0].permute(1, 2, 0), torch.from_numpy(ref))
    for bad in (image[..., :2], image[0], image.astype(np.float32)):
        with pytest.raises(ValueError, match=r"expected an RGB uint8 image \(H, W, 3\)"):
            preprocess(bad, None)


class _Ramp(InvertibilityPredictor):
    """A parameter-free 'predictor': map l = red channel − 0.2·l (negative where the image is dark)."""

    input_size = (16, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :1] - 0.2 * k for k in range(5)], 1)


def test_predict_clamps_resizes_back_bilinearly_and_restores_the_mode() -> None:
    image = np.random.default_rng(3).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    model = _Ramp().train()
    maps = predict(model, image)
    assert model.training and maps.dtype == np.float32 and maps.shape == (5, 32, 40)
    small = preprocess(image, (16, 24))[0, 0].numpy()
    for k in range(5):
        expected = cv2.resize(np.maximum(small - 0.2 * k, 0), (40, 32), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(maps[k], expected, atol=1e-5)
    assert (maps >= 0).all() and (maps == 0).any()
    np.testing.assert_allclose(predict(model.eval(), image, out_size=(16, 24))[1], np.maximum(small - 0.2, 0), atol=1e-6)
    assert not model.training


def test_official_head_is_the_official_layer_sequence() -> None:
    torch.manual_seed(4)
    head = OfficialHead(8).eval()
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()
        head.m[1].running_mean.normal_()
        head.m[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, 8, 6, 7)
    bn = head.m[1]
    y = F.conv_transpose2d(x, head.m[0].weight, head.m[0].bias, stride=1, padding=1)
    y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    y = F.conv_transpose2d(F.leaky_relu(y, 0.2), head.m[3].weight, head.m[3].bias)
    with torch.no_grad():
        torch.testing.assert_close(head(x), F.relu(y))


def test_predictor_files_refused_with_their_reason(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="predictor file not found"):
        load_predictor(tmp_path / "none.pt")
    with pytest.raises(TypeError, match="only TinyInvertibilityNet"):
        save_predictor(OfficialHead(), tmp_path / "x.pt")
    tiny = TinyInvertibilityNet(width=4, input_size=(16, 16))
    assert tiny.config() == {"width": 4, "input_size": [16, 16]}
    path = save_predictor(tiny, tmp_path / "sub" / "deeper" / "tiny.pt")  # folders made as needed
    payload = torch.load(path, weights_only=False)
    assert payload["spaces"] == ["W+", "F4", "F6", "F8", "F10"] and payload["meta"] == {}
    torch.save({**payload, "spaces": ["F4", "W+", "F6", "F8", "F10"]}, tmp_path / "order.pt")
    with pytest.raises(ValueError, match="order.pt predicts the invertibility of the spaces F4, W\\+, F6, F8, F10; "
                       "this generator inverts in W\\+, F4, F6, F8, F10"):  # fmt: skip
        load_predictor(tmp_path / "order.pt")
    for change, why in (({"spaces": 5}, "its spaces are a int"), ({"config": {"width": 4}}, "KeyError: 'input_size'"),
                        ({"state_dict": {}}, "RuntimeError")):
        torch.save({**payload, **change}, tmp_path / "bad.pt")
        with pytest.raises(ValueError, match=f"bad.pt: a damaged SAM Editor predictor \\({why}"):
            load_predictor(tmp_path / "bad.pt")
    torch.save({**payload, "spaces": []}, tmp_path / "old.pt")  # older files without the list
    assert isinstance(load_predictor(tmp_path / "old.pt"), TinyInvertibilityNet)
    torch.save({"sd_base": {}, "W+": {}, "F4": {}, "F6": {}, "F8": {}, "F10": {}}, tmp_path / "off.pt")
    with pytest.raises(ValueError, match="off.pt: not a usable official SAM predictor"):
        load_predictor(tmp_path / "off.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="is neither a sam_editor predictor nor an official SAM checkpoint"):
        load_predictor(tmp_path / "list.pt")


def test_the_shipped_demo_predictor_fits_the_tiny_architecture() -> None:
    # the bundle's weights were trained with this network: every layer of it must be there
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "weights" / "demo" / "invertibility.pt"
    if not path.is_file():
        pytest.skip("demo weights not present")
    model = load_predictor(path)
    assert isinstance(model, TinyInvertibilityNet)
    state = torch.load(path, weights_only=False)["state_dict"]
    assert set(model.state_dict()) == set(state)
    # the image-level context it was trained with is rectified (added to the features as ≥ 0)
    with torch.no_grad():
        assert (model.context(torch.randn(2, 4 * model.width, 6, 6)) >= 0).all()
