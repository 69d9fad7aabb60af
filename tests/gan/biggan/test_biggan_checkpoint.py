"""The PyTorch port's format (config.json + pytorch_model.bin) on tiny same-format models.

The independent reference is the port's own package, `pytorch-pretrained-biggan` (a dev-only
dependency): files it writes load into our network and give its forward, and files we write load
into it (strictly) and give ours."""

from __future__ import annotations

import io
import json
import pickle

import pytest
import torch

from sam_editor.gan.biggan.checkpoint import (
    BigGANCheckpointError,
    find_files,
    load_biggan,
    save_port_format,
)
from sam_editor.gan.biggan.generator import one_hot
from sam_editor.testing.biggan import random_biggan, tiny_config

port = pytest.importorskip("pytorch_pretrained_biggan", reason="the port is the independent reference (dev extra)")


def _port_model(seed: int = 0):
    """The port's BigGAN of the tiny config, every parameter and buffer random, in eval mode (no
    power iteration). u, v are the weights' top singular vectors, as after training, so
    σ = uᵀ W_orig v is each weight's spectral norm (≠ 1: the fold is exercised)."""
    cfg = port.BigGANConfig.from_dict(tiny_config().to_dict())
    model = port.BigGAN(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("running_vars"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif name.endswith(("weight_u", "weight_v")):
                continue  # set from the weights below
            elif name.endswith("gamma"):
                t.fill_(0.7)
            else:
                fan_in = t[0].numel() if t.ndim >= 2 else 10
                t.copy_(torch.randn(t.shape, generator=gen) / fan_in**0.5)
        for mod in model.modules():
            if hasattr(mod, "weight_orig"):
                u, _, vh = torch.linalg.svd(mod.weight_orig.reshape(mod.weight_orig.shape[0], -1))
                mod.weight_u.copy_(u[:, 0])
                mod.weight_v.copy_(vh[0])
    return model.eval()


def _write_port_files(model, folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(model.config.to_json_string())
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


@pytest.mark.parametrize("truncation", [1.0, 0.4])
def test_port_files_load_and_match_the_port_forward(tmp_path, truncation):
    model = _port_model()
    folder = _write_port_files(model, tmp_path / "tiny")
    net, meta = load_biggan(folder)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1)) * truncation
    y = one_hot([0, 5, 9], 10)
    with torch.no_grad():
        ref = model(z, y, truncation)
        ours = net(z, y, truncation)
    assert ref.std() > 0.05  # a non-trivial image to compare
    assert torch.allclose(ours, ref, atol=2e-5), float((ours - ref).abs().max())
    assert meta["source_format"] == "pytorch-pretrained-biggan"


def test_our_files_load_strictly_into_the_port(tmp_path):
    net = random_biggan(seed=2)
    save_port_format(net, tmp_path / "ours")
    cfg = port.BigGANConfig.from_json_file(str(tmp_path / "ours" / "config.json"))
    model = port.BigGAN(cfg)
    model.load_state_dict(torch.load(tmp_path / "ours" / "pytorch_model.bin", weights_only=True), strict=True)
    model.eval()
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(3))
    y = one_hot([1, 2], 10)
    with torch.no_grad():
        assert torch.allclose(model(z, y, 1.0), net(z, y, 1.0), atol=2e-5)
    again, _ = load_biggan(tmp_path / "ours" / "pytorch_model.bin")  # the .bin path finds its config.json
    with torch.no_grad():
        assert torch.allclose(again(z, y, 0.5), net(z, y, 0.5), atol=1e-5)


def test_download_names_are_found(tmp_path):
    """The port's own download names: <model>-pytorch_model.bin next to <model>-config.json."""
    net = random_biggan()
    save_port_format(net, tmp_path / "x")
    (tmp_path / "x" / "pytorch_model.bin").rename(tmp_path / "biggan-deep-256-pytorch_model.bin")
    (tmp_path / "x" / "config.json").rename(tmp_path / "biggan-deep-256-config.json")
    config, weights = find_files(tmp_path / "biggan-deep-256-pytorch_model.bin")
    assert config.name == "biggan-deep-256-config.json" and weights.is_file()


# ---- refusals -------------------------------------------------------------------------------------
@pytest.fixture()
def good(tmp_path):
    return save_port_format(random_biggan(seed=4), tmp_path / "good")


def test_missing_files_are_named(tmp_path, good):
    with pytest.raises(BigGANCheckpointError, match="no such file or folder"):
        load_biggan(tmp_path / "not_there")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BigGANCheckpointError, match="pytorch_model.bin” not found"):
        load_biggan(tmp_path / "empty")
    (good / "config.json").unlink()
    with pytest.raises(BigGANCheckpointError, match="no config.json next to"):
        load_biggan(good)


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "not valid JSON"),
        ('{"output_dim": 32}', "lacks z_dim"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_broken_config_json(good, text, words):
    (good / "config.json").write_text(text)
    with pytest.raises(BigGANCheckpointError, match=words):
        load_biggan(good)


def test_config_and_weights_that_do_not_belong_together(good):
    d = json.loads((good / "config.json").read_text())
    d["z_dim"], d["class_embed_dim"] = 32, 32
    (good / "config.json").write_text(json.dumps(d))
    with pytest.raises(BigGANCheckpointError, match="do not belong together"):
        load_biggan(good)


def test_truncated_and_incomplete_weights(good):
    data = (good / "pytorch_model.bin").read_bytes()
    (good / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(BigGANCheckpointError, match="damaged|truncated"):
        load_biggan(good)
    state = {"embeddings.weight": torch.zeros(16, 10)}
    torch.save(state, good / "pytorch_model.bin")
    with pytest.raises(BigGANCheckpointError, match="lacks generator.gen_z.weight.* more"):
        load_biggan(good)
    torch.save([torch.zeros(3)], good / "pytorch_model.bin")
    with pytest.raises(BigGANCheckpointError, match="does not hold a state dict"):
        load_biggan(good)


def test_non_finite_weights_are_refused(good):
    state = torch.load(good / "pytorch_model.bin", weights_only=True)
    state["generator.layers.0.conv_1.bias"][0] = float("nan")
    torch.save(state, good / "pytorch_model.bin")
    with pytest.raises(BigGANCheckpointError, match="conv_1.bias holds NaN"):
        load_biggan(good)


class _Payload:
    def __reduce__(self):
        return (print, ("code from the file ran",))


def test_a_pickle_that_runs_code_is_refused_without_running_it(good, capsys):
    buf = io.BytesIO()
    pickle.dump({"embeddings.weight": _Payload()}, buf)
    (good / "pytorch_model.bin").write_bytes(buf.getvalue())
    with pytest.raises(BigGANCheckpointError):
        load_biggan(good)
    assert "code from the file ran" not in capsys.readouterr().out


def test_registry_entries_resolve_to_one_folder(tmp_path, monkeypatch):
    """biggan-deep-256 and its config share a folder under the weights dir; once both files are
    there (here: a tiny stand-in written to the registry's paths) the name loads as a generator."""
    import fnmatch

    from sam_editor import weights
    from sam_editor.gan.biggan.checkpoint import REGISTERED, is_biggan_spec, resolve_biggan
    from sam_editor.gan.biggan.generator import load_conditioned

    assert fnmatch.filter(weights.REGISTRY, "biggan-deep-256*") == ["biggan-deep-256", "biggan-deep-256-config"]
    for name in REGISTERED:
        e, c = weights.get(name), weights.get(f"{name}-config")
        assert e.url.endswith(f"/{name}-pytorch_model.bin") and c.url.endswith(f"/{name}-config.json")
        assert e.subdir == c.subdir and not e.hash_known  # no published checksum: presence only
    monkeypatch.setenv("SAM_EDITOR_WEIGHTS", str(tmp_path))
    target = weights.target_path("biggan-deep-256").parent
    save_port_format(random_biggan(seed=5), target)
    assert is_biggan_spec("biggan-deep-256") and resolve_biggan("biggan-deep-256") == target
    G, meta = load_conditioned("biggan-deep-256")
    assert meta["class_index"] == 0 and G.cfg.num_classes == 10  # a 10-class stand-in: class 0 by default
