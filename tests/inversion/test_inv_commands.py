"""Image loading and the `invert` / `eval` CLI on a tiny native generator file."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from sam_editor.gan.native import save_generator
from sam_editor.inversion.images import ImageLoadError, load_image, load_photo, psnr, read_rgb, save_png
from sam_editor.inversion.phi import Phi
from sam_editor.session import invert_commands as commands

from .conftest import sample_image


def test_read_rgb_handles_layouts(tmp_path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0] = 255  # red
    cv2.imwrite(str(tmp_path / "c.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert np.allclose(read_rgb(tmp_path / "c.png")[0, 0], [1, 0, 0])
    cv2.imwrite(str(tmp_path / "g16.png"), np.full((10, 12), 65535 // 2, np.uint16))
    g = read_rgb(tmp_path / "g16.png")  # the app's one reader works in 8 bits
    assert g.shape == (10, 12, 3) and np.allclose(g, 0.5, atol=1 / 255)
    bgra = np.zeros((10, 12, 4), np.uint8)
    bgra[..., 3] = 0  # fully transparent → white
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    assert np.allclose(read_rgb(tmp_path / "a.png"), 1.0)
    (tmp_path / "junk.png").write_bytes(b"no image here")
    with pytest.raises(ImageLoadError, match="not an image"):
        read_rgb(tmp_path / "junk.png")
    with pytest.raises(ImageLoadError, match="does not exist"):
        read_rgb(tmp_path / "missing.png")
    # The whole photo is letterboxed into the generator's (H, W): a 12×10 red photo fills a
    # 32×32 frame in rows 2…28 (edge-repeated padding), and the placement says where.
    x, place = load_photo(tmp_path / "c.png", (32, 32))
    assert x.shape == (3, 32, 32) and float(x[0].mean()) == pytest.approx(1.0)
    assert place.photo == (10, 12) and place.box == (2, 0, 27, 32)
    assert load_image(tmp_path / "c.png", (32, 32)).shape == (3, 32, 32)


@pytest.fixture()
def gen_file(G, tmp_path):
    path = tmp_path / "tiny.pt"
    save_generator(path, G)
    return path


@pytest.fixture()
def image_dir(G, tmp_path):
    folder = tmp_path / "images"
    for i, seed in enumerate((41, 42)):
        save_png(folder / f"img{i}.png", sample_image(G, seed)[0])
    return folder


def test_invert_command(gen_file, image_dir, tmp_path, capsys):
    ranks = np.zeros((32, 32), np.uint8)
    ranks[:, 16:] = 2  # F6 is a 32-px G's last block: Δf_6 acts through that block's toRGB
    ranks[:, 24:] = 1
    np.save(tmp_path / "map.npy", ranks)
    out = tmp_path / "out"
    rc = commands.main(["invert", str(image_dir / "img0.png"), "--generator", str(gen_file), "--method", "sam",
                        "--latent-map", str(tmp_path / "map.npy"), "--steps", "4", "--out", str(out)])  # fmt: skip
    assert rc == 0
    report = json.loads((out / "img0_metrics.json").read_text())
    assert {"psnr", "lpips", "perceptual", "perceptual_metric", "seconds"} <= set(report)
    assert report["lpips"] is None and "LPIPS-VGG backbone missing" in report["perceptual_metric"]
    phi = Phi.load(out / "img0_phi.pt")
    assert set(phi.delta_f) == {4, 6} and phi.metadata["generator_id"].startswith("file-")
    rec = load_image(out / "img0_reconstruction.png", (32, 32))
    G_file = commands.load_generator_file(str(gen_file), "cpu")[0]
    assert float(psnr(rec[None], phi.render(G_file))) > 40  # the PNG is φ's image, 8-bit quantised
    assert "psnr" in capsys.readouterr().out


def test_invert_command_errors(gen_file, image_dir, tmp_path, capsys):
    args = ["invert", str(image_dir / "img0.png"), "--generator", str(gen_file), "--steps", "2", "--out", str(tmp_path)]
    assert commands.main([*args, "--method", "sam"]) == 2
    assert "--latent-map" in capsys.readouterr().err
    assert commands.main([*args, "--method", "sam", "--latent-map", "auto"]) == 2
    assert "--predictor" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"xx")
    bad = ["invert", str(tmp_path / "bad.png"), "--generator", str(gen_file), "--method", "w"]
    assert commands.main(bad) == 2
    assert "not an image" in capsys.readouterr().err
    rc = commands.main([*args, "--method", "pti", "--phi-format", "npz"])
    assert rc == 0 and (tmp_path / "img0_pti_generator.pt").is_file() and (tmp_path / "img0_phi.npz").is_file()


def test_eval_command_table(gen_file, image_dir, tmp_path, capsys):
    maps = tmp_path / "maps"
    maps.mkdir()
    for i in range(2):
        ranks = np.zeros((32, 32), np.uint8)
        ranks[8:16] = 1
        cv2.imwrite(str(maps / f"img{i}.png"), ranks)
    out = tmp_path / "eval"
    rc = commands.main(["eval", str(image_dir), "--generator", str(gen_file), "--methods", "w,wplus,sam",
                        "--steps", "3", "--latent-maps", str(maps), "--out", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "| Method |" in text and "StyleGAN2 (W+)" in text and "SAM - optimization (ours)" in text
    summary = json.loads((out / "eval.json").read_text())
    assert [r["method"] for r in summary["rows"]] == ["w", "wplus", "sam"]
    assert all(r["images"] == 2 and r["psnr"] > 0 for r in summary["rows"])
    assert len(summary["per_image"]) == 6 and (out / "eval.md").read_text().startswith("| Method |")
    # Without latent maps or a predictor, SAM's row explains what is missing.
    rc = commands.main(["eval", str(image_dir), "--generator", str(gen_file), "--methods", "sam", "--steps", "2",
                        "--out", str(out)])  # fmt: skip
    assert rc == 1 and "--predictor" in capsys.readouterr().err


def test_registered_with_the_main_cli():
    from sam_editor.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["invert", "x.png", "--generator", "g.pt", "--method", "wplus"])
    assert args.func is commands.cmd_invert
