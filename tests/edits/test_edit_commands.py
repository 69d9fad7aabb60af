"""`sam-editor edit` / `ganspace` / `edit-presets` (§3.4 from the command line)."""

import argparse
import types

import cv2
import numpy as np
import pytest
import torch

from sam_editor.edits import clip_models, commands, styleclip
from sam_editor.edits import ganspace as gs
from sam_editor.edits.compose import Edit, EditStack, ganspace_edit, render_edit
from sam_editor.edits.official import load_direction_for
from sam_editor.gan.native import save_generator
from sam_editor.inversion.phi import Phi


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_parse_ganspace_arg():
    assert commands.parse_ganspace_arg("3:1.5", None, 10) == (3, 1.5, (0, 9))
    assert commands.parse_ganspace_arg("3:-2", "0-5", 10) == (3, -2.0, (0, 5))
    assert commands.parse_ganspace_arg("4:2@7-8", "0-5", 10) == (4, 2.0, (7, 8))
    with pytest.raises(ValueError, match="COMPONENT:STRENGTH"):
        commands.parse_ganspace_arg("x:1", None, 10)
    assert commands._split_value("C:/dir/a.npy:2.5", 1.0) == ("C:/dir/a.npy", 2.5)
    assert commands._split_value("rims", 1.0) == ("rims", 1.0)


def test_edit_command_writes_the_stack_render(tiny_G, tiny_phi, tmp_path, capsys):
    G, (w, df, masks) = tiny_G, tiny_phi
    weights = tmp_path / "g.pt"
    save_generator(weights, G)
    phi = tmp_path / "phi.pt"
    # Masks given at output size and keyed "F<i>": the loader brings them to F_i's size.
    out_masks = {f"F{i}": torch.nn.functional.interpolate(m, size=(64, 64), mode="nearest") for i, m in masks.items()}
    torch.save({"w_plus": w, "delta_f": {f"F{i}": v for i, v in df.items()}, "masks": out_masks}, phi)
    np.save(tmp_path / "dir.npy", np.full((G.num_ws, G.w_dim), 0.05, np.float32))
    out = tmp_path / "edited.png"
    argv = [
        "edit", str(phi), "--generator", str(weights), "--ganspace", "1:2.0", "--layers", "0-3",
        "--ganspace", "0:-1@6-9", "--direction", f"{tmp_path / 'dir.npy'}:2", "--out", str(out),
        "--n-samples", "600", "--components", "4",
    ]  # fmt: skip
    assert _run(argv) == 0
    assert "changes from style row 0" in capsys.readouterr().out
    img = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert img.shape == (64, 64, 3)
    # The same stack rendered in-process, with the components the command cached next to the weights.
    comps = gs.load_or_compute(G, weights_path=weights, n_samples=600, n_components=4)
    w2, df2, m2 = commands.load_phi(G, phi)
    stack = EditStack([
        ganspace_edit(G, comps, 1, (0, 3), 2.0),
        ganspace_edit(G, comps, 0, (6, 9), -1.0),
        Edit("dir", load_direction_for(G, tmp_path / "dir.npy").delta_w, 2.0, kind="official"),
    ])  # fmt: skip
    ref = render_edit(G, w2, df2, m2, stack)
    ref = ((ref[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(img, ref)
    rec = render_edit(G, w, df, masks, EditStack())
    rec = ((rec[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(img.astype(int) - rec).mean() > 1.0  # the edit did something

    # The inversion's own φ format (.npz here) gives the same result.
    phi_npz = tmp_path / "phi.npz"
    Phi(torch.cat([w2, w2]), {i: torch.cat([v, v]) for i, v in df2.items()}, m2).save(phi_npz)
    out2 = tmp_path / "edited2.png"
    argv2 = [phi_npz if a == str(phi) else out2 if a == str(out) else a for a in argv] + ["--index", "1"]
    assert _run([str(a) for a in argv2]) == 0
    assert np.array_equal(cv2.imread(str(out2)), cv2.imread(str(out)))

    # Wrong-shaped direction: a clear error naming the shapes.
    np.save(tmp_path / "bad.npy", np.zeros((1, 16, 512), np.float32))
    capsys.readouterr()
    argv = [
        "edit",
        str(phi),
        "--generator",
        str(weights),
        "--direction",
        f"{tmp_path / 'bad.npy'}:1",
        "--out",
        str(out),
    ]
    assert _run(argv) == 2
    assert "(1, 16, 512)" in capsys.readouterr().err
    assert _run(["edit", str(phi), "--generator", str(weights), "--preset", "no such", "--out", str(out)]) == 2
    assert "no preset named 'no such'" in capsys.readouterr().err


def test_ganspace_and_presets_commands(tiny_G, tmp_path, capsys):
    weights = tmp_path / "g.pt"
    save_generator(weights, tiny_G)
    assert (
        _run(["ganspace", "--generator", str(weights), "--n-samples", "500", "--components", "6", "--show", "3"]) == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("PC0")
    assert len(list(tmp_path.glob("g.ganspace-*.npz"))) == 1
    user = tmp_path / "presets"
    assert _run(["edit-presets", "--user-presets", str(user), "--save", "Mine", "2:1.5@1-3"]) == 0
    capsys.readouterr()
    assert _run(["edit-presets", "--user-presets", str(user)]) == 0
    listing = capsys.readouterr().out
    assert "Car - Autumn" in listing and "Mine" in listing


def test_text_edit_is_delegated_to_styleclip(tiny_G, tiny_phi, tmp_path, monkeypatch):
    """--text hands φ and the prompt to sam_editor.edits.styleclip.text_edit (owned elsewhere);
    here it is replaced by a stub that returns a fixed δw+."""
    G, (w, df, masks) = tiny_G, tiny_phi
    weights, phi, out = tmp_path / "g.pt", tmp_path / "phi.pt", tmp_path / "t.png"
    save_generator(weights, G)
    torch.save({"w_plus": w, "delta_f": df, "masks": masks}, phi)
    delta = torch.zeros(1, G.num_ws, G.w_dim)
    delta[:, 7:] = 0.5
    seen = {}

    def fake_text_edit(G_, w_plus, delta_f, masks_, prompt, clip, **kw):
        seen.update(prompt=prompt, clip=clip, rows=w_plus.shape, spaces=sorted(masks_), kw=kw)
        return types.SimpleNamespace(delta_w=delta)

    monkeypatch.setattr(styleclip, "text_edit", fake_text_edit)
    monkeypatch.setattr(clip_models, "load_clip", lambda which: f"clip:{which}")
    argv = ["edit", str(phi), "--generator", str(weights), "--text", "a red car", "--text-strength", "2",
            "--text-steps", "5", "--clip", "demo", "--out", str(out)]  # fmt: skip
    assert _run(argv) == 0
    assert seen == {"prompt": "a red car", "clip": "clip:demo", "rows": w.shape, "spaces": [4, 6], "kw": {"steps": 5}}
    ref = render_edit(G, w, df, masks, EditStack([Edit("text", delta, 2.0, kind="text")]))
    ref = ((ref[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), ref)


@pytest.fixture
def saved(tiny_G, tiny_phi, tmp_path):
    """(generator file, φ file) of the tiny generator and φ."""
    w, df, masks = tiny_phi
    weights, phi = tmp_path / "g.pt", tmp_path / "phi.pt"
    save_generator(weights, tiny_G)
    torch.save({"w_plus": w, "delta_f": df, "masks": masks}, phi)
    return weights, phi


def test_text_layers_restrict_the_rows_the_text_edit_may_change(tiny_G, saved, tmp_path, monkeypatch, capsys):
    G, (weights, phi) = tiny_G, saved
    seen = {}

    def fake_text_edit(G_, w_plus, delta_f, masks_, prompt, clip, **kw):
        seen.update(kw)
        return types.SimpleNamespace(delta_w=torch.zeros(1, G.num_ws, G.w_dim))

    monkeypatch.setattr(styleclip, "text_edit", fake_text_edit)
    monkeypatch.setattr(clip_models, "load_clip", lambda which: which)
    argv = ["edit", str(phi), "--generator", str(weights), "--text", "a blue car", "--text-layers", "2-4",
            "--out", str(tmp_path / "t.png")]  # fmt: skip
    assert _run(argv) == 0
    assert seen["layers"] == [2, 3, 4]
    bad = ["edit", str(phi), "--generator", str(weights), "--text", "a blue car", "--text-layers", f"0-{G.num_ws}",
           "--out", str(tmp_path / "u.png")]  # fmt: skip
    assert _run(bad) != 0
    assert "not within the style rows" in capsys.readouterr().err


def test_region_keeps_the_rest_of_the_image_and_reaches_the_text_edit(tiny_G, tiny_phi, saved, tmp_path, monkeypatch, capsys):
    G, (w, df, masks) = tiny_G, tiny_phi
    weights, phi = saved
    mask = np.zeros((128, 128), np.uint8)  # drawn at twice the frame size: resized to 64×64
    mask[:64, 64:] = 255  # the top-right quarter
    cv2.imwrite(str(tmp_path / "region.png"), mask)
    seen = {}
    gen = torch.Generator()

    def fake_text_edit(G_, w_plus, delta_f, masks_, prompt, clip, **kw):
        seen.update(spaces=sorted(masks_), l2=kw.get("l2_lambda"))
        return types.SimpleNamespace(delta_w=0.8 * torch.randn((1, G.num_ws, G.w_dim), generator=gen))

    monkeypatch.setattr(styleclip, "text_edit", fake_text_edit)
    monkeypatch.setattr(clip_models, "load_clip", lambda which: which)
    base = ["edit", str(phi), "--generator", str(weights), "--text", "a blue car"]
    gen.manual_seed(5)
    assert _run([*base, "--out", str(tmp_path / "all.png")]) == 0
    gen.manual_seed(5)  # the same δ again
    assert _run([*base, "--region", str(tmp_path / "region.png"), "--out", str(tmp_path / "region_out.png")]) == 0
    assert seen["spaces"] == [4, 6, 8]  # the optimisation saw the region held in every feature space
    assert seen["l2"] == pytest.approx(0.008 * 0.25)  # λ_L2 scaled by the quarter of the frame left to edit
    rec = render_edit(G, w, df, masks, EditStack())
    rec = cv2.cvtColor(((rec[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy(), cv2.COLOR_RGB2BGR)
    free = np.abs(cv2.imread(str(tmp_path / "all.png")).astype(int) - rec).mean(-1)
    held = np.abs(cv2.imread(str(tmp_path / "region_out.png")).astype(int) - rec).mean(-1)
    assert held[4:28, 36:60].mean() > 0.7 * free[4:28, 36:60].mean()
    assert held[40:, :24].mean() < 0.2 * free[40:, :24].mean()
    assert _run([*base, "--region", str(tmp_path / "region.png"), "--text-l2", "0.05", "--out", str(tmp_path / "y.png")]) == 0
    assert seen["l2"] == 0.05
    cv2.imwrite(str(tmp_path / "empty.png"), np.zeros((64, 64), np.uint8))
    assert _run([*base, "--region", str(tmp_path / "empty.png"), "--out", str(tmp_path / "x.png")]) == 2
    assert "mask is empty" in capsys.readouterr().err
