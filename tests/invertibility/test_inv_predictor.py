"""Predictor S (eq. 3.2): our small CNN and the official SAM checkpoint format."""

from __future__ import annotations

from collections import OrderedDict

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

OFFICIAL_HEADS = ("W+", "F4", "F6", "F8", "F10")


# ---------------------------------------------------------------- official format, written from
# the published architecture (DeepLabV3+ / ResNet-101 / OS16 / 8 outputs + per-space heads)
def _conv(spec: dict, name: str, cout: int, cin: int, k: int, bias: bool = False) -> None:
    spec[f"{name}.weight"] = (cout, cin, k, k)
    if bias:
        spec[f"{name}.bias"] = (cout,)


def _bn(spec: dict, name: str, c: int) -> None:
    for p in ("weight", "bias", "running_mean", "running_var"):
        spec[f"{name}.{p}"] = (c,)
    spec[f"{name}.num_batches_tracked"] = ()


def official_base_spec() -> OrderedDict[str, tuple[int, ...]]:
    spec: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    _conv(spec, "backbone.conv1", 64, 3, 7)
    _bn(spec, "backbone.bn1", 64)
    inplanes = 64
    for li, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 23), (512, 3)], start=1):
        for b in range(blocks):
            p = f"backbone.layer{li}.{b}"
            cin = inplanes if b == 0 else planes * 4
            _conv(spec, f"{p}.conv1", planes, cin, 1)
            _bn(spec, f"{p}.bn1", planes)
            _conv(spec, f"{p}.conv2", planes, planes, 3)
            _bn(spec, f"{p}.bn2", planes)
            _conv(spec, f"{p}.conv3", planes * 4, planes, 1)
            _bn(spec, f"{p}.bn3", planes * 4)
            if b == 0:
                _conv(spec, f"{p}.downsample.0", planes * 4, cin, 1)
                _bn(spec, f"{p}.downsample.1", planes * 4)
        inplanes = planes * 4
    for i, k in enumerate((1, 3, 3, 3), start=1):
        _conv(spec, f"aspp.aspp{i}.atrous_conv", 256, 2048, k)
        _bn(spec, f"aspp.aspp{i}.bn", 256)
    _conv(spec, "aspp.global_avg_pool.1", 256, 2048, 1)
    _bn(spec, "aspp.global_avg_pool.2", 256)
    _conv(spec, "aspp.conv1", 256, 1280, 1)
    _bn(spec, "aspp.bn1", 256)
    _conv(spec, "decoder.conv1", 48, 256, 1)
    _bn(spec, "decoder.bn1", 48)
    _conv(spec, "decoder.last_conv.0", 256, 304, 3)
    _bn(spec, "decoder.last_conv.1", 256)
    _conv(spec, "decoder.last_conv.4", 256, 256, 3)
    _bn(spec, "decoder.last_conv.5", 256)
    _conv(spec, "decoder.last_conv.8", 8, 256, 1, bias=True)
    return spec


def official_head_spec() -> OrderedDict[str, tuple[int, ...]]:
    spec: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    spec["m.0.weight"] = (8, 4, 3, 3)  # ConvTranspose2d(8, 4, 3): weight is (in, out, k, k)
    spec["m.0.bias"] = (4,)
    _bn(spec, "m.1", 4)
    spec["m.3.weight"] = (4, 1, 1, 1)
    spec["m.3.bias"] = (1,)
    return spec


def random_state(spec: dict, gen: torch.Generator, prefix: str = "") -> dict[str, torch.Tensor]:
    out = {}
    for name, shape in spec.items():
        if name.endswith("num_batches_tracked"):
            out[prefix + name] = torch.tensor(0)
        elif name.endswith("running_var"):
            out[prefix + name] = torch.rand(shape, generator=gen) + 0.5
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            out[prefix + name] = torch.randn(shape, generator=gen) / np.sqrt(fan_in)
    return out


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
