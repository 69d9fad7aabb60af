"""Checkpoint formats: each official layout, built here from a tiny generator of ours, must load
back to the identical network; the restricted unpickler must refuse anything else and never run
code from a file; damaged and foreign files give one CheckpointError that names the file."""

from __future__ import annotations

import argparse
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from sam_editor.gan import checkpoints
from sam_editor.gan.checkpoints import convert_to_native, load_generator_any, sniff_format
from sam_editor.gan.native import CheckpointError, save_generator
from sam_editor.gan.networks import Generator, GeneratorConfig
from sam_editor.testing.official_formats import FakeTFNetwork, write_tf_pickle  # shared with the rehearsal

TINY = GeneratorConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These nets are tiny: with the shared CPUs busy, a second intra-op thread only spins."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(0)
    g = Generator(TINY).eval().requires_grad_(False)
    for name, p in g.named_parameters():  # make every parameter matter in the comparison
        if name.endswith(("bias", "noise_strength")):
            p.normal_(0, 0.5)
    g.mapping.w_avg.normal_()
    assert TINY.channels(16) != TINY.channels(4)  # non-uniform channels, so shapes are checked
    return g


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, TINY.z_dim, generator=gen), torch.randn(2, TINY.num_ws, TINY.w_dim, generator=gen)


def assert_same_network(G: Generator, H: Generator, inputs, atol: float = 0.0) -> None:
    """atol=0: bit-identical. The TF layout stores `mod_bias − 1`, so (b − 1) + 1 may differ by an ulp."""
    z, ws = inputs
    assert H.cfg == G.cfg

    def close(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
        assert a.shape == b.shape, what
        assert torch.equal(a, b) if atol == 0 else (a - b).abs().max().item() <= atol, what

    with torch.no_grad():
        close(G.synthesize(ws), H.synthesize(ws), "synthesize")
        close(G(z, truncation_psi=0.7), H(z, truncation_psi=0.7), "z → image")
    h = H.state_dict()
    for k, v in G.state_dict().items():
        close(v, h[k], k)


def _np(G: Generator) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in G.state_dict().items()}


# ---- fake importable modules, so that pickle writes the official global names ------------------
def _fake_reconstruct_persistent_obj(meta):  # pragma: no cover - only its name is pickled
    raise AssertionError


class FakePersistent:
    """Reduces like a stylegan2-ada-pytorch persistent object."""

    def __init__(self, meta: dict):
        self.meta = meta

    def __reduce__(self):
        return (_fake_reconstruct_persistent_obj, (self.meta,))


@pytest.fixture
def fake_modules(monkeypatch):
    tfnet = types.ModuleType("dnnlib.tflib.network")
    FakeTFNetwork.__module__, FakeTFNetwork.__qualname__ = "dnnlib.tflib.network", "Network"
    tfnet.Network = FakeTFNetwork
    persistence = types.ModuleType("torch_utils.persistence")
    f = _fake_reconstruct_persistent_obj
    f.__module__, f.__qualname__, f.__name__ = (
        "torch_utils.persistence",
        "_reconstruct_persistent_obj",
        "_reconstruct_persistent_obj",
    )
    persistence._reconstruct_persistent_obj = f
    for name, mod in [
        ("dnnlib", types.ModuleType("dnnlib")),
        ("dnnlib.tflib", types.ModuleType("dnnlib.tflib")),
        ("dnnlib.tflib.network", tfnet),
        ("torch_utils", types.ModuleType("torch_utils")),
        ("torch_utils.persistence", persistence),
    ]:
        monkeypatch.setitem(sys.modules, name, mod)


# ---- writers for the three official layouts (inverse of the documented mappings) -----------------
def _persistent_tree(module: torch.nn.Module, module_src: str, init_kwargs: dict | None = None) -> FakePersistent:
    state = {
        "training": False,
        "_parameters": OrderedDict((n, p) for n, p in module._parameters.items()),
        "_buffers": OrderedDict((n, b) for n, b in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_forward_hooks": OrderedDict(),
        "_modules": OrderedDict((n, _persistent_tree(m, module_src)) for n, m in module._modules.items()),
        "_init_args": (),
        "_init_kwargs": init_kwargs or {},
        "some_float": 0.5,
    }
    meta = dict(type="class", version=6, module_src=module_src, class_name=type(module).__name__, state=state)
    return FakePersistent(meta)


def write_ada_pickle(
    G: Generator, path: Path, module_src: str = "raise SystemExit('never executed')", nested: bool = True
) -> None:
    """nested: stylegan2-ada-pytorch's `synthesis_kwargs={…}`; False: the stylegan3 repo's
    networks_stylegan2 (used by the SAM code), which takes them as top-level keyword arguments."""
    cfg = G.cfg
    synth = {"channel_base": cfg.channel_base, "channel_max": cfg.channel_max, "num_fp16_res": 0, "conv_clamp": None}
    init = dict(z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=3,
                mapping_kwargs={"num_layers": cfg.mapping_layers})  # fmt: skip
    init.update({"synthesis_kwargs": synth} if nested else synth)
    data = {
        "G": None,
        "D": None,
        "G_ema": _persistent_tree(G, module_src, init),
        "training_set_kwargs": None,
        "augment_pipe": None,
    }
    with open(path, "wb") as f:
        pickle.dump(data, f)


def write_rosinality(G: Generator, path: Path, latent_avg: bool = True, zip_format: bool = True) -> None:
    sd, cfg = G.state_dict(), G.cfg
    out: dict[str, torch.Tensor] = {}
    for i in range(cfg.mapping_layers):
        out[f"style.{i + 1}.weight"], out[f"style.{i + 1}.bias"] = (
            sd[f"mapping.fc{i}.weight"],
            sd[f"mapping.fc{i}.bias"],
        )
    out["input.input"] = sd["synthesis.b4.const"][None]

    def styled(dst: str, src: str, noise: int) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"], out[f"{dst}.conv.modulation.bias"] = (
            sd[f"{src}.affine.weight"],
            sd[f"{src}.affine.bias"],
        )
        out[f"{dst}.noise.weight"] = sd[f"{src}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = sd[f"{src}.bias"]
        out[f"noises.noise_{noise}"] = sd[f"{src}.noise_const"][None, None]

    def torgb(dst: str, src: str) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"], out[f"{dst}.conv.modulation.bias"] = (
            sd[f"{src}.affine.weight"],
            sd[f"{src}.affine.bias"],
        )
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(1, -1, 1, 1)

    styled("conv1", "synthesis.b4.conv1", 0)
    torgb("to_rgb1", "synthesis.b4.torgb")
    for i, res in enumerate(cfg.block_resolutions[1:]):
        styled(f"convs.{2 * i}", f"synthesis.b{res}.conv0", 2 * i + 1)
        styled(f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1", 2 * i + 2)
        torgb(f"to_rgbs.{i}", f"synthesis.b{res}.torgb")
        out[f"convs.{2 * i}.conv.blur.kernel"] = torch.ones(4, 4)  # present in real files, unused here
    ckpt = {"g_ema": {k: v.clone() for k, v in out.items()}}
    if latent_avg:
        ckpt["latent_avg"] = sd["mapping.w_avg"].clone()
    ckpt["args"] = argparse.Namespace(size=cfg.resolution, channel_multiplier=2)  # as rosinality's train.py saves
    torch.save(ckpt, path, _use_new_zipfile_serialization=zip_format)


# ---- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 4])
def test_tf_pickle_round_trip(G, inputs, tmp_path, fake_modules, protocol):
    path = tmp_path / "gen.pkl"
    write_tf_pickle(G, path, protocol=protocol)
    H, meta = load_generator_any(path)
    assert_same_network(G, H, inputs, atol=1e-5)
    assert meta["source_format"] == "stylegan2-tf-pickle" and meta["ignored_variables"] == ["synthesis/lod"]


def test_tf_pickle_written_by_numpy_1(G, inputs, tmp_path, fake_modules):
    path = tmp_path / "old.pkl"
    write_tf_pickle(G, path, protocol=2)
    data = path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # numpy < 2 spelling
    assert b"numpy.core.multiarray\n_reconstruct" in data
    path.write_bytes(data)
    assert_same_network(G, load_generator_any(path)[0], inputs, atol=1e-5)


@pytest.mark.parametrize("nested", [True, False])
def test_ada_pickle_round_trip_never_runs_module_src(G, inputs, tmp_path, fake_modules, nested):
    marker = tmp_path / "executed"
    path = tmp_path / "network-snapshot.pkl"
    write_ada_pickle(G, path, module_src=f"open({str(marker)!r}, 'w').close()", nested=nested)
    H, meta = load_generator_any(path)
    assert_same_network(G, H, inputs)
    assert not marker.exists()
    assert meta["source_format"] == "stylegan2-ada-pickle"


@pytest.mark.parametrize("latent_avg,zip_format", [(True, True), (False, True), (True, False)])
def test_rosinality_round_trip(G, inputs, tmp_path, latent_avg, zip_format):
    path = tmp_path / "rosinality.pt"
    write_rosinality(G, path, latent_avg=latent_avg, zip_format=zip_format)
    H, meta = load_generator_any(path)
    z, ws = inputs
    with torch.no_grad():
        assert torch.equal(G.synthesize(ws), H.synthesize(ws))
    if latent_avg:
        assert_same_network(G, H, inputs)
    else:
        assert meta["w_avg_estimated"] and H.mapping.w_avg.abs().sum() > 0


def test_native_and_cache(G, inputs, tmp_path, fake_modules):
    src = tmp_path / "gen.pkl"
    write_tf_pickle(G, src)
    dst = tmp_path / "gen.sam.pt"
    convert_to_native(src, dst)
    assert sniff_format(dst) == "native" and sniff_format(src) == "pickle"
    assert_same_network(G, load_generator_any(dst)[0], inputs, atol=1e-5)
    cache = tmp_path / "cache"
    H1, meta = load_generator_any(src, cache_dir=cache)
    (cached,) = cache.glob("gen.*.sam.pt")
    H2, meta2 = load_generator_any(src, cache_dir=cache)  # now read from the native cache
    assert meta2["source_format"] == meta["source_format"] == "stylegan2-tf-pickle"
    assert_same_network(G, H2, inputs, atol=1e-5)


def test_crop_known_file_and_argument(G, tmp_path, fake_modules, monkeypatch):
    path = tmp_path / "tiny-car.pkl"
    write_tf_pickle(G, path)
    assert load_generator_any(path)[0].cfg.crop is None
    monkeypatch.setitem(checkpoints.KNOWN_CROPS, "tiny-car", (2, 0, 12, 16))
    H, meta = load_generator_any(path)
    assert H.cfg.crop == (2, 0, 12, 16) and meta["crop_source"] == "known file name"
    assert H(torch.zeros(1, TINY.z_dim)).shape == (1, 3, 12, 16)
    assert load_generator_any(path, crop=None)[0].cfg.crop is None
    with pytest.raises(CheckpointError, match="crop"):
        load_generator_any(path, crop=(0, 0, 32, 32))


def test_official_car_crop_is_recorded():
    assert checkpoints.KNOWN_CROPS["stylegan2-car-config-f"] == (64, 0, 384, 512)  # SAM: img[:, :, 64:-64, :]


# ---- refusals and damage --------------------------------------------------------------------------
def test_refuses_os_system_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(
        b"\x80\x02cos\nsystem\n(X" + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode() + b"tR."
    )
    with pytest.raises(CheckpointError) as err:
        load_generator_any(path)
    assert "os.system" in str(err.value) and "evil.pkl" in str(err.value)
    assert not marker.exists()


def test_refuses_unknown_global_nested_in_a_tf_network(G, tmp_path, fake_modules):
    path = tmp_path / "nested.pkl"
    gs = FakeTFNetwork("Gs", [("dlatent_avg", np.zeros(4, np.float32))], static_kwargs={"x": Path("/")})
    with open(path, "wb") as f:
        pickle.dump((gs, gs, gs), f, protocol=2)
    with pytest.raises(CheckpointError, match=r"nested\.pkl.*pathlib"):
        load_generator_any(path)


def test_stylegan3_is_refused_clearly(G, tmp_path, fake_modules):
    path = tmp_path / "sg3.pkl"
    write_ada_pickle(G, path, module_src="class SynthesisInput(torch.nn.Module): pass\n")
    with pytest.raises(CheckpointError, match="StyleGAN3 synthesis is not supported"):
        load_generator_any(path)


def test_unsupported_tf_options_are_refused(G, tmp_path, fake_modules):
    path = tmp_path / "cond.pkl"
    write_tf_pickle(G, path, label_size=10)
    with pytest.raises(CheckpointError, match="label_size"):
        load_generator_any(path)


@pytest.mark.parametrize("kind", ["tf", "ada", "rosinality", "native"])
def test_truncated_files(G, tmp_path, fake_modules, kind):
    path = tmp_path / f"cut-{kind}.bin"
    {
        "tf": write_tf_pickle,
        "ada": write_ada_pickle,
        "rosinality": write_rosinality,
        "native": lambda g, p: save_generator(p, g),
    }[kind](G, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"cut-{kind}.bin"):
        load_generator_any(path)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a pickle or PyTorch file"),
        (b"hello, world\n", "not a pickle or PyTorch file"),
        (pickle.dumps({"weights": [1, 2, 3]}), "not a StyleGAN2 network pickle"),
        (b"\x80\x04\x95\xff\xff\x00\x00\x00", "corrupt or truncated"),
    ],
)
def test_foreign_and_corrupt_files(tmp_path, content, match):
    path = tmp_path / "foreign.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as err:
        load_generator_any(path)
    assert "foreign.pkl" in str(err.value)


def test_foreign_torch_file_and_missing_file(tmp_path):
    path = tmp_path / "classifier.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(CheckpointError, match=r"classifier\.pt.*not a rosinality"):
        load_generator_any(path)
    with pytest.raises(CheckpointError, match=r"nothing\.pkl.*not found"):
        load_generator_any(tmp_path / "nothing.pkl")
