"""Class edits on BigGAN-deep (gated per segment, region held) and the CLI's invert / edit --class."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from sam_editor import cli
from sam_editor.edits.class_edit import hold_outside, parse_stages
from sam_editor.gan.biggan.checkpoint import save_port_format
from sam_editor.gan.biggan.classes import CAR_SHORTLIST, class_name, parse_class, search_classes
from sam_editor.gan.biggan.generator import ClassConditionedBigGAN
from sam_editor.inversion.phi import Phi
from sam_editor.testing.biggan import random_biggan


@pytest.fixture(scope="module")
def G():
    return ClassConditionedBigGAN.for_class(random_biggan(seed=0), 3)


def test_car_shortlist_names_and_search():
    assert [class_name(i) for i in CAR_SHORTLIST[:3]] == ["817 sports car", "511 convertible", "609 jeep"]
    assert parse_class("convertible") == 511 and parse_class("Sports-Car") == 817 and parse_class("656") == 656
    assert search_classes("") == list(CAR_SHORTLIST)
    hits = search_classes("car")
    assert hits[0] == 817 and 511 not in hits  # the shortlist's 'sports car' first
    assert hits.index(705) < hits.index(264) < hits.index(959)  # 'passenger car', then 'Cardigan', 'carbonara'
    with pytest.raises(ValueError, match="did you mean .*sports car"):
        parse_class("sports")
    with pytest.raises(ValueError, match="not one of this generator's 10 classes"):
        parse_class(511, num_classes=10)


def test_region_edit_leaves_everything_outside_the_region_as_inverted(G):
    """hold_outside: the reconstruction is unchanged, and outside the region (beyond the final 3×3
    conv's one-pixel reach) a class edit changes no pixel; inside it does."""
    rows = G.z_plus(G.sample_z(1, seed=7))
    mask2 = torch.zeros(1, 1, 8, 8)
    mask2[..., :, :2] = 1  # a background strip inverted in F2
    delta_f = {2: 0.3 * torch.randn(1, *G.feature_shape(2))}
    region = np.zeros((32, 32), bool)
    region[8:24, 8:24] = True
    df, m = hold_outside(G, delta_f, {2: mask2}, region)
    assert set(m) == {2, G.cfg.num_blocks}
    rec = G.synthesize(rows, delta_f, {2: mask2})
    assert torch.allclose(G.synthesize(rows, df, m), rec, atol=1e-5)
    edited = G.synthesize(rows, df, m, delta_w=G.class_delta(7))
    far = ~cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    diff = (edited - rec).abs().amax(dim=1)[0]
    assert float(diff[torch.from_numpy(far)].max()) < 1e-5
    assert float(diff[torch.from_numpy(region)].max()) > 1e-2


def test_parse_stages():
    assert parse_stages(None, 7) is None and parse_stages("3-6", 7) == range(3, 7) and parse_stages("2", 7) == range(2, 3)
    with pytest.raises(ValueError, match="stages run 0…6"):
        parse_stages("3-7", 7)


# ---- the CLI ----------------------------------------------------------------------------------------
@pytest.fixture()
def files(tmp_path, G):
    folder = save_port_format(G.net, tmp_path / "tiny-biggan")
    photo = tmp_path / "car.png"
    rgb = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)  # not square: letterboxed
    cv2.imwrite(str(photo), rgb)
    return folder, photo


def test_cli_invert_then_class_edit(tmp_path, files, capsys):
    folder, photo = files
    out = tmp_path / "out"
    rc = cli.main(["invert", str(photo), "--generator", str(folder), "--method", "z+", "--class", "3",
                   "--steps", "3", "--out", str(out), "--device", "cpu"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "car_metrics.json").read_text())
    assert report["family"] == "biggan-deep" and report["method"] == "z+" and report["steps"] == 3
    phi = Phi.load(out / "car_phi.pt")
    assert phi.w_plus.shape == (1, 7, 16) and phi.metadata["class_index"] == 3
    assert (out / "car_reconstruction.png").is_file()
    edited = tmp_path / "edited.png"
    rc = cli.main(["edit", str(out / "car_phi.pt"), "--class", "7", "--out", str(edited)])
    assert rc == 0, capsys.readouterr().err
    same = tmp_path / "same.png"
    assert cli.main(["edit", str(out / "car_phi.pt"), "--class", "7", "--class-strength", "0", "--out", str(same)]) == 0
    a, b = cv2.imread(str(edited)), cv2.imread(str(same))
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() > 10


def test_cli_sam_with_a_mask_file(tmp_path, files, capsys):
    folder, photo = files
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255
    cv2.imwrite(str(tmp_path / "map.png"), mask)
    rc = cli.main(["invert", str(photo), "--generator", str(folder), "--method", "sam", "--latent-map",
                   str(tmp_path / "map.png"), "--class", "3", "--steps", "2", "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert set(Phi.load(tmp_path / "o" / "car_phi.pt").delta_f) == {2}


def test_cli_sam_with_a_measured_map(tmp_path, files, capsys):
    """No predictor for BigGAN: `--latent-map auto` measures the Z+ error per segment; τ = 0 puts
    every segment with any error in F2, a huge τ none."""
    folder, photo = files
    args = ["invert", str(photo), "--generator", str(folder), "--method", "sam", "--steps", "4"]
    assert cli.main([*args, "--tau", "0", "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "no invertibility predictor; measuring the Z+ error" in err
    report = json.loads((tmp_path / "a" / "car_metrics.json").read_text())
    assert report["latent_map"].startswith("measured") and "100% in F2" in report["latent_map"]
    assert cli.main([*args, "--tau", "100", "--out", str(tmp_path / "b")]) == 0
    report = json.loads((tmp_path / "b" / "car_metrics.json").read_text())
    assert "0% in F2" in report["latent_map"]


def test_cli_refusals(tmp_path, files, capsys, monkeypatch):
    folder, photo = files
    monkeypatch.setenv("SAM_EDITOR_WEIGHTS", str(tmp_path / "no_weights"))
    monkeypatch.setattr("sam_editor.weights.search_dirs", lambda: [tmp_path / "no_weights"])
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert cli.main(["invert", str(photo), "--generator", "biggan-deep-256", "--method", "z+", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "biggan-deep-256" in err and "sam-editor weights fetch" in err and "Traceback" not in err
    assert cli.main(["invert", str(photo), "--generator", str(folder), "--method", "w", "--out", str(tmp_path / "o")]) == 2
    assert "inverts with z, z+, f2 or sam" in capsys.readouterr().err
    assert cli.main(["invert", str(photo), "--generator", str(folder), "--class", "42", "--out", str(tmp_path / "o")]) == 2
    assert "not one of this generator's 10 classes" in capsys.readouterr().err
    # a φ of the absent published model: the edit says how to get it
    phi = Phi(torch.zeros(1, 13, 128), metadata={"family": "biggan-deep", "generator": "biggan-deep-256", "class_index": 817})
    phi.save(tmp_path / "p.pt")
    assert cli.main(["edit", str(tmp_path / "p.pt"), "--class", "511", "--out", str(tmp_path / "e.png")]) == 2
    assert "sam-editor weights fetch" in capsys.readouterr().err
    # a StyleGAN2 φ cannot take a class edit
    Phi(torch.zeros(1, 12, 64), metadata={"method": "wplus"}).save(tmp_path / "s.pt")
    assert cli.main(["edit", str(tmp_path / "s.pt"), "--class", "511", "--out", str(tmp_path / "e.png")]) == 2
    assert "was not inverted into BigGAN-deep" in capsys.readouterr().err


def test_ganspace_on_z_finds_the_first_layers_principal_directions():
    """With gen_z's z-part set to U diag(6, 3, 1.5, 0.5, …) Vᵀ, GANSpace's regressed directions are
    Vᵀ's rows in order (up to sign), and the principal coordinates' spread follows the spectrum."""
    from sam_editor.edits.ganspace_z import z_components

    net = random_biggan(seed=1)
    W = net.generator.gen_z.weight  # (out, 2·z_dim): [z | e] columns
    zd = net.cfg.z_dim
    g = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(W.shape[0], zd, generator=g))
    V, _ = torch.linalg.qr(torch.randn(zd, zd, generator=g))
    spectrum = torch.tensor([6.0, 3.0, 1.5] + [0.5] * (zd - 3))
    W[:, :zd] = U @ torch.diag(spectrum) @ V.T
    Gs = ClassConditionedBigGAN.for_class(net, 2)
    comps = z_components(Gs, n_samples=1024, n_components=3)
    cos = (comps.directions @ V[:, :3]).abs().diagonal()
    assert bool((cos > 0.98).all()), cos
    ratios = comps.h_std[:2] / comps.h_std[1:3]
    assert bool((ratios > 1.7).all()), ratios  # 6 : 3 : 1.5
    d = comps.delta(0, 2.0, range(1, 3), Gs.num_ws)
    assert torch.allclose(d[0, 1], 2.0 * comps.directions[0]) and float(d[0, [0, 3, 4, 5, 6]].abs().max()) == 0.0
    with pytest.raises(ValueError, match="component 5 is not one of the 3"):
        comps.delta(5, 1.0, range(0, 7), Gs.num_ws)
    torch.manual_seed(123)  # the global RNG elsewhere: the same call gives the same directions
    again = z_components(Gs, n_samples=1024, n_components=3)
    assert torch.equal(again.directions, comps.directions) and torch.equal(again.h_std, comps.h_std)
    top = comps.directions.abs().argmax(dim=1)
    assert bool((comps.directions[torch.arange(3), top] > 0).all())  # the sign convention of W's GANSpace


def test_z_component_delta_by_hand_and_its_refusals():
    """ZComponents.delta on hand-made unit directions: s·u_k on exactly the stages asked (a single
    stage included), on the directions' device; every out-of-range component or stage range is
    refused with its whole message (the valid ranges written out), never clipped silently."""
    from sam_editor.edits.ganspace_z import ZComponents

    u = torch.eye(3, 4)  # three unit directions in a 4-wide z
    comps = ZComponents(u, torch.tensor([3.0, 2.0, 1.0]), samples=10)
    d = comps.delta(2, -1.5, range(4, 5), num_ws=5)  # one stage, a negative strength
    want = torch.zeros(1, 5, 4)
    want[0, 4, 2] = -1.5
    assert torch.equal(d, want)
    assert torch.equal(comps.delta(0, 2.0, range(0, 5), num_ws=5)[0, :, 0], torch.full((5,), 2.0))
    on_meta = ZComponents(u.to("meta"), torch.ones(3), samples=10).delta(1, 1.0, range(0, 2), num_ws=3)
    assert on_meta.device.type == "meta"
    for k in (3, -1):
        with pytest.raises(ValueError) as err:
            comps.delta(k, 1.0, range(0, 5), num_ws=5)
        assert str(err.value) == f"component {k} is not one of the 3 computed (0…2)"
    for stages, shown in ((range(-1, 2), "-1-1"), (range(3, 6), "3-5"), (range(2, 2), "2-1")):
        with pytest.raises(ValueError) as err:
            comps.delta(0, 1.0, stages, num_ws=5)
        assert str(err.value) == f"stages {shown} are not within 0…4"


def test_z_components_total_sums_the_edits_on_their_stages():
    """ZComponents.total: the sum of every (k, s, stages) edit, worked out by hand (two edits of one
    direction overlapping on a stage add up); none: zeros of the full (1, num_ws, z_dim) shape."""
    from sam_editor.edits.ganspace_z import ZComponents

    comps = ZComponents(torch.eye(3, 4), torch.tensor([3.0, 2.0, 1.0]), samples=10)
    d = comps.total([(0, 2.0, range(0, 2)), (0, 1.0, range(1, 3)), (2, -1.5, range(4, 5))], num_ws=5)
    want = torch.zeros(1, 5, 4)
    want[0, 0, 0], want[0, 1, 0], want[0, 2, 0], want[0, 4, 2] = 2.0, 3.0, 1.0, -1.5
    assert torch.equal(d, want)
    assert torch.equal(comps.total([], num_ws=5), torch.zeros(1, 5, 4))
    assert ZComponents(torch.eye(3, 4).to("meta"), torch.ones(3), samples=10).total([], 2).device.type == "meta"
    with pytest.raises(ValueError, match="component 3 is not one"):
        comps.total([(0, 1.0, range(0, 1)), (3, 1.0, range(0, 1))], num_ws=5)


def test_family_edit_delta_puts_the_class_on_the_embedding_and_the_z_edits_on_z(G):
    """The one δ of the CLI and the window: class_delta's embedding columns untouched, every z edit
    summed into the z columns (which class_delta leaves at 0)."""
    from sam_editor.edits.class_edit import family_edit_delta

    zd = G.w_dim
    a, b = torch.randn(1, G.num_ws, zd), torch.randn(1, G.num_ws, zd)
    cls = G.class_delta(7, 0.5, range(3, 7))
    d = family_edit_delta(G, 7, 0.5, range(3, 7), [a, b])
    assert d.shape == (1, G.num_ws, 2 * zd)
    assert torch.equal(d[..., zd:], cls[..., zd:]) and torch.allclose(d[..., :zd], a + b)
    assert torch.equal(family_edit_delta(G, 7, 0.5, range(3, 7)), cls)
    assert float(family_edit_delta(G, 3, 1.0, None, [a])[..., zd:].abs().max()) == 0.0  # the bound class: z only


def test_cli_ganspace_on_a_biggan_phi(tmp_path, files, capsys):
    folder, photo = files
    out = tmp_path / "out"
    assert cli.main(["invert", str(photo), "--generator", str(folder), "--method", "z+", "--steps", "2",
                     "--out", str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    # no --generator and no --class: the φ's metadata routes it to the BigGAN edit
    assert cli.main(["edit", str(out / "car_phi.pt"), "--ganspace", "0:3", "--n-samples", "256", "--components", "4",
                     "--out", str(a)]) == 0, capsys.readouterr().err  # fmt: skip
    err = capsys.readouterr().err
    assert "GANSpace on z:" in err and "z/s]" in err  # the PCA's progress bar, named, counting z
    assert cli.main(["edit", str(out / "car_phi.pt"), "--ganspace", "0:0", "--n-samples", "256", "--components", "4",
                     "--out", str(b)]) == 0  # fmt: skip
    ia, ib = cv2.imread(str(a)).astype(int), cv2.imread(str(b)).astype(int)
    assert np.abs(ia - ib).max() > 10
    c, d = tmp_path / "c.png", tmp_path / "d.png"  # --layers is the default range of a --ganspace without @A-B
    for extra, path in ((["--ganspace", "0:3", "--layers", "3-6"], c), (["--ganspace", "0:3@3-6"], d)):
        assert cli.main(["edit", str(out / "car_phi.pt"), *extra, "--n-samples", "256", "--components", "4",
                         "--pca-seed", "1", "--out", str(path)]) == 0  # fmt: skip
    # by hand: the directions of 256 samples, seed 1; s·u_0 on stages 3–6 of z; the gated render
    from sam_editor.edits.ganspace_z import z_components
    from sam_editor.gan.biggan.generator import load_conditioned
    from sam_editor.inversion.images import tensor_to_rgb8

    phi = Phi.load(out / "car_phi.pt")
    Gl, _ = load_conditioned(str(folder), int(phi.metadata["class_index"]), float(phi.metadata["truncation"]))
    u = z_components(Gl, 256, 4, seed=1).directions
    dz = torch.zeros(1, Gl.num_ws, Gl.w_dim)
    dz[0, 3:7] = 3.0 * u[0]
    with torch.no_grad():
        want = tensor_to_rgb8(Gl.synthesize(phi.w_plus.float(), phi.delta_f, phi.masks, delta_w=dz).clamp(-1, 1))
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(d)), cv2.COLOR_BGR2RGB), want)
    ic, i_d = cv2.imread(str(c)).astype(int), cv2.imread(str(d)).astype(int)
    assert np.array_equal(ic, i_d) and not np.array_equal(ic, ia)
    assert cli.main(["edit", str(out / "car_phi.pt"), "--preset", "suv", "--out", str(a)]) == 2
    assert "presets and official directions are StyleGAN2's" in capsys.readouterr().err


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    from sam_editor.demo.train_clip import build_tiny_clip, save_clip

    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("clip")
    save_clip(build_tiny_clip(TINY_CLIP), folder, config=TINY_CLIP)
    return folder


def test_text_edit_runs_on_biggan_through_the_family_interface(G, clip_folder):
    """StyleCLIP's text_edit asks only the interface, so it optimises δz on BigGAN; and gated: with
    the whole image in F2 and δ confined to the stages up to F2, no δ can change the image."""
    from sam_editor.edits import clip_models
    from sam_editor.edits.styleclip import text_edit

    clip_models.clear_cache()
    clip = clip_models.load_demo_clip(clip_folder)
    rows = G.z_plus(G.sample_z(1, seed=8))
    r = text_edit(G, rows, None, None, "a blue car", clip, steps=8, seed=0)
    assert r.delta_w.shape == rows.shape and min(h["clip"] for h in r.history[2:]) < r.history[0]["clip"] - 1e-4
    full = {2: torch.ones(1, 1, 8, 8)}
    df = {2: 0.1 * torch.randn(1, *G.feature_shape(2))}
    gated = text_edit(G, rows, df, full, "a blue car", clip, steps=4, seed=0, layers=[0, 1, 2])
    rec = G.synthesize(rows, df, full)
    assert torch.equal(G.synthesize(rows, df, full, delta_w=gated.delta_w), rec)


def test_cli_text_edit_on_a_biggan_phi(tmp_path, files, clip_folder, capsys):
    folder, photo = files
    out = tmp_path / "out"
    assert cli.main(["invert", str(photo), "--generator", str(folder), "--method", "z+", "--steps", "2",
                     "--out", str(out)]) == 0  # fmt: skip
    rc = cli.main(["edit", str(out / "car_phi.pt"), "--text", "a blue car", "--clip", str(clip_folder),
                   "--text-steps", "3", "--out", str(tmp_path / "t.png")])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert "text 'a blue car'" in capsys.readouterr().out
