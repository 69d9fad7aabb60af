"""Official e4e / pSp encoder checkpoints (`e4e_cars_encode.pt` layout), on tiny models of the same layout.

The checkpoints are built here key by key as the pSp framework writes them ({"state_dict":
{"encoder.…", "decoder.…"}, "latent_avg", "opts"}), and the loader's output is checked against
an independent functional forward written from the layout (IR-SE units, FPN, map2style blocks).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_editor.inversion import InversionSettings, invert
from sam_editor.inversion.e4e import E4EEncoder, E4EFormatError, load_e4e
from sam_editor.inversion.encoder import EncoderError, encode, load_encoder

from .conftest import make_tiny_generator

STAGES = ((8, 1), (12, 2), (16, 1), (24, 2))  # (width, units): IR-SE-50 is (64, 3), (128, 4), (256, 14), (512, 3)
STEM = 8


def _units() -> list[tuple[int, int, int]]:
    units, c_in = [], STEM
    for depth, n in STAGES:
        for k in range(n):
            units.append((c_in if k == 0 else depth, depth, 2 if k == 0 else 1))
        c_in = depth
    return units


def _bn(sd: dict, p: str, c: int, g: torch.Generator) -> None:
    sd[p + ".weight"] = 1 + 0.1 * torch.randn(c, generator=g)
    sd[p + ".bias"] = 0.1 * torch.randn(c, generator=g)
    sd[p + ".running_mean"] = 0.1 * torch.randn(c, generator=g)
    sd[p + ".running_var"] = 0.5 + torch.rand(c, generator=g)
    sd[p + ".num_batches_tracked"] = torch.tensor(1000)


def _conv(c_out: int, c_in: int, k: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(c_out, c_in, k, k, generator=g) / math.sqrt(c_in * k * k)


def make_checkpoint(num_ws: int, w_dim: int, input_hw: tuple[int, int], kind: str = "Encoder4Editing",
                    stylegan_size: int = 32, seed: int = 0, avg_rows: bool = True) -> dict:  # fmt: skip
    """A random pSp-framework checkpoint with e4e's key layout and shapes scaled down."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    sd["encoder.input_layer.0.weight"] = _conv(STEM, 3, 3, g)
    _bn(sd, "encoder.input_layer.1", STEM, g)
    sd["encoder.input_layer.2.weight"] = 0.25 + 0.05 * torch.randn(STEM, generator=g)
    for i, (c_in, depth, _stride) in enumerate(_units()):
        p = f"encoder.body.{i}."
        if c_in != depth:
            sd[p + "shortcut_layer.0.weight"] = _conv(depth, c_in, 1, g)
            _bn(sd, p + "shortcut_layer.1", depth, g)
        _bn(sd, p + "res_layer.0", c_in, g)
        sd[p + "res_layer.1.weight"] = _conv(depth, c_in, 3, g)
        sd[p + "res_layer.2.weight"] = 0.25 + 0.05 * torch.randn(depth, generator=g)
        sd[p + "res_layer.3.weight"] = _conv(depth, depth, 3, g)
        _bn(sd, p + "res_layer.4", depth, g)
        sd[p + "res_layer.5.fc1.weight"] = _conv(depth // 4, depth, 1, g)
        sd[p + "res_layer.5.fc2.weight"] = _conv(depth, depth // 4, 1, g)
    c1, c2, c3 = STAGES[1][0], STAGES[2][0], STAGES[3][0]
    h3 = max(input_hw) // 16  # c3's larger side
    for i in range(num_ws):
        level = h3 * (1 if i < 3 else 2 if i < 7 else 4)
        n_convs = int(math.log2(level))
        for k in range(n_convs):
            sd[f"encoder.styles.{i}.convs.{2 * k}.weight"] = _conv(w_dim, c3 if k == 0 else w_dim, 3, g)
            sd[f"encoder.styles.{i}.convs.{2 * k}.bias"] = 0.1 * torch.randn(w_dim, generator=g)
        sd[f"encoder.styles.{i}.linear.weight"] = torch.randn(w_dim, w_dim, generator=g)
        sd[f"encoder.styles.{i}.linear.bias"] = 0.1 * torch.randn(w_dim, generator=g)
    sd["encoder.latlayer1.weight"], sd["encoder.latlayer1.bias"] = _conv(c3, c2, 1, g), torch.zeros(c3)
    sd["encoder.latlayer2.weight"], sd["encoder.latlayer2.bias"] = _conv(c3, c1, 1, g), torch.zeros(c3)
    sd["decoder.style.1.weight"] = torch.randn(w_dim, w_dim, generator=g)  # the rosinality decoder: ignored
    avg = torch.randn(num_ws if avg_rows else 1, w_dim, generator=g)
    opts = {"encoder_type": kind, "stylegan_size": stylegan_size, "start_from_latent_avg": True,
            "dataset_type": "cars_encode", "checkpoint_path": None, "lpips_lambda": 0.8}  # fmt: skip
    return {"state_dict": sd, "latent_avg": avg if avg_rows else avg[0], "opts": opts}


def reference_forward(ckpt: dict, x: torch.Tensor) -> torch.Tensor:
    """e4e / pSp inference written directly from the checkpoint's tensors."""
    sd = {k[len("encoder.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("encoder.")}

    def bn(t: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(
            t, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"], False, 0.0, 1e-5
        )

    t = F.prelu(bn(F.conv2d(x, sd["input_layer.0.weight"], padding=1), "input_layer.1"), sd["input_layer.2.weight"])
    outs = []
    for i, (c_in, depth, stride) in enumerate(_units()):
        p = f"body.{i}."
        if c_in == depth:
            short = t[:, :, ::stride, ::stride]
        else:
            short = bn(F.conv2d(t, sd[p + "shortcut_layer.0.weight"], stride=stride), p + "shortcut_layer.1")
        r = F.conv2d(bn(t, p + "res_layer.0"), sd[p + "res_layer.1.weight"], padding=1)
        r = F.conv2d(F.prelu(r, sd[p + "res_layer.2.weight"]), sd[p + "res_layer.3.weight"], stride=stride, padding=1)
        r = bn(r, p + "res_layer.4")
        s = r.mean((2, 3), keepdim=True)
        s = torch.sigmoid(
            F.conv2d(F.relu(F.conv2d(s, sd[p + "res_layer.5.fc1.weight"])), sd[p + "res_layer.5.fc2.weight"])
        )
        t = r * s + short
        outs.append(t)
    ends = np.cumsum([n for _, n in STAGES]) - 1
    c1, c2, c3 = outs[ends[1]], outs[ends[2]], outs[ends[3]]
    up = lambda a, b: F.interpolate(a, size=b.shape[-2:], mode="bilinear", align_corners=True) + b  # noqa: E731
    p2 = up(c3, F.conv2d(c2, sd["latlayer1.weight"], sd["latlayer1.bias"]))
    p1 = up(p2, F.conv2d(c1, sd["latlayer2.weight"], sd["latlayer2.bias"]))
    n_rows = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("styles."))

    def style(i: int, f: torch.Tensor) -> torch.Tensor:
        k = 0
        while f"styles.{i}.convs.{k}.weight" in sd:
            f = F.leaky_relu(
                F.conv2d(f, sd[f"styles.{i}.convs.{k}.weight"], sd[f"styles.{i}.convs.{k}.bias"], stride=2, padding=1),
                0.01,
            )
            k += 2
        wgt = sd[f"styles.{i}.linear.weight"]
        return F.linear(f.flatten(1), wgt / math.sqrt(wgt.shape[1]), sd[f"styles.{i}.linear.bias"])

    feats = lambda i: c3 if i < 3 else p2 if i < 7 else p1  # noqa: E731
    if ckpt["opts"]["encoder_type"] == "GradualStyleEncoder":
        codes = torch.stack([style(i, feats(i)) for i in range(n_rows)], 1)
    else:
        w0 = style(0, c3)
        codes = torch.stack([w0] + [w0 + style(i, feats(i)) for i in range(1, n_rows)], 1)
    avg = ckpt["latent_avg"].reshape(-1, codes.shape[-1])
    return codes + avg[None]


@pytest.fixture(scope="module")
def G():
    return make_tiny_generator(seed=3)


@pytest.mark.parametrize("kind", ["Encoder4Editing", "GradualStyleEncoder"])
def test_loader_matches_the_layouts_own_forward(G, tmp_path, kind):
    ckpt = make_checkpoint(G.num_ws, G.w_dim, G.cfg.output_size, kind)
    torch.save(ckpt, tmp_path / "e4e_tiny_encode.pt")
    enc = load_encoder(tmp_path / "e4e_tiny_encode.pt", G=G)
    assert isinstance(enc, E4EEncoder) and enc.kind == ("e4e" if kind == "Encoder4Editing" else "psp")
    assert enc.input_size == G.cfg.output_size  # a ≤ 256 px StyleGAN: fed at its own size
    x = torch.rand(2, 3, *G.cfg.output_size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    got = enc.w_plus(x)
    want = reference_forward(ckpt, x)
    assert got.shape == (2, G.num_ws, G.w_dim)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    if kind == "Encoder4Editing":  # e4e: every row is the first row plus its own offset
        assert not torch.allclose(got[:, 1], got[:, 0])


def test_single_row_latent_avg_and_car_aspect_input(tmp_path):
    """A 512 px car StyleGAN: 16 rows, the 384×512 image fed at 192×256 as the SAM code does."""
    ckpt = make_checkpoint(16, 16, (192, 256), stylegan_size=512, avg_rows=False)
    torch.save(ckpt, tmp_path / "e4e_cars_encode.pt")
    enc = load_e4e(tmp_path / "e4e_cars_encode.pt", output_size=(384, 512))
    assert enc.input_size == (192, 256) and enc.num_ws == 16
    x = torch.rand(1, 3, 384, 512, generator=torch.Generator().manual_seed(2)) * 2 - 1
    small = F.interpolate(x, size=(192, 256), mode="area")
    torch.testing.assert_close(enc.w_plus(x), reference_forward(ckpt, small), rtol=1e-4, atol=1e-4)


def test_hybrid_inversion_starts_from_the_e4e_w_plus(G, tmp_path):
    ckpt = make_checkpoint(G.num_ws, G.w_dim, G.cfg.output_size)
    torch.save(ckpt, tmp_path / "e4e.pt")
    enc = load_encoder(tmp_path / "e4e.pt", G=G)
    x = torch.rand(1, 3, *G.cfg.output_size, generator=torch.Generator().manual_seed(4)) * 2 - 1
    ranks = np.zeros((1, *G.cfg.output_size), np.uint8)
    ranks[:, :, 16:] = 2
    phi = encode(enc, G, x, ranks)
    assert phi.metadata["init"] == "e4e" and phi.delta_f == {}  # Δf_i start at 0, as in the official code
    res = invert(G, x, "sam", ranks, InversionSettings(steps=0), init_phi=phi, perceptual=None)
    torch.testing.assert_close(res.phi.w_plus, phi.w_plus)
    assert res.phi.metadata["init"] == "e4e"
    assert all(not d.any() for d in res.phi.delta_f.values())


def test_clear_refusals(G, tmp_path):
    good = make_checkpoint(G.num_ws, G.w_dim, G.cfg.output_size)
    cases = {
        "wrong_type": {**good, "opts": {**good["opts"], "encoder_type": "ResNetBackboneEncoder"}},
        "no_avg": {k: v for k, v in good.items() if k != "latent_avg"},
        "no_encoder": {**good, "state_dict": {k: v for k, v in good["state_dict"].items() if k.startswith("decoder.")}},
        "rows": {**good, "opts": {**good["opts"], "stylegan_size": 1024}},
    }
    for name, blob in cases.items():
        torch.save(blob, tmp_path / f"{name}.pt")
        with pytest.raises(EncoderError) as err:
            load_encoder(tmp_path / f"{name}.pt", G=G)
        assert str(err.value) and "Traceback" not in str(err.value)
    other = make_checkpoint(G.num_ws, 16, G.cfg.output_size)  # w_dim 16 ≠ G's 32
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(EncoderError, match="16"):
        load_encoder(tmp_path / "other.pt", G=G)
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(EncoderError, match="junk.pt"):
        load_encoder(tmp_path / "junk.pt", G=G)
    with pytest.raises(E4EFormatError, match="pSp"):
        torch.save({"state_dict": {}}, tmp_path / "plain.pt")
        load_e4e(tmp_path / "plain.pt")


def test_official_bundle_loads_the_registry_e4e(G, tmp_path):
    """With `stylegan2-car` and `e4e-cars` in the weights folder, the session starts from that e4e."""
    from sam_editor import weights
    from sam_editor.gan.native import save_generator
    from sam_editor.session.models import Bundle, load_bundle

    gen = tmp_path / weights.get("stylegan2-car").subdir / weights.get("stylegan2-car").filename
    gen.parent.mkdir(parents=True)
    save_generator(gen, G, {})  # a native file under the official name: the loader reads it by content
    enc = tmp_path / weights.get("e4e-cars").subdir / weights.get("e4e-cars").filename
    enc.parent.mkdir(parents=True)
    torch.save(make_checkpoint(G.num_ws, G.w_dim, G.cfg.output_size), enc)
    bundle = load_bundle(weights_dirs=[tmp_path], device="cpu", cache_dir=tmp_path / "cache")
    assert isinstance(bundle, Bundle) and bundle.kind == "official"
    assert isinstance(bundle.encoder, E4EEncoder) and bundle.encoder_name == enc.name
