"""SAM's invertibility predictor for BigGAN-deep (§3.1–3.2 with Φ = {Z+, F2}) on a tiny generator of
the published format: targets from inversions of renders and cluttered renders, StyleGAN2's network
and training with heads Z+ / F2, the predicted latent map, the CLI and the window's session.

The predictor is trained once per module (16 images, 20 inversion steps per space, 150 training
steps: ≈ 4 s of one core) into the generator's folder, where `invert --method sam` finds it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from sam_editor.gan.biggan.checkpoint import save_port_format
from sam_editor.gan.biggan.generator import load_conditioned
from sam_editor.inversion.family import invert_family, rows_space_error
from sam_editor.inversion.images import tensor_to_rgb8
from sam_editor.inversion.settings import InversionSettings
from sam_editor.invertibility.family import (
    MSE_TAU,
    PREDICTOR_FILE,
    generator_fingerprint,
    latent_map_from_errors,
    load_family_predictor,
    predicted_errors,
    predicted_latent_map,
)
from sam_editor.invertibility.predictor import TinyInvertibilityNet, load_predictor, save_predictor
from sam_editor.invertibility.segmenters import OversegSegmenter
from sam_editor.session.family_invertibility import family_latent_map, train_family_predictor, training_images
from sam_editor.testing.biggan import random_biggan

STEPS = InversionSettings(steps=20, lr=0.05, lambda_lpips=0.0, optimise_size=None)
CLASS = 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(G, meta, the training report, work folder): a tiny BigGAN-deep in the port's format with its
    predictor trained beside its weights."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("family_predictor")
    save_port_format(random_biggan(seed=0), root / "gen")
    G, meta = load_conditioned(root / "gen", CLASS)
    done = train_family_predictor(G, meta, root / "work", root / "gen" / PREDICTOR_FILE, n_images=16, train_steps=150,
                                  width=8, batch_size=16, lr=5e-3, val_fraction=0.25, settings=STEPS)  # fmt: skip
    return G, meta, done, root


@pytest.fixture(scope="module")
def held_out(trained):
    """Six images of another seed, the last three cluttered, with the clutter's pixels (where the
    PNG differs from the clean render of the same z)."""
    G, _, _, root = trained
    paths = training_images(G, root / "held_out", 6, seed=77)
    rgb = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths])
    with torch.no_grad():
        clean = np.stack([tensor_to_rgb8(x) for x in G(G.sample_z(6, seed=77))])
    clutter = np.abs(rgb.astype(int) - clean.astype(int)).max(-1) > 0  # (6, H, W)
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1
    labels = np.stack([OversegSegmenter().segment(im) for im in rgb])
    return x, labels, clutter


def _segment_means(err: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-segment means of (H, W) `err`, computed here for the check (not `segment_means`)."""
    ids = np.unique(labels)
    return np.array([err[labels == k].mean() for k in ids])


def test_the_predictor_has_the_family_heads_and_knows_its_generator(trained):
    G, _, done, root = trained
    model = load_family_predictor(root / "gen" / PREDICTOR_FILE, G)
    assert isinstance(model, TinyInvertibilityNet) and model.space_names == ("Z+", "F2")
    assert model.input_size == (32, 32) and len(model.heads) == 2
    assert model.meta["family"] == "biggan-deep" and model.meta["generator_fingerprint"] == generator_fingerprint(G)
    assert model.meta["tau"]["metric"] == "MSE" and model.meta["class_index"] == CLASS
    with np.load(sorted((root / "work" / "targets").glob("*.npz"))[0]) as data:
        assert list(data["spaces"]) == ["Z+", "F2"] and data["errors"].shape == (2, 32, 32)
    assert done.images == 16 and done.targets_written == 16 and done.result.num_val == 4
    assert done.result.val_mse < done.result.const_mse  # held-out targets: better than their mean


def test_predicted_segment_errors_rank_the_measured_ones(trained, held_out):
    """On held-out images, the predicted Z+ error per segment orders the measured one (a Z+
    inversion of the targets' length) better than chance and fits it better than a constant."""
    G, _, _, root = trained
    x, labels, _ = held_out
    model = load_family_predictor(root / "gen" / PREDICTOR_FILE, G)
    pred = predicted_errors(model, x)  # (6, 2, H, W)
    measured, _ = rows_space_error(G, x, STEPS)
    p = np.concatenate([_segment_means(pred[i, 0], labels[i]) for i in range(len(x))])
    m = np.concatenate([_segment_means(measured[i, 0].numpy(), labels[i]) for i in range(len(x))])
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    spearman, pearson = np.corrcoef(rank(p), rank(m))[0, 1], np.corrcoef(p, m)[0, 1]
    assert len(p) > 40 and spearman > 0.25 and pearson > 0.5, (spearman, pearson)  # chance: 0 (p < 0.005 at 0.25)
    train_mean = float(np.mean([np.load(f)["errors"][0].astype(np.float32).mean()
                                for f in (root / "work" / "targets").glob("*.npz")]))  # fmt: skip
    assert np.mean((p - m) ** 2) < np.mean((train_mean - m) ** 2)


def test_sam_with_the_predicted_map_beats_z_plus_and_z(trained, held_out):
    G, _, _, root = trained
    x, labels, clutter = held_out
    model = load_family_predictor(root / "gen" / PREDICTOR_FILE, G)
    fmap = family_latent_map(G, x, labels, MSE_TAU.default, STEPS, predictor=model)
    f2 = fmap.masks["F2"][:, 0].numpy()
    assert fmap.source == "predicted" and "predicted invertibility" in fmap.note
    assert 0.05 < f2.mean() < 0.95  # a real choice, not the whole image in one space
    assert f2[clutter].mean() > f2[~clutter].mean() + 0.2  # what G cannot draw goes to F2
    mse = {m: (invert_family(G, x, m, lmap, STEPS).reconstruction - x).pow(2).mean().item()
           for m, lmap in (("z", None), ("z+", None), ("sam", fmap.masks))}  # fmt: skip
    assert mse["sam"] < mse["z+"] < mse["z"], mse


def test_the_map_is_refined_per_segment_over_the_photo_only(trained):
    """Refinement and τ through invertibility.latent_map: a segment is in F2 iff its mean Z+ error
    over the photo's pixels exceeds τ; the letterbox's padding neither counts nor forms segments."""
    G = trained[0]
    labels = np.zeros((1, 32, 32), np.int64)
    labels[..., 16:] = 1
    errors = np.zeros((1, 2, 32, 32), np.float32)
    errors[:, 0, :, 16:] = 0.03  # right half above τ = 0.02 …
    errors[:, 0, :, :16] = 0.01
    errors[:, 0, :8] = 5.0  # … and the padding rows (top 8) would push the left half over it too
    valid = torch.ones(1, 1, 32, 32)
    valid[..., :8, :] = 0
    masks, means = latent_map_from_errors(G, errors, labels, 0.02, valid)
    f2 = masks["F2"][0, 0].numpy()
    assert f2[:, 16:].all() and not f2[:, :16].any()
    np.testing.assert_allclose(means[0][:, 0], [0.01, 0.03], rtol=1e-6)
    masks, _ = latent_map_from_errors(G, errors, labels, 0.02)  # without the mask the padding counts
    assert masks["F2"][0, 0].numpy().all()
    with pytest.raises(ValueError, match="expected error maps \\(N, 2, H, W\\) for Z\\+, F2"):
        latent_map_from_errors(G, errors[:, :1], labels, 0.02)


def test_predictors_of_other_generators_or_spaces_are_refused(trained, tmp_path):
    G, _, _, root = trained
    path = root / "gen" / PREDICTOR_FILE
    save_port_format(random_biggan(seed=11), tmp_path / "other")
    other, _ = load_conditioned(tmp_path / "other", CLASS)
    with pytest.raises(ValueError, match="trained for another biggan-deep generator .*gen"):
        load_family_predictor(path, other)
    assert load_family_predictor(path, G.with_class(5)).space_names == ("Z+", "F2")  # any class of the network
    with pytest.raises(ValueError, match="predicts the invertibility of the spaces Z\\+, F2; this generator inverts in W\\+"):
        load_predictor(path)  # StyleGAN2's loader
    stylegan = save_predictor(TinyInvertibilityNet(4, (32, 32)), tmp_path / "sg2.pt")
    with pytest.raises(ValueError, match="spaces W\\+, F4, F6, F8, F10; this generator inverts in Z\\+, F2"):
        load_family_predictor(stylegan, G)
    wrong_heads = TinyInvertibilityNet(4, (32, 32), ("Z+", "F4"))
    with pytest.raises(ValueError, match="the predictor's heads are Z\\+, F4; biggan-deep inverts in Z\\+, F2"):
        predicted_latent_map(G, wrong_heads, torch.zeros(1, 3, 32, 32), np.zeros((1, 32, 32), int), 0.02)
    with pytest.raises(ValueError, match="one head per distinct space"):
        TinyInvertibilityNet(4, (32, 32), ("Z+", "Z+"))


def test_cli_invert_sam_picks_the_predictor_up(trained, tmp_path, capsys):
    from sam_editor.cli import main

    G, _, _, root = trained
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.imread(str(root / "work" / "images" / "clutter_00015.png")))
    gen = str(root / "gen")
    args = ["invert", str(photo), "--generator", gen, "--class", str(CLASS), "--method", "sam", "--steps", "4", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    report = json.loads((tmp_path / "a" / "photo_metrics.json").read_text())
    assert report["latent_map"].startswith("predicted invertibility (Z+ error, MSE)"), report["latent_map"]
    assert main([*args, "--latent-map", "measured", "--out", str(tmp_path / "b")]) == 0
    report = json.loads((tmp_path / "b" / "photo_metrics.json").read_text())
    assert report["latent_map"].startswith("measured Z+ error (1 steps)") and "--latent-map measured" in report["latent_map"]
    save_port_format(random_biggan(seed=11), tmp_path / "other")
    capsys.readouterr()
    assert main([*args, "--predictor", str(root / "gen" / PREDICTOR_FILE), "--generator", str(tmp_path / "other")]) == 2
    assert "trained for another biggan-deep generator" in capsys.readouterr().err
    assert main([*args[:3], str(tmp_path / "other"), *args[4:], "--latent-map", "predicted"]) == 2
    assert "--latent-map predicted: no invertibility predictor" in capsys.readouterr().err
    assert main(["train-predictor", "--generator", str(tmp_path)]) == 2
    assert "demo train-predictor" in capsys.readouterr().err


def test_cli_train_predictor_writes_beside_the_weights(tmp_path, capsys):
    from sam_editor.cli import main

    save_port_format(random_biggan(seed=3), tmp_path / "gen")
    code = main(["train-predictor", "--generator", str(tmp_path / "gen"), "--n-images", "4", "--inversion-steps", "2",
                 "--train-steps", "2", "--width", "4", "--work-dir", str(tmp_path / "work"), "--device", "cpu"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    G, _ = load_conditioned(tmp_path / "gen")
    assert load_family_predictor(tmp_path / "gen" / PREDICTOR_FILE, G).meta["targets"]["images"] == 4
    assert sorted(p.name for p in (tmp_path / "work" / "images").iterdir())[:1] == ["clutter_00002.png"]
    assert "wrote" in capsys.readouterr().out


def test_the_window_session_uses_the_predictor_without_a_prelude(trained):
    from sam_editor.session.family_session import FamilySession

    G, meta, _, root = trained
    session = FamilySession(G, meta)
    session.open_image(root / "work" / "images" / "clutter_00015.png")
    phases = []
    inv = session.invert_job("sam", 3, MSE_TAU.default, lambda s, t, p: phases.append(p.phase), lambda: False)
    assert "predicted invertibility" in inv.map_note and set(phases) == {""}  # no 'measuring the map' phase
    assert inv.steps_run == 3 and "F2" in session.latent_map


# ---- the map's and the loader's details, without a trained predictor -------------------------------
@pytest.fixture(scope="module")
def tiny_G():
    from sam_editor.gan.biggan.generator import ClassConditionedBigGAN

    return ClassConditionedBigGAN.for_class(random_biggan(seed=0), CLASS)


def test_each_image_keeps_its_own_photo_box(tiny_G):
    """Two letterboxed images, one shared segmentation: image 0's photo is the bottom 24 rows, image
    1's the right 20 columns; a segment's mean counts only its photo pixels, whatever the padding holds."""
    labels = np.zeros((1, 32, 32), np.int64)
    labels[..., 16:, :] = 1  # top half 0, bottom half 1
    errors = np.full((2, 2, 32, 32), 0.01, np.float32)
    errors[0, 0, :8] = 1.0  # image 0: padding rows 0–7 would put segment 0 above τ
    errors[1, 0, :, :12] = 1.0  # image 1: padding columns 0–11 would put both segments above τ
    valid = torch.ones(2, 1, 32, 32)
    valid[0, :, :8] = 0
    valid[1, :, :, :12] = 0
    masks, means = latent_map_from_errors(tiny_G, errors, labels, 0.02, valid)
    assert not masks["F2"].any()
    np.testing.assert_allclose(means[0][:, 0], [0.01, 0.01], rtol=1e-5)
    np.testing.assert_allclose(means[1][:, 0], [0.01, 0.01], rtol=1e-5)
    errors[1, 0, 16:, 12:] = 0.05  # the photo part of segment 1 in image 1 above τ: only it goes to F2
    masks, _ = latent_map_from_errors(tiny_G, errors, labels, 0.02, valid)
    f2 = masks["F2"][:, 0].numpy()
    assert not f2[0].any() and f2[1, 16:].all() and not f2[1, :16].any()
    with pytest.raises(ValueError, match="segments \\(1, 16, 16\\) do not fit the error maps \\(2, 2, 32, 32\\)"):
        latent_map_from_errors(tiny_G, errors, labels[:, :16, :16], 0.02)


def test_predicted_errors_see_the_image_as_eight_bit_rgb(tiny_G, tmp_path):
    """S_l runs on the uint8 RGB it was trained on: the same maps as `predict` on `tensor_to_rgb8`."""
    from sam_editor.invertibility.predictor import predict

    torch.manual_seed(0)
    model = TinyInvertibilityNet(4, (32, 32), ("Z+", "F2")).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    expected = np.stack([predict(model, tensor_to_rgb8(im)) for im in x])
    np.testing.assert_array_equal(predicted_errors(model, x), expected)


def test_squared_error_map_is_the_channel_mean_on_the_clamped_image():
    from sam_editor.invertibility.family import squared_error_map

    x = torch.tensor([1.5, -1.5, 0.0]).view(1, 3, 1, 1)  # out of range pixels count as ±1
    x_hat = torch.tensor([1.0, -0.5, 0.3]).view(1, 3, 1, 1)
    assert squared_error_map(x, x_hat).shape == (1, 1, 1, 1)
    assert float(squared_error_map(x, x_hat)) == pytest.approx((0 + 0.25 + 0.09) / 3)


def test_family_predictor_loads_to_the_device_asked_and_names_an_unnamed_generator(tiny_G, tmp_path):
    from sam_editor.invertibility.family import predictor_meta

    meta = predictor_meta(tiny_G)  # no generator name
    path = save_predictor(TinyInvertibilityNet(4, (32, 32), ("Z+", "F2")), tmp_path / "p.pt", meta)
    model = load_family_predictor(path, tiny_G, device="meta")
    assert next(model.parameters()).device.type == "meta"
    with pytest.raises(ValueError, match="trained for another biggan-deep generator \\(unnamed\\)"):
        load_family_predictor(path, tiny_G.__class__.for_class(random_biggan(seed=11), CLASS))
    bad = save_predictor(TinyInvertibilityNet(4, (32, 32), ("Z+", "F2")), tmp_path / "q.pt", {**meta, "family": "x"})
    with pytest.raises(ValueError, match="q.pt was not trained for a biggan-deep generator \\(it records family 'x'\\)"):
        load_family_predictor(bad, tiny_G)


def test_targets_name_their_spaces_and_training_refuses_a_mix(tmp_path):
    from sam_editor.gan.family import LatentSpaceInfo
    from sam_editor.invertibility.data import target_done, target_spaces, write_target
    from sam_editor.invertibility.train import train_predictor

    image = np.zeros((8, 8, 3), np.uint8)
    family = (LatentSpaceInfo("Z+", None), LatentSpaceInfo("F2", 2))
    write_target(tmp_path, "a.png", image, np.zeros((2, 8, 8), np.float16), family)
    assert target_spaces(tmp_path / "a.npz") == ("Z+", "F2")
    assert target_done(tmp_path, "a.png", family) and not target_done(tmp_path, "a.png")  # StyleGAN2's: redo
    with pytest.raises(ValueError, match="5 error maps for the 2 spaces Z\\+, F2"):
        write_target(tmp_path, "b.png", image, np.zeros((5, 8, 8), np.float16), family)
    write_target(tmp_path, "b.png", image, np.zeros((5, 8, 8), np.float16))  # StyleGAN2's five
    with pytest.raises(ValueError, match="made for different spaces"):
        train_predictor(tmp_path, tmp_path / "p.pt", 1)


def test_the_measured_error_is_the_rows_space_inversion_on_the_photo(tiny_G):
    """rows_space_error: a Z+ inversion (no Δf) of the letterboxed photo, weighted like the map's
    inversion, and its squared error against the photo clamped to [-1, 1], 0 in the padding."""
    fast = InversionSettings(steps=3, lr=0.05, lambda_lpips=0.0, optimise_size=None)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 3 - 1.5  # some pixels beyond ±1
    valid = torch.ones(1, 1, 32, 32)
    valid[..., :, :10] = 0
    err, res = rows_space_error(tiny_G, x[0], fast, valid=valid)  # one (3, H, W) image is fine
    direct = invert_family(tiny_G, x, "z+", settings=fast, valid=valid)
    assert res.phi.delta_f == {} and res.phi.metadata["method"] == "z+"
    assert res.phi.metadata["steps_run"] == len(res.losses) == 3
    assert torch.equal(res.reconstruction, direct.reconstruction)  # the padding was left out of the fit too
    expected = (direct.reconstruction - x.clamp(-1, 1)).pow(2).mean(dim=1, keepdim=True) * valid
    assert err.shape == (1, 1, 32, 32) and torch.allclose(err, expected)
    assert float(res.reconstruction.abs().max()) <= 1.0


def test_invert_family_weighs_the_prior_as_asked_and_says_what_is_missing(tiny_G):
    fast = InversionSettings(steps=3, lr=0.2, lambda_lpips=0.0, optimise_size=None)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    free = invert_family(tiny_G, x, "z+", settings=fast, lambda_prior=0.0)
    held = invert_family(tiny_G, x, "z+", settings=fast, lambda_prior=1e4)  # the prior pins z to its mode
    assert float(tiny_G.latent_prior(held.phi.w_plus)) < 0.5 * float(tiny_G.latent_prior(free.phi.w_plus))
    with pytest.raises(ValueError, match="^method 'sam' needs a latent map$"):
        invert_family(tiny_G, x, "sam", settings=fast)
