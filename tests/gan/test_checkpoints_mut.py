"""Checkpoint loading pinned case by case (issue 36, mutation testing of gan/checkpoints.py).

Every expectation here is written by hand from the formats' documentation (NVIDIA's TF defaults,
rosinality's key names, the zip/pickle magic numbers) or is a property the loader promises (a file's
name in every refusal, a cache entry reused only for the same file and crop), never the loader's own
output fed back. Files are tiny and built in their real on-disk layouts by the writers of
test_checkpoints.py.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch
from test_checkpoints import (  # the format writers and the tiny generator (same folder)
    TINY,
    FakePersistent,
    _persistent_tree,
    assert_same_network,
    fake_modules,  # noqa: F401  (a fixture)
    inputs,  # noqa: F401  (a fixture)
    one_thread,  # noqa: F401  (a fixture)
    write_ada_pickle,
    write_rosinality,
)

from sam_editor.gan import checkpoints, native
from sam_editor.gan.checkpoints import (
    EXPECTED,
    Converted,
    build_generator,
    convert_checkpoint,
    convert_to_native,
    load_generator_any,
    read_network_pickle,
    sniff_format,
)
from sam_editor.gan.native import CheckpointError, save_generator
from sam_editor.gan.networks import Generator, GeneratorConfig
from sam_editor.gan.safe_pickle import PersistentObject, TFNetworkStub
from sam_editor.testing.official_formats import FakeTFNetwork, tf_network_module, write_tf_pickle
from sam_editor.util import UNSAFE_FILE


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(3)
    g = Generator(TINY).eval().requires_grad_(False)
    for name, p in g.named_parameters():
        if name.endswith(("bias", "noise_strength")):
            p.normal_(0, 0.5)
    g.mapping.w_avg.normal_()
    return g


def refusal(path: Path, *parts: str, **kw) -> str:
    """Load `path`, expect a CheckpointError naming the file and carrying every part; → the message."""
    with pytest.raises(CheckpointError) as err:
        load_generator_any(path, **kw)
    msg = str(err.value)
    assert path.name in msg, msg
    for p in parts:
        assert p in msg, (p, msg)
    return msg


# ---- sniffing: magic numbers --------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_binary_pickle_protocol_is_a_pickle(tmp_path, protocol):
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=protocol))
    assert path.read_bytes()[:2] == bytes([0x80, protocol])  # PROTO opcode, then the protocol number
    assert sniff_format(path) == "pickle"


@pytest.mark.parametrize("head", [b"\x80\x01", b"\x80\x06", b"\x81\x02", b"(dp0\n"])
def test_other_heads_are_not_pickles(tmp_path, head):
    path = tmp_path / "odd.pkl"
    path.write_bytes(head + b"\x00" * 30)
    refusal(path, "not a pickle or PyTorch file", f"(expected {EXPECTED})")


def test_missing_and_empty_files_say_what_is_expected(tmp_path):
    refusal(tmp_path / "nowhere.pkl", "nowhere.pkl: file not found (expected a StyleGAN2 generator")
    (tmp_path / "hollow.pkl").write_bytes(b"")
    refusal(tmp_path / "hollow.pkl", "hollow.pkl: empty file (expected a StyleGAN2 generator")
    (tmp_path / "folder.pkl").mkdir()
    refusal(tmp_path / "folder.pkl", "file not found")


def test_sniff_torch_zip_legacy_and_native(G, tmp_path):
    write_rosinality(G, tmp_path / "zip.pt", zip_format=True)
    write_rosinality(G, tmp_path / "legacy.pt", zip_format=False)
    save_generator(tmp_path / "ours.pt", G)
    assert (tmp_path / "zip.pt").read_bytes()[:4] == b"PK\x03\x04"
    assert (tmp_path / "legacy.pt").read_bytes()[:2] == b"\x80\x02"  # a pickle head: the magic number decides
    assert [sniff_format(tmp_path / n) for n in ("zip.pt", "legacy.pt", "ours.pt")] == ["torch", "torch", "native"]


def test_sniff_zip_members(tmp_path):
    """torch writes `<archive>/data.pkl`; a bare `data.pkl` is read too; any other zip is refused."""

    def zip_with(name: str, members: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        return path

    ours = pickle.dumps({"format": native.FORMAT})
    assert sniff_format(zip_with("a.pt", {"data.pkl": ours})) == "native"
    assert sniff_format(zip_with("b.pt", {"data.pkl": pickle.dumps({"format": "other"})})) == "torch"
    assert sniff_format(zip_with("c.pt", {"arch/version": b"3", "arch/data.pkl": ours})) == "native"
    refusal(zip_with("d.zip", {"notes.txt": b"hi", "mydata.pkl": ours}),
            "a zip file but not a PyTorch checkpoint", f"(expected {EXPECTED})")  # fmt: skip


def test_damaged_zip_names_the_reason(tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes(b"PK\x03\x04" + bytes(40))
    msg = refusal(path, "corrupt or truncated PyTorch zip file (", f") (expected {EXPECTED})")
    assert "File is not a zip file" in msg  # zipfile's own reason, for the user who asks why


# ---- the native format and the cache -------------------------------------------------------------
def test_native_file_source_format(G, inputs, tmp_path):  # noqa: F811
    save_generator(tmp_path / "plain.pt", G)
    save_generator(tmp_path / "conv.pt", G, {"source_format": "rosinality", "source_file": "x.pt"})
    H, meta = load_generator_any(tmp_path / "plain.pt")
    assert meta == {"source_format": "native"}
    assert_same_network(G, H, inputs)
    assert load_generator_any(tmp_path / "conv.pt")[1] == {"source_format": "rosinality", "source_file": "x.pt"}
    assert not H.training and not any(p.requires_grad for p in H.parameters())


@pytest.mark.parametrize("kind", ["native", "convert", "cached"])
def test_map_location_is_honoured_on_every_path(G, tmp_path, fake_modules, kind):  # noqa: F811
    """'meta' stands in for a GPU here: each path must put the weights where it was asked to."""
    src = tmp_path / ("gen.pt" if kind == "native" else "gen.pkl")
    save_generator(src, G) if kind == "native" else write_tf_pickle(G, src)
    cache = tmp_path / "cache" if kind == "cached" else None
    if kind == "cached":
        load_generator_any(src, cache_dir=cache)  # writes the entry
        assert len(list(cache.iterdir())) == 1
    H, _ = load_generator_any(src, cache_dir=cache, map_location="meta")
    assert {p.device.type for p in H.state_dict().values()} == {"meta"}


def test_cache_entry_is_named_and_reused(G, inputs, tmp_path, fake_modules):  # noqa: F811
    src = tmp_path / "car.pkl"
    write_tf_pickle(G, src)
    cache = tmp_path / "cache"
    H, meta = load_generator_any(src, cache_dir=cache)
    (entry,) = cache.iterdir()
    assert re.fullmatch(r"car\.[0-9a-f]{12}\.sam\.pt", entry.name), entry.name
    assert sniff_format(entry) == "native"
    assert meta["source_format"] == "stylegan2-tf-pickle"
    # the entry is what is read next time: put another generator there and it comes back
    other = Generator(TINY).eval()
    save_generator(entry, other, {"source_format": "planted"})
    H2, meta2 = load_generator_any(src, cache_dir=cache)
    assert meta2["source_format"] == "planted"
    assert torch.equal(H2.mapping.fc0.weight, other.mapping.fc0.weight)


def test_cache_key_follows_file_crop_and_format_version(G, tmp_path, fake_modules, monkeypatch):  # noqa: F811
    src = tmp_path / "car.pkl"
    write_tf_pickle(G, src)
    cache = tmp_path / "cache"

    def entries() -> set[str]:
        return {p.name for p in cache.iterdir()}

    load_generator_any(src, cache_dir=cache)
    first = entries()
    load_generator_any(src, cache_dir=cache)
    assert entries() == first  # same file, same crop: one entry
    load_generator_any(src, cache_dir=cache, crop=(2, 0, 12, 16))
    assert len(entries()) == 2  # another crop, another entry
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file replaced in place, same size
    load_generator_any(src, cache_dir=cache)
    assert len(entries()) == 3
    write_tf_pickle(G, src, protocol=4)  # another size
    load_generator_any(src, cache_dir=cache)
    assert len(entries()) == 4
    monkeypatch.setattr(native, "VERSION", native.VERSION + 1)  # a new native format: old entries unused
    load_generator_any(src, cache_dir=cache)
    assert len(entries()) == 5
    copy_ = tmp_path / "sub" / "car.pkl"  # the same bytes elsewhere: its own entry
    copy_.parent.mkdir()
    copy_.write_bytes(src.read_bytes())
    os.utime(copy_, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns))
    load_generator_any(copy_, cache_dir=cache)
    assert len(entries()) == 6


def test_damaged_cache_entry_is_rebuilt(G, inputs, tmp_path, fake_modules):  # noqa: F811
    src = tmp_path / "car.pkl"
    write_tf_pickle(G, src)
    cache = tmp_path / "cache"
    load_generator_any(src, cache_dir=cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:100])  # cut short
    H, meta = load_generator_any(src, cache_dir=cache)
    assert meta["source_format"] == "stylegan2-tf-pickle"
    assert_same_network(G, H, inputs, atol=1e-5)
    assert sniff_format(entry) == "native" and native.load_generator(entry)[1]["source_format"] == "stylegan2-tf-pickle"


def test_convert_to_native_keeps_the_crop(G, tmp_path, fake_modules):  # noqa: F811
    src, dst = tmp_path / "g.pkl", tmp_path / "out" / "g.sam.pt"
    write_tf_pickle(G, src)
    dst.parent.mkdir()
    meta = convert_to_native(src, dst, crop=(4, 2, 8, 12))
    assert meta["crop"] == [4, 2, 8, 12] and meta["crop_source"] == "argument"
    H, meta2 = native.load_generator(dst)
    assert H.cfg.crop == (4, 2, 8, 12) and meta2["source_format"] == "stylegan2-tf-pickle"
    assert H(torch.zeros(1, TINY.z_dim)).shape == (1, 3, 8, 12)


def test_convert_checkpoint_sniffs_and_refuses_native(G, tmp_path, fake_modules):  # noqa: F811
    src = tmp_path / "g.pkl"
    write_tf_pickle(G, src)
    conv = convert_checkpoint(src)  # kind found by sniffing
    assert conv.cfg == TINY and conv.meta["source_format"] == "stylegan2-tf-pickle"
    assert all(
        v.dtype == torch.float32 and v.device.type == "cpu" and v.is_contiguous() for v in conv.state_dict.values()
    )
    save_generator(tmp_path / "n.pt", G)
    with pytest.raises(
        CheckpointError, match=r"n\.pt: already a SAM Editor generator; load it with native\.load_generator"
    ):
        convert_checkpoint(tmp_path / "n.pt")


# ---- crops -----------------------------------------------------------------------------------------
def test_known_crop_by_name_ignores_case(G, tmp_path, fake_modules, monkeypatch):  # noqa: F811
    monkeypatch.setitem(checkpoints.KNOWN_CROPS, "tiny-car", (2, 0, 12, 16))
    path = tmp_path / "Tiny-CAR.pkl"
    write_tf_pickle(G, path)
    H, meta = load_generator_any(path)
    assert H.cfg.crop == (2, 0, 12, 16)
    assert meta["crop"] == [2, 0, 12, 16] and meta["crop_source"] == "known file name"
    plain = tmp_path / "plain.pkl"
    write_tf_pickle(G, plain)
    meta = load_generator_any(plain)[1]
    assert "crop" not in meta and "crop_source" not in meta
    meta = load_generator_any(plain, crop=None)[1]
    assert "crop" not in meta and "crop_source" not in meta


@pytest.mark.parametrize("crop,why", [((0, 0, 32, 32), "does not fit in a 16² frame"),
                                      (("a", 0, 4, 4), "invalid literal"), (7, "not iterable")])  # fmt: skip
def test_bad_crops_are_refused_with_the_reason(G, tmp_path, fake_modules, crop, why):  # noqa: F811
    path = tmp_path / "g.pkl"
    write_tf_pickle(G, path)
    refusal(path, f"crop {crop!r} does not fit this generator (", why, crop=crop)


# ---- the restricted unpickler's refusals -------------------------------------------------------------
def test_hostile_pickle_message(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"\x80\x02csubprocess\nPopen\n(X\x02\x00\x00\x00lsttR.")
    with pytest.raises(CheckpointError) as err:
        read_network_pickle(path)
    assert str(err.value) == (
        f"evil.pkl: {UNSAFE_FILE} (it asks for subprocess.Popen, which is not a network weight; "
        f"nothing from it was run; expected {EXPECTED})"
    )
    assert "/" not in str(err.value).split(":")[0]  # the name, not the whole path


@pytest.mark.parametrize("data,kind", [
    (b"\x80\x02}q\x00(X", "UnpicklingError"),  # cut inside a string
    (b"\x80\x02]q\x00", "EOFError"),  # cut before STOP
    (b"\x80\x02h\x05.", "UnpicklingError: Memo value not found at index 5"),  # a memo reference to nothing
    (b"\x80\x02I abc\n.", "ValueError: could not convert"),
    (b"\x80\x02cbuiltins\nset\nK\x01\x85R.", "TypeError: 'int' object is not iterable"),  # set(1)
    (b"\x80\x02cbuiltins\nset\n)R}b.", "AttributeError"),  # BUILD on a set
    (b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", "UnicodeDecodeError"),
])  # fmt: skip
def test_corrupt_pickle_names_the_inner_error(tmp_path, data, kind):
    path = tmp_path / "bad.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as err:
        read_network_pickle(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: corrupt or truncated pickle ({kind}") and msg.endswith(
        f") (expected {EXPECTED})"
    ), msg


# ---- build_generator: config/weights mismatch ------------------------------------------------------
def test_build_generator_lists_what_does_not_fit(G):
    sd = dict(G.state_dict())
    drop = sorted(k for k in sd if k.endswith("noise_const"))  # 5 noise buffers (b4 has one, b8/b16 two)
    assert len(drop) == 5
    missing = {k: v for k, v in sd.items() if k not in drop}
    with pytest.raises(CheckpointError) as err:
        build_generator(Converted(TINY, missing, {}), "m.pkl")
    assert str(err.value) == f"m.pkl: weights do not fit a StyleGAN2 generator (missing: {', '.join(drop[:4])} …)"
    four = {k: v for k, v in sd.items() if k not in drop[:4]}
    with pytest.raises(CheckpointError) as err:
        build_generator(Converted(TINY, four, {}), "m.pkl")
    assert str(err.value).endswith(f"(missing: {', '.join(drop[:4])})")
    extra = {**sd, "synthesis.b4.extra": torch.zeros(1), "mapping.fc9.weight": torch.zeros(1)}
    wrong = {**sd, "mapping.fc1.bias": torch.zeros(7)}
    with pytest.raises(CheckpointError) as err:
        build_generator(Converted(TINY, {**extra, "mapping.fc1.bias": torch.zeros(7)}, {}))
    assert str(err.value) == ("<memory>: weights do not fit a StyleGAN2 generator "
                              "(unexpected: mapping.fc9.weight, synthesis.b4.extra; wrong shape: mapping.fc1.bias (7,)≠(16,))")  # fmt: skip
    with pytest.raises(CheckpointError, match=r"\(wrong shape: mapping\.fc1\.bias \(7,\)≠\(16,\)\)$"):
        build_generator(Converted(TINY, wrong, {}))


def test_build_generator_fills_only_the_fixed_filters(G, inputs):  # noqa: F811
    sd = {k: v for k, v in G.state_dict().items() if not k.endswith("resample_filter")}
    assert len(sd) < len(G.state_dict())
    H = build_generator(Converted(TINY, sd, {}))
    assert_same_network(G, H, inputs)
    assert not H.training and not any(p.requires_grad for p in H.parameters())


@pytest.mark.parametrize("change,why", [({"w_dim": 0}, "division by zero"), ({"z_dim": -1}, "negative dimension")])
def test_build_generator_refuses_an_impossible_config(change, why):
    bad = Converted(dataclasses.replace(TINY, **change), {}, {})
    with pytest.raises(CheckpointError, match=rf"^x\.pkl: unsupported generator configuration \(.*{why}"):
        build_generator(bad, "x.pkl")


def test_impossible_widths_in_a_file_are_refused(G, tmp_path, fake_modules):  # noqa: F811
    """A crafted file: w_dim 0 divides by zero in Generator (ZeroDivisionError, not a RuntimeError that
    callers catch), a negative width makes torch refuse: both are the file's fault and say so."""
    refusal(
        _dump_ada(_ada_g(G, tmp_path, w_dim=0), tmp_path / "zero.pkl"),
        "zero.pkl: unsupported generator configuration (",
    )
    write_tf_pickle(G, tmp_path / "neg.pkl", dlatent_size=-1)
    refusal(tmp_path / "neg.pkl", "neg.pkl: unsupported generator configuration (", "negative dimension")


# ---- _tensor: dtype and independence ---------------------------------------------------------------
def test_tensor_conversion():
    t = checkpoints._tensor(np.arange(6, dtype=np.float64).reshape(2, 3).T, Path("f"), "w")  # non-contiguous
    assert t.dtype == torch.float32 and t.is_contiguous() and t.tolist() == [[0, 3], [1, 4], [2, 5]]
    s = checkpoints._tensor(np.float32(2.5), Path("f"), "s")
    assert s.shape == () and s.item() == 2.5
    src = torch.arange(4, dtype=torch.float64).reshape(2, 2).T.requires_grad_(True)
    u = checkpoints._tensor(src, Path("f"), "u")
    assert u.dtype == torch.float32 and u.is_contiguous() and not u.requires_grad and u.tolist() == [[0, 2], [1, 3]]
    f32 = torch.ones(3)
    v = checkpoints._tensor(f32, Path("f"), "v")
    f32.add_(1)  # the converted weight does not share memory with the file's array
    assert v.tolist() == [1, 1, 1]
    a = np.ones(3, np.float32)
    w = checkpoints._tensor(a, Path("f"), "w")
    a += 1
    assert w.tolist() == [1, 1, 1]
    with pytest.raises(CheckpointError, match=r"^f: mapping/x is not a numeric array \(could not convert"):
        checkpoints._tensor("abc", Path("f"), "mapping/x")
    with pytest.raises(CheckpointError, match=r"^f: y is not a numeric array \("):
        checkpoints._tensor({"a": 1}, Path("f"), "y")


# ---- TF pickles: shapes of the pickle, options, variables ----------------------------------------------
def _tf_gs(G: Generator, tmp_path: Path, **kw) -> TFNetworkStub:
    """The Gs stub of a TF pickle written by write_tf_pickle (read back through the unpickler)."""
    path = tmp_path / "gs-source.pkl"
    write_tf_pickle(G, path, **kw)
    return read_network_pickle(path)[-1]


def _dump(obj, path: Path) -> Path:
    with tf_network_module(), open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return path


def _fake_from_stub(stub: TFNetworkStub) -> FakeTFNetwork:
    """A stub read back → a writable FakeTFNetwork with the same state (components too)."""
    fake = FakeTFNetwork.__new__(FakeTFNetwork)
    fake.state = {**stub.state, "components": {k: _fake_from_stub(c) for k, c in stub.components.items()}}
    return fake


def test_tf_pickle_forms(G, inputs, tmp_path):  # noqa: F811
    gs = _fake_from_stub(_tf_gs(G, tmp_path))
    H, meta = load_generator_any(_dump(gs, tmp_path / "alone.pkl"))  # Gs alone, not in a (G, D, Gs) tuple
    assert_same_network(G, H, inputs, atol=1e-5)
    assert meta["network_name"] == "Gs" and meta["source_file"] == "alone.pkl"
    empty = FakeTFNetwork("G", [])
    H = load_generator_any(_dump((empty, empty, gs), tmp_path / "three.pkl"))[0]  # the last one is Gs
    assert_same_network(G, H, inputs, atol=1e-5)
    refusal(_dump((gs, "D", gs), tmp_path / "mixed.pkl"), "not a StyleGAN2 network pickle (found tuple;")
    refusal(_dump((), tmp_path / "none.pkl"), "(found tuple;")


def test_foreign_pickles_say_what_they_hold(tmp_path):
    path = tmp_path / "d.pkl"
    path.write_bytes(pickle.dumps({k: 0 for k in "hgfedcba"}, protocol=2))
    refusal(path, "d.pkl: a pickle, but not a StyleGAN2 network pickle "
                  "(found dict with keys ['a', 'b', 'c', 'd', 'e', 'f']; expected a StyleGAN2 generator")  # fmt: skip
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    refusal(path, "(found list; expected")
    path.write_bytes(pickle.dumps({"G_ema": {"not": "persistent"}}, protocol=2))
    refusal(path, "found dict with keys ['G_ema']")


def test_tf_network_version_and_meta(G, tmp_path):
    gs = _fake_from_stub(_tf_gs(G, tmp_path, resample_kernel=[1, 3, 3, 1], conv_clamp=None))
    gs.state["version"] = 3
    refusal(_dump(gs, tmp_path / "v3.pkl"), "TensorFlow network pickle version 3 is too old (need 4)")
    gs.state["version"] = 4
    meta = load_generator_any(_dump(gs, tmp_path / "v4.pkl"))[1]
    kw = gs.state["static_kwargs"]
    assert meta["static_kwargs"] == {k: v for k, v in kw.items() if k != "resample_kernel"}  # lists are left out
    assert meta["static_kwargs"]["conv_clamp"] is None and meta["static_kwargs"]["label_size"] == 0
    assert meta["ignored_variables"] == ["synthesis/lod"]
    assert meta["source_format"] == "stylegan2-tf-pickle" and meta["source_file"] == "v4.pkl"


def test_tf_component_names_and_global_variable_names(G, inputs, tmp_path):  # noqa: F811
    gs = _fake_from_stub(_tf_gs(G, tmp_path))
    comps = gs.state["components"]
    # components are found by their network name, whatever their key
    gs.state["components"] = {"first": comps["mapping"], "second": comps["synthesis"]}
    assert_same_network(G, load_generator_any(_dump(gs, tmp_path / "keys.pkl"))[0], inputs, atol=1e-5)
    # a component with an unknown name is found under its key
    comps["mapping"].state["name"] = "something"
    gs.state["components"] = {"mapping": comps["mapping"], "synthesis": comps["synthesis"]}
    assert_same_network(G, load_generator_any(_dump(gs, tmp_path / "byname.pkl"))[0], inputs, atol=1e-5)
    comps["mapping"].state["name"] = "G_mapping"
    # variables spelled with their global names ('G_synthesis/4x4/…') in Gs's own list
    flat = [(f"G_mapping/{n}", v) for n, v in comps["mapping"].state["variables"]]
    flat += [(f"G_synthesis/{n}", v) for n, v in comps["synthesis"].state["variables"]]
    flat += gs.state["variables"]
    g2 = FakeTFNetwork("Gs", flat, {}, gs.state["static_kwargs"])
    H, meta = load_generator_any(_dump(g2, tmp_path / "global.pkl"))
    assert_same_network(G, H, inputs, atol=1e-5)
    assert meta["ignored_variables"] == ["synthesis/lod"]  # the global spellings are not listed as ignored


def test_tf_malformed_networks(G, tmp_path):
    gs = _fake_from_stub(_tf_gs(G, tmp_path))
    bad = _clone(gs)
    bad.state["variables"] = [("dlatent_avg",)]
    refusal(_dump(bad, tmp_path / "a.pkl"), "malformed TensorFlow variable list in 'Gs'")
    bad.state["variables"] = [(3, np.zeros(2))]
    refusal(_dump(bad, tmp_path / "b.pkl"), "malformed TensorFlow variable list in 'Gs'")
    bad = _clone(gs)
    bad.state["components"]["synthesis"].state["variables"].append(["x", 1, 2])
    refusal(_dump(bad, tmp_path / "c.pkl"), "malformed TensorFlow variable list in 'G_synthesis'")
    bad = _clone(gs)
    bad.state["components"]["extra"] = {"not": "a network"}
    refusal(_dump(bad, tmp_path / "d.pkl"), "malformed TensorFlow network component under 'extra/'")

    # a chain of components: 4 levels below Gs are read, a 5th is refused
    def chain(depth: int) -> FakeTFNetwork:
        net = FakeTFNetwork("leaf", [])
        for i in range(depth):
            net = FakeTFNetwork(f"n{i}", [], {f"c{i}": net})
        return net

    ok = _clone(gs)
    ok.state["components"]["deep"] = chain(3)  # deep/ is depth 1, its leaf depth 4
    load_generator_any(_dump(ok, tmp_path / "deep4.pkl"))
    ok.state["components"]["deep"] = chain(4)
    refusal(_dump(ok, tmp_path / "deep5.pkl"), "malformed TensorFlow network component under 'deep/c3/c2/c1/c0/'")


def test_tf_pickle_with_a_hostile_global_inside(G, tmp_path):
    path = tmp_path / "inside.pkl"
    write_tf_pickle(G, path, protocol=2, extra_note=argparse.Namespace(a=1))
    refusal(path, UNSAFE_FILE, "it asks for argparse.Namespace", "nothing from it was run")


@pytest.mark.parametrize("option,value", [("architecture", "skip"), ("nonlinearity", "lrelu"),
                                          ("mapping_nonlinearity", "lrelu"), ("resample_kernel", [1, 3, 3, 1]),
                                          ("resample_kernel", (1, 3, 3, 1)), ("use_noise", True),
                                          ("normalize_latents", True), ("fmap_min", 1), ("fmap_decay", 1.0),
                                          ("fmap_decay", 1), ("label_size", 0), ("architecture", None),
                                          ("mapping_fmaps", 16), ("truncation_psi", 0.5), ("structure", "auto"),
                                          ("is_template_graph", True), ("randomize_noise", False),
                                          ("fused_modconv", True), ("dtype", "float32"), ("num_fp16_res", 0),
                                          ("style_mixing_prob", 0.9), ("truncation_cutoff", None),
                                          ("label_fmaps", None), ("w_avg_beta", 0.995), ("dlatent_avg_beta", 0.995)])  # fmt: skip
def test_tf_options_we_reproduce_are_accepted(G, inputs, tmp_path, option, value):  # noqa: F811
    path = tmp_path / "ok.pkl"
    write_tf_pickle(G, path, **{option: value})
    assert_same_network(G, load_generator_any(path)[0], inputs, atol=1e-5)


@pytest.mark.parametrize("option,value,only", [("architecture", "resnet", "'skip'"), ("architecture", "orig", "'skip'"),
                                               ("nonlinearity", "relu", "'lrelu'"),
                                               ("mapping_nonlinearity", "linear", "'lrelu'"),
                                               ("resample_kernel", [1, 2, 1], "[1, 3, 3, 1]"), ("use_noise", False, "True"),
                                               ("normalize_latents", False, "True"), ("fmap_min", 4, "1"),
                                               ("fmap_decay", 0.5, "1"), ("label_size", 10, "0")])  # fmt: skip
def test_tf_options_we_do_not_reproduce_are_refused(G, tmp_path, option, value, only):
    path = tmp_path / "no.pkl"
    write_tf_pickle(G, path, **{option: value})
    refusal(path, f"unsupported TensorFlow generator option {option}={value!r} (only {only})")


def test_tf_unknown_option_and_mapping_width(G, tmp_path):
    path = tmp_path / "no.pkl"
    write_tf_pickle(G, path, G_args="x")
    msg = refusal(path, "no.pkl: unsupported TensorFlow generator option G_args='x'")
    assert msg.endswith("G_args='x'")
    write_tf_pickle(G, path, mapping_fmaps=8)
    refusal(path, "mapping_fmaps ≠ dlatent_size is not supported")
    check = checkpoints._check_tf_options
    check({"mapping_fmaps": 512}, path)  # TF's default dlatent_size is 512
    with pytest.raises(CheckpointError, match="mapping_fmaps ≠ dlatent_size"):
        check({"mapping_fmaps": 256}, path)


def test_tf_config_defaults_are_nvidias():
    """A pickle recording no kwargs gets NVIDIA's TF defaults: config-f at 1024 px (fmap_base 16384
    in TF's units, i.e. 2 × 16384 = 32768 in ours), lrmul 0.01, no clamp, dlatent_avg_beta 0.995."""
    cfg = checkpoints._tf_config({}, {}, Path("f"))
    assert cfg == GeneratorConfig(resolution=1024, z_dim=512, w_dim=512, mapping_layers=8, channel_base=32768,
                                  channel_max=512, img_channels=3, mapping_lr_multiplier=0.01, conv_clamp=None,
                                  w_avg_beta=0.995)  # fmt: skip
    p = {
        "synthesis/4x4/Conv/weight": 0,
        "synthesis/32x32/ToRGB/bias": 0,
        "synthesis/64x32/x": 0,
        "mapping/128x128/y": 0,
    }
    assert checkpoints._tf_config({}, p, Path("f")).resolution == 32  # the largest block named in synthesis/
    assert checkpoints._tf_config({"resolution": 0}, p, Path("f")).resolution == 32
    kw = {"resolution": 64, "latent_size": 8, "dlatent_size": 16, "mapping_layers": 3, "fmap_base": 256,
          "fmap_max": 32, "num_channels": 1, "mapping_lrmul": 0.0, "conv_clamp": 256, "w_avg_beta": 0.5,
          "dlatent_avg_beta": 0.9}  # fmt: skip
    assert checkpoints._tf_config(kw, p, Path("f")) == GeneratorConfig(
        resolution=64, z_dim=8, w_dim=16, mapping_layers=3, channel_base=512, channel_max=32, img_channels=1,
        mapping_lr_multiplier=0.0, conv_clamp=256.0, w_avg_beta=0.5)  # fmt: skip
    assert checkpoints._tf_config({"dlatent_avg_beta": 0.9}, p, Path("f")).w_avg_beta == 0.9
    assert checkpoints._tf_config({"w_avg_beta": None}, p, Path("f")).w_avg_beta == 1.0  # None: no tracking
    assert isinstance(checkpoints._tf_config({"conv_clamp": 256}, p, Path("f")).conv_clamp, float)
    with pytest.raises(CheckpointError, match=r"^f: unsupported TensorFlow generator options \(resolution must be"):
        checkpoints._tf_config({"resolution": 48}, p, Path("f"))
    with pytest.raises(CheckpointError, match=r"^f: unsupported TensorFlow generator options \("):
        checkpoints._tf_config({"fmap_max": "many"}, p, Path("f"))


def test_tf_architectures_we_do_not_reproduce(tmp_path):
    f = Path("g.pkl")
    with pytest.raises(CheckpointError, match=r"^g\.pkl: 'orig' \(non-skip\) StyleGAN2 architecture is not supported$"):
        checkpoints._tf_config({}, {"synthesis/ToRGB_lod3/weight": 0}, f)
    with pytest.raises(CheckpointError, match=r"^g\.pkl: 'resnet' generator architecture is not supported$"):
        checkpoints._tf_config({}, {"synthesis/8x8/Skip/weight": 0}, f)
    # names that only look alike are not refused
    checkpoints._tf_config({}, {"mapping/8x8/Skip/weight": 0, "synthesis/8x8/Skip/weight_x": 0,
                                "x/synthesis/ToRGB_lod3/weight": 0, "synthesis/ToRGB_lodx/weight": 0}, f)  # fmt: skip


def _clone(net: FakeTFNetwork) -> FakeTFNetwork:
    """A deep copy (FakeTFNetwork pickles its state without a __setstate__, so copy.deepcopy cannot)."""
    out = FakeTFNetwork.__new__(FakeTFNetwork)
    out.state = {k: copy.deepcopy(v) for k, v in net.state.items() if k != "components"}
    out.state["components"] = {k: _clone(c) for k, c in net.state["components"].items()}
    return out


def _tf_variables(gs: FakeTFNetwork) -> dict[str, list]:
    return {k: c.state["variables"] for k, c in gs.state["components"].items()}


def test_tf_variable_mapping_by_hand(G, tmp_path):
    """The documented mapping on hand-made values: Dense weights transposed, const[0], kernels
    (k, k, I, O) → (O, I, k, k) with Conv0_up flipped, noise{2·log2(r)−5|4}[0, 0], mod_bias + 1."""
    gs = _fake_from_stub(_tf_gs(G, tmp_path))
    conv = convert_checkpoint(_dump(gs, tmp_path / "g.pkl"))
    sd = conv.state_dict
    v = {n: np.asarray(a) for comp in _tf_variables(gs).values() for n, a in comp}
    k = v["16x16/Conv0_up/weight"]  # (3, 3, I, O)
    assert k.shape == (3, 3, 16, 8)
    o, i, y, x = 5, 7, 0, 2
    assert sd["synthesis.b16.conv0.weight"][o, i, y, x].item() == k[2 - y, 2 - x, i, o]  # flipped both ways
    assert sd["synthesis.b16.conv1.weight"][o, i % 8, y, x].item() == v["16x16/Conv1/weight"][y, x, i % 8, o]
    assert sd["synthesis.b8.torgb.weight"][1, 3, 0, 0].item() == v["8x8/ToRGB/weight"][0, 0, 3, 1]
    assert sd["mapping.fc1.weight"][2, 9].item() == v["Dense1/weight"][9, 2]
    assert torch.equal(sd["synthesis.b4.const"], torch.from_numpy(v["4x4/Const/const"][0]))
    for dst, noise in [("b4.conv1", 0), ("b8.conv0", 1), ("b8.conv1", 2), ("b16.conv0", 3), ("b16.conv1", 4)]:
        assert torch.equal(sd[f"synthesis.{dst}.noise_const"], torch.from_numpy(v[f"noise{noise}"][0, 0])), dst
    mb = v["16x16/Conv1/mod_bias"]
    assert torch.equal(sd["synthesis.b16.conv1.affine.bias"], torch.from_numpy(mb + np.float32(1)))
    assert torch.equal(
        sd["synthesis.b16.torgb.affine.bias"], torch.from_numpy(v["16x16/ToRGB/mod_bias"] + np.float32(1))
    )
    assert sd["synthesis.b8.conv1.noise_strength"].shape == ()
    assert torch.equal(sd["mapping.w_avg"], torch.from_numpy(gs.state["variables"][0][1]))


def test_tf_variable_errors(G, tmp_path):
    gs = _fake_from_stub(_tf_gs(G, tmp_path))
    syn = gs.state["components"]["synthesis"].state
    bad = _clone(gs)
    bad.state["components"]["synthesis"].state["variables"] = [(n, a) for n, a in syn["variables"] if n != "noise3"]
    refusal(_dump(bad, tmp_path / "a.pkl"),
            f"a.pkl: TensorFlow variable 'synthesis/noise3' is missing (expected {EXPECTED})")  # fmt: skip
    bad = _clone(gs)
    bad.state["components"]["synthesis"].state["variables"] = [
        (n, a[0] if n == "8x8/Conv1/weight" else a) for n, a in syn["variables"]]  # fmt: skip
    refusal(_dump(bad, tmp_path / "b.pkl"), "b.pkl: synthesis/8x8/Conv1/weight is not a 4-D kernel")
    for value, why in (("abc", "could not convert string to float"), ({"a": 1}, "not 'dict'")):
        bad = _clone(gs)
        bad.state["components"]["synthesis"].state["variables"] = [
            (n, value if n == "8x8/Conv1/bias" else a) for n, a in syn["variables"]
        ]  # a ValueError / TypeError escaped before, uncaught by the session (not a CheckpointError)
        refusal(
            _dump(bad, tmp_path / "s.pkl"),
            "s.pkl: TensorFlow variable 'synthesis/8x8/Conv1/bias' is not a numeric array (",
            why,
        )
    bad = _clone(gs)
    mp = bad.state["components"]["mapping"].state
    mp["variables"] = [*mp["variables"], ("Dense2/weight", np.zeros((16, 16), np.float32))]
    refusal(_dump(bad, tmp_path / "c.pkl"), "c.pkl: more mapping layers than mapping_layers=2")


# ---- stylegan2-ada-pytorch pickles ---------------------------------------------------------------------
def _ada_g(G: Generator, tmp_path: Path, **init_changes) -> PersistentObject:
    path = tmp_path / "ada-src.pkl"
    write_ada_pickle(G, path)
    g = read_network_pickle(path)["G_ema"]
    g.state["_init_kwargs"] = {**g.init_kwargs, **init_changes}
    return g


def _dump_ada(g: PersistentObject, path: Path) -> Path:
    """A PersistentObject tree back into a stylegan2-ada pickle."""

    def fake(o):
        if not isinstance(o, PersistentObject):
            return o
        st = dict(o.state)
        st["_modules"] = OrderedDict((k, fake(m)) for k, m in o.modules.items())
        return FakePersistent(dict(type="class", version=6, module_src=o.module_src, class_name=o.class_name, state=st))

    with open(path, "wb") as f:
        pickle.dump({"G_ema": fake(g)}, f)
    return path


def test_ada_bare_generator_object_and_positional_args(G, inputs, tmp_path, fake_modules):  # noqa: F811
    path = tmp_path / "bare.pkl"
    with open(path, "wb") as f:
        pickle.dump(_persistent_tree(G, "", {"z_dim": 16, "c_dim": 0, "w_dim": 16, "img_resolution": 16,
                                             "img_channels": 3, "mapping_kwargs": {"num_layers": 2},
                                             "synthesis_kwargs": {"channel_base": 128, "channel_max": 16}}), f)  # fmt: skip
    assert_same_network(G, load_generator_any(path)[0], inputs)
    g = _ada_g(G, tmp_path)
    g.state["_init_args"] = (16, 0, 16, 16, 3, {"num_layers": 2}, {"channel_base": 128, "channel_max": 16})
    g.state["_init_kwargs"] = {}
    H, meta = load_generator_any(_dump_ada(g, tmp_path / "args.pkl"))
    assert_same_network(G, H, inputs)
    assert meta["init_kwargs"] == {"z_dim": 16, "c_dim": 0, "w_dim": 16, "img_resolution": 16, "img_channels": 3,
                                   "mapping_kwargs": {"num_layers": 2},
                                   "synthesis_kwargs": {"channel_base": 128, "channel_max": 16}}  # fmt: skip
    other = _persistent_tree(G, "", {})
    other.meta["class_name"] = "Discriminator"
    with open(path, "wb") as f:
        pickle.dump(other, f)
    refusal(path, "not a StyleGAN2 network pickle (found PersistentObject;")


def test_ada_config_from_init_kwargs(G, tmp_path, fake_modules):  # noqa: F811
    g = _ada_g(G, tmp_path, mapping_kwargs={"num_layers": 2, "lr_multiplier": 0.5, "w_avg_beta": None},
               synthesis_kwargs={"channel_base": 128, "channel_max": 16, "conv_clamp": 256})  # fmt: skip
    cfg = checkpoints._convert_ada(g, Path("a.pkl")).cfg
    assert cfg == GeneratorConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16,
                                  mapping_lr_multiplier=0.5, conv_clamp=256.0, w_avg_beta=1.0)  # fmt: skip
    g = _ada_g(G, tmp_path, mapping_kwargs={"num_layers": 2, "w_avg_beta": 0.9, "layer_features": 16})
    assert checkpoints._convert_ada(g, Path("a.pkl")).cfg.w_avg_beta == 0.9
    # what stylegan2-ada-pytorch leaves to its defaults: 512-wide, 8 mapping layers, 32768/512 channels, lrmul 0.01
    g = _ada_g(G, tmp_path)
    g.state["_init_kwargs"] = {"img_resolution": 16}  # img_channels too: 3
    cfg = checkpoints._convert_ada(g, Path("a.pkl")).cfg
    assert cfg == GeneratorConfig(resolution=16, z_dim=512, w_dim=512, mapping_layers=8, channel_base=32768,
                                  channel_max=512, mapping_lr_multiplier=0.01, conv_clamp=None, w_avg_beta=0.995)  # fmt: skip
    g.state["_init_kwargs"] = {"img_resolution": 16, "img_channels": 1, "c_dim": None}
    assert checkpoints._convert_ada(g, Path("a.pkl")).cfg.img_channels == 1
    g.state["_init_kwargs"] = {"img_resolution": 12}
    with pytest.raises(CheckpointError, match=r"^a\.pkl: unsupported generator options \(resolution must be"):
        checkpoints._convert_ada(g, Path("a.pkl"))
    g.state["_init_kwargs"] = {"img_resolution": "big"}
    with pytest.raises(CheckpointError, match=r"^a\.pkl: unsupported generator options \("):
        checkpoints._convert_ada(g, Path("a.pkl"))


@pytest.mark.parametrize("changes,message", [
    ({"c_dim": 10}, "conditional generators (c_dim=10) are not supported"),
    ({"synthesis_kwargs": {"architecture": "resnet"}}, "unsupported generator option architecture='resnet' (only 'skip')"),
    ({"architecture": "orig"}, "unsupported generator option architecture='orig' (only 'skip')"),
    ({"activation": "relu"}, "unsupported generator option activation='relu' (only 'lrelu')"),
    ({"use_noise": False}, "unsupported generator option use_noise=False (only True)"),
    ({"mapping_kwargs": {"activation": "linear"}}, "unsupported generator option mapping activation='linear' (only 'lrelu')"),
    ({"resample_filter": [1, 2, 1]}, "only the [1, 3, 3, 1] resampling filter is supported"),
    ({"mapping_kwargs": {"num_layers": 2, "layer_features": 8}}, "mapping layer_features ≠ w_dim is not supported"),
])  # fmt: skip
def test_ada_options_we_do_not_reproduce(G, tmp_path, fake_modules, changes, message):  # noqa: F811
    g = _ada_g(G, tmp_path)
    kw = g.init_kwargs
    for k, v in changes.items():
        if k in ("synthesis_kwargs", "mapping_kwargs"):
            kw[k] = {**kw[k], **v}
        else:
            kw[k] = v
    g.state["_init_kwargs"] = kw
    refusal(_dump_ada(g, tmp_path / "opt.pkl"), f"opt.pkl: {message}")


def test_ada_options_we_reproduce(G, inputs, tmp_path, fake_modules):  # noqa: F811
    g = _ada_g(G, tmp_path, architecture="skip", activation="lrelu", use_noise=True, resample_filter=(1, 3, 3, 1),
               mapping_kwargs={"num_layers": 2, "activation": "lrelu", "layer_features": None})  # fmt: skip
    H, meta = load_generator_any(_dump_ada(g, tmp_path / "ok.pkl"))
    assert_same_network(G, H, inputs)
    assert meta["init_kwargs"]["synthesis_kwargs"]["architecture"] == "skip"
    assert meta["source_format"] == "stylegan2-ada-pickle" and meta["source_file"] == "ok.pkl"
    assert "resample_filter" not in meta["init_kwargs"]["synthesis_kwargs"]  # a tuple: not a plain value
    g = _ada_g(G, tmp_path)
    g.state["_init_kwargs"] = {k: v for k, v in g.init_kwargs.items() if k != "img_resolution"}
    refusal(_dump_ada(g, tmp_path / "noinit.pkl"), f"noinit.pkl: G_ema has no init_kwargs (expected {EXPECTED})")


def _po(name: str = "M", src: str = "", params=None, buffers=None, modules=None, **extra) -> PersistentObject:
    state = {"_parameters": params or {}, "_buffers": buffers or {}, "_modules": modules or {}, **extra}
    return PersistentObject(name, src, state)


def test_stylegan3_detection():
    is3 = checkpoints._is_stylegan3
    assert not is3(_po(src="class SynthesisNetwork: pass", modules={"synthesis": _po(modules={"b4": _po()})}))
    assert is3(_po(src="class SynthesisInput(torch.nn.Module): ..."))
    assert is3(_po(src="x = filtered_lrelu.filtered_lrelu(x)"))
    assert is3(_po(modules={"synthesis": _po(modules={"input": _po()})}))
    assert is3(_po(modules={"synthesis": _po(src="class SynthesisInput(torch.nn.Module): ...")}))
    assert is3(_po(modules={"synthesis": _po(src="import filtered_lrelu")}))
    assert not is3(_po(modules={"mapping": _po(modules={"input": _po()}), "synthesis": None}))


def test_collect_state_rules():
    t = torch.ones(2)
    # skipped entries come first, so that a skip that ended the loop would lose the rest
    tree = _po(params={"gone": None, "w": t}, buffers={"tmp": t * 3, "b": t * 2}, _non_persistent_buffers_set={"tmp"},
               modules={"empty": None, "sub": _po(params={"x": t * 4}, modules={"deeper": _po(buffers={"y": t * 5})})})  # fmt: skip
    got = checkpoints._collect_state(tree, Path("f"))
    assert {k: v[0].item() for k, v in got.items()} == {"w": 1, "b": 2, "sub.x": 4, "sub.deeper.y": 5}
    no_set = _po(buffers={"b": t}, _non_persistent_buffers_set=None)
    assert list(checkpoints._collect_state(no_set, Path("f"))) == ["b"]
    same_name = _po(params={"tmp": t}, _non_persistent_buffers_set={"tmp"})  # only buffers can be non-persistent
    assert list(checkpoints._collect_state(same_name, Path("f"))) == ["tmp"]
    with pytest.raises(CheckpointError, match=r"^f: sub\.w is not a tensor$"):
        checkpoints._collect_state(_po(modules={"sub": _po(params={"w": np.ones(2)})}), Path("f"))
    with pytest.raises(CheckpointError, match=r"^f: b is not a tensor$"):
        checkpoints._collect_state(_po(buffers={"b": [1.0]}), Path("f"))
    with pytest.raises(CheckpointError, match=r"^f: module sub\.inner is not a persistent network object$"):
        checkpoints._collect_state(_po(modules={"sub": _po(modules={"inner": {"a": 1}})}), Path("f"))

    def chain(n: int) -> PersistentObject:
        node = _po(params={"p": t})
        for _ in range(n):
            node = _po(modules={"m": node})
        return node

    assert len(checkpoints._collect_state(chain(8), Path("f"))) == 1  # 8 levels below the root are read
    with pytest.raises(CheckpointError, match=r"^f: network module tree is too deep$"):
        checkpoints._collect_state(chain(9), Path("f"))


# ---- rosinality ---------------------------------------------------------------------------------------
def _rosinality_ckpt(G: Generator, tmp_path: Path) -> dict:
    path = tmp_path / "src.pt"
    write_rosinality(G, path)
    return checkpoints._torch_load(path)


def test_rosinality_key_names_by_hand(G, tmp_path):
    """rosinality's names for TINY (16 px: one 4×4 block, two up-blocks), written out by hand."""
    ck = _rosinality_ckpt(G, tmp_path)
    g = ck["g_ema"]
    sd = checkpoints._convert_rosinality(ck, Path("r.pt")).state_dict
    pairs = {
        "mapping.fc0.weight": "style.1.weight", "mapping.fc1.bias": "style.2.bias",
        "synthesis.b4.conv1.weight": "conv1.conv.weight", "synthesis.b4.conv1.affine.weight": "conv1.conv.modulation.weight",
        "synthesis.b4.conv1.affine.bias": "conv1.conv.modulation.bias", "synthesis.b4.conv1.bias": "conv1.activate.bias",
        "synthesis.b4.torgb.weight": "to_rgb1.conv.weight", "synthesis.b4.torgb.bias": "to_rgb1.bias",
        "synthesis.b8.conv0.weight": "convs.0.conv.weight", "synthesis.b8.conv1.bias": "convs.1.activate.bias",
        "synthesis.b16.conv0.affine.bias": "convs.2.conv.modulation.bias", "synthesis.b16.conv1.weight": "convs.3.conv.weight",
        "synthesis.b8.torgb.affine.weight": "to_rgbs.0.conv.modulation.weight", "synthesis.b16.torgb.bias": "to_rgbs.1.bias",
        "synthesis.b4.conv1.noise_const": "noises.noise_0", "synthesis.b8.conv0.noise_const": "noises.noise_1",
        "synthesis.b8.conv1.noise_const": "noises.noise_2", "synthesis.b16.conv0.noise_const": "noises.noise_3",
        "synthesis.b16.conv1.noise_const": "noises.noise_4", "synthesis.b16.conv1.noise_strength": "convs.3.noise.weight",
        "synthesis.b4.const": "input.input",
    }  # fmt: skip
    for ours, theirs in pairs.items():
        assert torch.equal(sd[ours].reshape(-1), g[theirs].reshape(-1)), ours
    assert sd["synthesis.b16.torgb.bias"].shape == (3,) and sd["synthesis.b4.const"].dim() == 3
    assert sd["synthesis.b4.conv1.noise_strength"].shape == () and sd["synthesis.b8.conv0.weight"].dim() == 4
    assert sd["synthesis.b4.conv1.noise_const"].shape == (4, 4)


def test_rosinality_bare_state_dict_and_dtypes(G, inputs, tmp_path):  # noqa: F811
    ck = _rosinality_ckpt(G, tmp_path)
    half = {k: v.double() for k, v in ck["g_ema"].items()}  # another dtype in the file: read as float32
    path = tmp_path / "bare.pt"
    torch.save(half, path)
    H, meta = load_generator_any(path)
    with torch.no_grad():
        assert torch.equal(G.synthesize(inputs[1]), H.synthesize(inputs[1]))
    assert all(v.dtype == torch.float32 for v in H.state_dict().values() if v.is_floating_point())
    assert meta["source_format"] == "rosinality" and meta["source_file"] == "bare.pt"
    assert meta["mapping_lr_multiplier_assumed"] == 0.01 and meta["w_avg_estimated"] is True
    conv = convert_checkpoint(path)  # the converted weights themselves, before any load_state_dict cast
    assert {v.dtype for v in conv.state_dict.values()} == {torch.float32}


def test_rosinality_latent_avg_forms(G, tmp_path):
    ck = _rosinality_ckpt(G, tmp_path)
    w_avg = G.mapping.w_avg
    for avg in (w_avg.clone(), w_avg.reshape(1, -1).clone(), torch.stack([w_avg, w_avg + 1]), w_avg.double()):
        conv = checkpoints._convert_rosinality({**ck, "latent_avg": avg}, Path("r.pt"))
        assert torch.equal(conv.state_dict["mapping.w_avg"], w_avg) and "w_avg_estimated" not in conv.meta
        assert conv.state_dict["mapping.w_avg"].dtype == torch.float32
    for avg in (w_avg[:8].clone(), w_avg.tolist(), None):  # too short or not a tensor: estimated instead
        conv = checkpoints._convert_rosinality({**ck, "latent_avg": avg}, Path("r.pt"))
        assert conv.meta["w_avg_estimated"] is True and conv.state_dict["mapping.w_avg"].shape == (16,)


def test_rosinality_estimated_w_avg_is_the_mapping_mean(G, tmp_path):
    """No latent_avg: w_avg is the mean of W over z ~ N(0, I) — 4096 draws of a fixed seed (0), so
    the same file gives the same generator on every machine and run."""
    ck = _rosinality_ckpt(G, tmp_path)
    del ck["latent_avg"]
    est = checkpoints._convert_rosinality(ck, Path("r.pt")).state_dict["mapping.w_avg"]
    with torch.no_grad():
        z = torch.randn(4096, TINY.z_dim, generator=torch.Generator().manual_seed(0))
        expected = G.mapping(z).mean(dim=0)
        far = G.mapping(torch.randn(16384, TINY.z_dim, generator=torch.Generator().manual_seed(7))).mean(dim=0)
    torch.testing.assert_close(est, expected, rtol=0, atol=1e-6)
    assert (est - far).abs().max() < 0.1 * far.abs().max()  # and it is near the true mean


def test_rosinality_refusals(G, tmp_path):
    ck = _rosinality_ckpt(G, tmp_path)
    path = tmp_path / "r.pt"

    def save(obj, legacy: bool = False) -> Path:
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
        return path

    refusal(save({"format": native.FORMAT, "x": 1}, legacy=True), "r.pt: already a SAM Editor generator")
    refusal(save({"g_ema": {"style.2.weight": torch.zeros(1)}, "zz": 1, **{f"k{i}": 0 for i in range(6)}}),
            "a PyTorch file, but not a rosinality StyleGAN2 checkpoint (found ['g_ema', 'k0', 'k1', 'k2', 'k3', 'k4'];",
            f"expected {EXPECTED})")  # fmt: skip
    refusal(save([torch.zeros(1)]), "not a rosinality StyleGAN2 checkpoint (found list;")
    g = dict(ck["g_ema"])
    del g["noises.noise_3"]
    refusal(save({"g_ema": g}), "r.pt: rosinality weight 'noises.noise_3' is missing")
    g = {**ck["g_ema"], "convs.1.activate.bias": [0.0] * 16}
    refusal(save({"g_ema": g}), "rosinality weight 'convs.1.activate.bias' is missing")
    g = {k: v for k, v in ck["g_ema"].items() if not k.startswith("to_rgbs.")}  # no up-blocks: a 4-px generator
    refusal(save({"g_ema": g}), "r.pt: unsupported rosinality generator (resolution must be")
    g = dict(ck["g_ema"])
    g["convs.2.conv.weight"] = torch.zeros(1, 32, 16, 3, 3)  # more channels at 16 px than at 8 px
    refusal(
        save({"g_ema": g}),
        "r.pt: channel layout {4: 16, 8: 16, 16: 32} is not a StyleGAN2 channel_base/channel_max layout",
    )


@pytest.mark.parametrize("cfg", [
    GeneratorConfig(resolution=16, z_dim=8, w_dim=8, mapping_layers=1, channel_base=32768, channel_max=8),  # all at max
    GeneratorConfig(resolution=16, z_dim=8, w_dim=8, mapping_layers=3, channel_base=64, channel_max=16),  # max at 4 px only
    GeneratorConfig(resolution=32, z_dim=8, w_dim=8, mapping_layers=2, channel_base=128, channel_max=16),
    GeneratorConfig(resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=16, img_channels=1),
])  # fmt: skip
def test_rosinality_configs_come_back(cfg, tmp_path):
    torch.manual_seed(0)
    G = Generator(cfg).eval()
    path = tmp_path / "r.pt"
    write_rosinality(G, path)
    H, _ = load_generator_any(path)
    assert H.cfg == cfg  # channel_base recovered: 32768 (rosinality's channel_multiplier 2) when it cannot be told


def test_channel_layouts():
    f = checkpoints._channels_to_base_max
    # config-f at 1024 px: 512 channels up to 64 px, then 256, 128, 64, 32
    cf = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
    assert f(cf, Path("f")) == (32768, 512)
    assert f({4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128}, Path("f")) == (16384, 512)  # channel_multiplier 1
    sat = {r: 256 for r in (4, 8, 16, 32, 64, 128, 256)}  # every block at the maximum, even at 256 px
    base, cmax = f(sat, Path("f"))
    assert cmax == 256 and all(min(base // r, cmax) == c for r, c in sat.items())
    odd = {4: 48, 8: 24, 16: 12}  # base 192, found from the layout itself
    assert f(odd, Path("f")) == (192, 48)
    odd2 = {4: 40, 8: 40, 16: 20}  # base 320: only the 16-px block says so
    assert f(odd2, Path("f")) == (320, 40)
    floor = {4: 40, 8: 40, 16: 20, 32: 10, 64: 5, 128: 2}  # 320 // 128 = 2 channels (not 2.5)
    assert f(floor, Path("f")) == (320, 40)
    with pytest.raises(CheckpointError, match=r"^f: channel layout \{4: 8, 8: 16\} is not a StyleGAN2"):
        f({4: 8, 8: 16}, Path("f"))


def test_rosinality_hostile_and_damaged_torch_files(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "x": PurePosixPath("a")}, path)
    refusal(path, UNSAFE_FILE, f"(expected {EXPECTED})")
    write = tmp_path / "cut.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(64, 64)}}, write, _use_new_zipfile_serialization=False)
    write.write_bytes(write.read_bytes()[:-40])
    refusal(write, "is not a readable generator", f"(expected {EXPECTED})")


def test_broken_weights_name_the_file(G, tmp_path, fake_modules):  # noqa: F811
    """A bad entry deep inside a file: the message still names the file the user picked."""
    g = _ada_g(G, tmp_path)
    g.modules["mapping"].state["_parameters"] = {**g.modules["mapping"].state["_parameters"], "x": [1.0]}
    refusal(_dump_ada(g, tmp_path / "ada.pkl"), "ada.pkl: mapping.x is not a tensor")
    ck = _rosinality_ckpt(G, tmp_path)
    del ck["latent_avg"]  # w_avg is then estimated first, with a generator built from the weights
    ck["g_ema"]["style.2.bias"] = torch.zeros(5)
    torch.save(ck, tmp_path / "ros.pt")
    refusal(
        tmp_path / "ros.pt",
        "ros.pt: weights do not fit a StyleGAN2 generator (wrong shape: mapping.fc1.bias (5,)≠(16,))",
    )


def test_rosinality_g_ema_wins_and_odd_objects_are_refused(G, inputs, tmp_path):  # noqa: F811
    ck = _rosinality_ckpt(G, tmp_path)
    path = tmp_path / "r.pt"
    torch.save({**ck, "style.1.weight": torch.zeros(3)}, path)  # a stray top-level key: g_ema is still the generator
    assert_same_network(G, load_generator_any(path)[0], inputs)
    for obj, found in ((torch.zeros(3), "Tensor"), (7, "int")):
        torch.save(obj, path)
        refusal(path, f"not a rosinality StyleGAN2 checkpoint (found {found};")


def test_tf_config_refusals_name_the_file(G, tmp_path):
    path = tmp_path / "odd.pkl"
    write_tf_pickle(G, path, resolution=48)
    refusal(path, "odd.pkl: unsupported TensorFlow generator options (resolution must be a power of two")


def test_tf_noise_strength_stored_as_a_vector(G, inputs, tmp_path):  # noqa: F811
    """Some exports keep noise_strength as shape (1,) rather than TF's scalar: read as the same scalar."""
    gs = _fake_from_stub(_tf_gs(G, tmp_path))
    syn = gs.state["components"]["synthesis"].state
    syn["variables"] = [(n, np.reshape(a, (1,)) if n.endswith("noise_strength") else a) for n, a in syn["variables"]]
    assert_same_network(G, load_generator_any(_dump(gs, tmp_path / "v.pkl"))[0], inputs, atol=1e-5)


@pytest.mark.parametrize("name,value,why", [
    ("noise1", np.zeros(3, np.float32), "IndexError"),  # a noise map of one dimension, indexed [0, 0]
    ("4x4/Const/const", np.float32(1), "IndexError"),
    ("8x8/Conv1/noise_strength", np.zeros(2, np.float32), "ValueError: cannot reshape"),
])  # fmt: skip
def test_tf_weights_of_odd_shapes(G, tmp_path, name, value, why):
    """These escaped as bare IndexError/ValueError (an IndexError crashed the session) before."""
    gs = _fake_from_stub(_tf_gs(G, tmp_path))
    syn = gs.state["components"]["synthesis"].state
    syn["variables"] = [(n, value if n == name else a) for n, a in syn["variables"]]
    refusal(
        _dump(gs, tmp_path / "odd.pkl"),
        "odd.pkl: a weight has an unexpected shape or type (",
        why,
        f"(expected {EXPECTED})",
    )


@pytest.mark.parametrize("key,value,why", [
    ("latent_avg", torch.zeros(17), "RuntimeError"),  # 17 values for w_dim 16
    ("noises.noise_1", torch.zeros(3), "IndexError"),
    ("input.input", torch.tensor(1.0), "IndexError"),
    ("convs.1.noise.weight", torch.zeros(2), "RuntimeError"),
])  # fmt: skip
def test_rosinality_weights_of_odd_shapes(G, tmp_path, key, value, why):
    ck = _rosinality_ckpt(G, tmp_path)
    if key == "latent_avg":
        ck["latent_avg"] = value
    else:
        ck["g_ema"][key] = value
    torch.save(ck, tmp_path / "odd.pt")
    refusal(tmp_path / "odd.pt", "odd.pt: a weight has an unexpected shape or type (", why)
