"""Real photos at real size: the whole frame in (letterbox, no loss or segment on the padding),
the photo out at its own resolution (blend-back), the recipe inside the PNG and `apply` on a
folder, one image reader for CLI and window, clean CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from bundle_factory import make_bundle
from PIL import Image

from sam_editor import cli
from sam_editor.gan.layers import LayerSpace
from sam_editor.imageio import png_text
from sam_editor.session import EditSpec, Problem, Session, compute_ganspace, predict_latent_map, render, run_inversion
from sam_editor.session.recipe import RECIPE_KEY, apply_recipe, read_recipe


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("weights")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM_EDITOR_CACHE", str(folder / "cache"))
    yield make_bundle(folder)
    mp.undo()


def never() -> bool:
    return False


def quiet(*_a) -> None:  # noqa: ANN002
    return None


def photo(path: Path, h: int, w: int, seed: int = 0) -> Path:
    """A photo-like scene with marked ends: a red strip along the left and top edges, a blue
    strip along the right and bottom edges (a centre crop would cut one pair off)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (90, 150, 230)
    img[h // 2 :] = (110, 110, 115)
    cv2.rectangle(img, (w // 4, h // 3), (w * 3 // 4, h * 2 // 3), (200, 200, 40), -1)
    img = np.clip(img.astype(int) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    k = max(2, min(h, w) // 12)
    img[:, :k] = img[:k] = (230, 20, 20)
    img[:, -k:] = img[-k:] = (20, 20, 230)
    Image.fromarray(img).save(path)
    return path


def opened(bundle, path: Path) -> Session:  # noqa: ANN001
    s = Session(bundle)
    assert not isinstance(s.open_image(path), Problem)
    s.apply_latent_map(predict_latent_map(bundle, s.work, s.tau, quiet, never, box=s.placement.box))
    return s


@pytest.mark.parametrize(("h", "w"), [(90, 120), (120, 90)])  # 4:3 landscape and 3:4 portrait
def test_photos_keep_their_whole_frame(bundle, tmp_path, h, w) -> None:  # noqa: ANN001
    s = opened(bundle, photo(tmp_path / "p.png", h, w))
    t, left, bh, bw = s.placement.box
    assert s.placement.frame == s.frame_size == (64, 64)
    assert (bh, bw) == ((48, 64) if w > h else (64, 48))  # the photo's aspect, as large as fits
    inner = s.work[t : t + bh, left : left + bw].astype(int)
    red, blue = np.array([230, 20, 20]), np.array([20, 20, 230])
    # all four marked edges are still in the frame
    for edge in (inner[:, 0], inner[0], inner[:, -1], inner[-1]):
        assert min(np.abs(edge - red).sum(1).mean(), np.abs(edge - blue).sum(1).mean()) < 60
    assert np.abs(inner[:, 0] - red).sum(1).mean() < 60 and np.abs(inner[:, -1] - blue).sum(1).mean() < 60
    # the latent map: no segment lives only in the padding, padding joins the nearest segment
    lm = s.latent_map
    photo_mask = s.photo_mask()
    assert set(np.unique(lm.labels[photo_mask])) == set(range(lm.num_segments))
    if w > h:
        assert np.array_equal(lm.labels[0], lm.labels[t]) and np.array_equal(lm.labels[-1], lm.labels[t + bh - 1])
    # the overlay leaves the padding clear, a click there picks nothing
    assert (s.overlay_rgba()[~photo_mask, 3] == 0).all()
    pad = np.argwhere(~photo_mask)[0]
    assert s.segment_at(*pad) is None and s.segment_at(t + bh // 2, left + bw // 2) is not None


def test_padding_does_not_shift_a_segments_invertibility(bundle, tmp_path) -> None:  # noqa: ANN001
    """§3.1's per-segment mean is over photo pixels only: the same photo letterboxed into the
    frame gets the same segment means as the predictor's maps averaged over the box."""
    from sam_editor.invertibility.predictor import predict

    s = opened(bundle, photo(tmp_path / "p.png", 90, 120))
    lm = s.latent_map
    errors = predict(bundle.predictor, s.work)
    rows, cols = s.placement.slices()
    for k in range(lm.num_segments):
        sel = lm.labels[rows, cols] == k
        np.testing.assert_allclose(lm.segment_errors[k], errors[:, rows, cols][:, sel].mean(1), rtol=1e-5)


def test_full_size_export_and_recipe_round_trip(bundle, tmp_path) -> None:  # noqa: ANN001
    s = opened(bundle, photo(tmp_path / "p.png", 180, 240))
    lm = s.latent_map
    s.set_overrides({0: LayerSpace.F6})
    inv = run_inversion(bundle, s.work, s.latent_map, "sam", 3, quiet, never, valid=s.photo_mask())
    s.apply_inversion(inv)
    s.ganspace = compute_ganspace(bundle, quiet, never)
    region = [k for k in range(lm.num_segments) if k != 0][:2]
    s.set_edit_region(region)
    key = s.add_direction(torch.randn(1, s.num_ws, bundle.G.w_dim) * 0.5)
    s.set_edits([
        EditSpec("ganspace", "PC 2", 3.0, (0, s.num_ws - 1), component=2),
        EditSpec("styleclip", "“a blue car”", 1.0, (0, s.num_ws - 1), text="a blue car", key=key),
    ])  # fmt: skip
    s.apply_render(render(s.render_request()))
    out = s.export_png(tmp_path / "edited.png")
    assert out == tmp_path / "edited.png"
    back = np.asarray(Image.open(out).convert("RGB"))
    assert back.shape == s.source.rgb.shape == (180, 240, 3)
    # outside the edit region (grown by the feather), the photo comes back bit for bit
    outside = cv2.erode((~s.region_mask()).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    outside = cv2.resize(outside[s.placement.slices()].astype(np.uint8), (240, 180), interpolation=cv2.INTER_NEAREST) > 0
    assert outside.any() and np.array_equal(back[outside], s.source.rgb[outside])
    assert np.abs(back.astype(int) - s.source.rgb)[~outside].mean() > 0.5
    # the recipe travels in the PNG's text chunk
    assert RECIPE_KEY in png_text(out)
    r = read_recipe(out)
    assert r.tau == pytest.approx(s.tau) and r.method == "sam" and r.steps == 3 and r.full_size
    assert r.data["generator"]["sha256"] == bundle.file_sha256("generator")
    assert r.data["predictor"]["sha256"] == bundle.file_sha256("predictor") and r.data["app_version"]
    ((point, space),) = r.overrides()
    assert space is LayerSpace.F6 and s.segment_at(*s.placement.photo_to_frame(*point)) == 0
    assert sorted(s.segment_at(*s.placement.photo_to_frame(*p)) for p in r.region_points()) == sorted(region)
    kinds = [e["kind"] for e in r.edits()]
    assert kinds == ["ganspace", "styleclip"] and r.edits()[0]["component"] == 2
    # … and re-running it on the same photo rebuilds the same state and the same picture
    again = apply_recipe(bundle, r, s.source)
    assert again.latent_map.overrides == {0: LayerSpace.F6} and again.edit_region == s.edit_region
    assert torch.equal(again.directions[again.edits[1].key], s.directions[key])
    assert np.array_equal(again.edited, s.edited)
    assert again.export_png(tmp_path / "again.png") == tmp_path / "again.png"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png").convert("RGB")), back)
    # generator-only export: the photo's box of the generator image
    gen = s.export_png(tmp_path / "gen.png", full_size=False)
    assert np.array_equal(np.asarray(Image.open(gen).convert("RGB")), s.edited[s.placement.slices()])
    assert not read_recipe(gen).full_size


def test_apply_a_recipe_to_a_folder_with_a_corrupt_file(bundle, tmp_path, capsys) -> None:  # noqa: ANN001
    s = opened(bundle, photo(tmp_path / "first.png", 90, 120))
    s.apply_inversion(run_inversion(bundle, s.work, s.latent_map, "sam", 2, quiet, never, valid=s.photo_mask()))
    key = s.add_direction(torch.randn(1, s.num_ws, bundle.G.w_dim) * 0.5)
    s.set_edits([EditSpec("direction", "blue", 1.0, (0, s.num_ws - 1), key=key)])
    s.apply_render(render(s.render_request()))
    recipe = s.export_png(tmp_path / "recipe.png")
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(folder / "a.png", 90, 120, seed=1)
    photo(folder / "c.jpg", 160, 120, seed=2)
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    rc = cli.main(["apply", str(recipe), str(folder), "--out", str(out), "--steps", "1", "--generator", str(bundle.generator_path)])
    assert rc == 1  # something failed …
    report = json.loads((out / "apply_report.json").read_text())
    assert report["done"] == 2 and report["failed"] == 1  # … and everything else was done
    bad = [f for f in report["files"] if f["status"] != "ok"]
    assert [f["file"] for f in bad] == ["b.png"] and "b.png" in bad[0]["error"]
    assert "b.png" in capsys.readouterr().out
    for name, size in (("a.png", (90, 120)), ("c.png", (160, 120))):
        img = Image.open(out / name)
        assert img.size[::-1] == size and RECIPE_KEY in img.text  # full size, recipe inside
    # a file that is no recipe: one line, exit 2
    assert cli.main(["apply", str(folder / "a.png"), str(folder), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: a.png holds no SAM Editor recipe")


def exif_rotated_jpeg(path: Path) -> Path:
    """A JPEG stored landscape (40×30) with EXIF orientation 6: viewers show it portrait."""
    img = np.zeros((30, 40, 3), np.uint8)
    img[:, :20] = (220, 30, 30)
    img[:, 20:] = (30, 30, 220)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(path, exif=exif, quality=95)
    return path


def test_exif_rotated_jpeg_is_the_same_array_in_cli_and_window(bundle, tmp_path) -> None:  # noqa: ANN001
    from sam_editor.inversion.images import load_photo
    from sam_editor.invertibility.data import load_image as training_image

    path = exif_rotated_jpeg(tmp_path / "rotated.jpg")
    s = Session(bundle)
    src = s.open_image(path)
    assert src.rgb.shape == (40, 30, 3)  # upright: portrait
    x, place = load_photo(path, s.frame_size)
    cli_rgb = ((x.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    assert place == s.placement and np.array_equal(cli_rgb, s.work)
    assert np.array_equal(training_image(path), src.rgb)


def test_refused_pickle_in_invert_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    cmd = f"touch {marker}".encode()
    evil.write_bytes(b"\x80\x02cos\nsystem\n(X" + len(cmd).to_bytes(4, "little") + cmd + b"tR.")
    img = photo(tmp_path / "p.png", 30, 40)
    assert cli.main(["invert", str(img), "--generator", str(evil), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: evil.pkl") and "\n" not in err and "Traceback" not in err
    assert not marker.exists()
    assert cli.main(["invert", str(img), "--generator", str(tmp_path / "missing.pt")]) == 2
    assert "no such generator file" in capsys.readouterr().err


def test_invert_defaults_to_the_demo_bundle(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SAM_EDITOR_CACHE", str(tmp_path / "cache"))
    img = photo(tmp_path / "car.png", 96, 128)
    rc = cli.main(["invert", str(img), "--steps", "2", "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert rc == 0
    report = json.loads((tmp_path / "o" / "car_metrics.json").read_text())
    assert report["method"] == "sam" and report["steps"] == 2
    assert report["placement"] == {"frame": [128, 128], "box": [16, 0, 96, 128], "photo": [96, 128]}
    rec = Image.open(tmp_path / "o" / "car_reconstruction.png")
    assert rec.size == (128, 96)  # the photo's box of the frame, no padding
