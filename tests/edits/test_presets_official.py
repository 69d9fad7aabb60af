"""Named GANSpace presets and the official SAM `.npy` directions (§3.4)."""

import json

import numpy as np
import pytest
import torch

from sam_editor.edits import official as off
from sam_editor.edits.compose import Edit, EditStack, render_edit
from sam_editor.edits.presets import (
    Preset,
    all_presets,
    builtin_presets,
    delete_user_preset,
    get_preset,
    load_user_presets,
    save_user_preset,
)


def test_builtin_car_presets_are_valid():
    presets = builtin_presets()
    names = [p.name for p in presets]
    assert len(names) == len(set(names)) >= 4
    for p in presets:
        assert 0 <= p.component < 80 and 0 <= p.layers[0] <= p.layers[1] < 16  # car: 16 style rows
        assert p.generator == "stylegan2-car-config-f" and p.source.startswith("GANSpace")
    autumn = get_preset("autumn")
    assert (autumn.component, autumn.layers, autumn.strength) == (50, (8, 8), 20.0)
    assert get_preset("Car - Car model").layers == (0, 8)
    with pytest.raises(KeyError, match="no preset"):
        get_preset("does not exist")


def test_user_presets_round_trip(tmp_path):
    mine = Preset("My wide rims", 7, (4, 6), -2.5)
    path = save_user_preset(mine, tmp_path)
    assert path.parent == tmp_path and json.loads(path.read_text())["layers"] == [4, 6]
    assert load_user_presets(tmp_path) == [mine]
    assert get_preset("my wide rims", tmp_path) == mine
    # Saving under a built-in's name overrides it for this user.
    override = Preset("Car - Autumn", 50, (8, 9), 10.0)
    save_user_preset(override, tmp_path)
    assert get_preset("Car - Autumn", tmp_path) == override
    assert sum(p.name == "Car - Autumn" for p in all_presets(tmp_path)) == 1
    assert delete_user_preset("Car - Autumn", tmp_path)
    assert get_preset("Car - Autumn", tmp_path).strength == 20.0
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        load_user_presets(tmp_path)
    with pytest.raises(ValueError):
        Preset("", 0, (0, 1), 1.0)


def _write_official_folder(root, num_ws, w_dim):
    """The official layout: <weights dir>/edits/cars/csc_<name>.npy, float32 (1, num_ws, w_dim)."""
    folder = root / "edits" / "cars"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    blue = np.zeros((1, num_ws, w_dim), np.float32)
    blue[0, 6:] = rng.standard_normal((num_ws - 6, w_dim))
    np.save(folder / "csc_blue.npy", blue)
    rims = np.zeros((num_ws, w_dim), np.float32)  # the 2-D form is accepted too
    rims[8:10] = rng.standard_normal((2, w_dim))
    np.save(folder / "csc_rims.npy", rims)
    return folder


def test_official_directions_load_and_apply(tiny_G, tiny_phi, tmp_path):
    G, (w, df, masks) = tiny_G, tiny_phi
    weights = tmp_path / "generator.pt"
    weights.write_bytes(b"")  # only its location matters here
    folder = _write_official_folder(tmp_path, G.num_ws, G.w_dim)
    assert off.find_edits_folder(weights) == folder
    found = off.directions_for_generator(G, weights)
    assert sorted(found) == ["blue", "rims"]
    assert found["rims"].rows() == [8, 9] and found["blue"].delta_w.shape == (1, G.num_ws, G.w_dim)
    torch.testing.assert_close(found["blue"].scaled(3.0), 3.0 * found["blue"].delta_w)
    # A multiplier-0 official edit is the reconstruction; multiplier 2 edits the W+ region.
    rec = render_edit(G, w, df, masks, EditStack())
    stack = EditStack([Edit("rims", found["rims"].delta_w, 0.0, kind="official")])
    torch.testing.assert_close(render_edit(G, w, df, masks, stack), rec, rtol=0, atol=0)
    stack.set_strength("rims", 2.0)
    assert stack.earliest_row() == 8
    assert (render_edit(G, w, df, masks, stack) - rec)[..., :28, 40:].abs().mean() > 1e-3


def test_official_direction_shape_errors(tiny_G, tmp_path):
    G = tiny_G
    bad = tmp_path / "csc_wrong.npy"
    np.save(bad, np.zeros((1, 16, 512), np.float32))  # the real car file does not fit a tiny G
    with pytest.raises(off.DirectionError, match=r"\(1, 16, 512\).*expected \(10, 32\) or \(1, 10, 32\)"):
        off.load_direction_for(G, bad)
    np.save(tmp_path / "csc_int.npy", np.zeros((10, 32), np.int64))
    with pytest.raises(off.DirectionError, match="float"):
        off.load_direction(tmp_path / "csc_int.npy", 10, 32)
    nan = np.zeros((10, 32), np.float32)
    nan[0, 0] = np.nan
    np.save(tmp_path / "csc_nan.npy", nan)
    with pytest.raises(off.DirectionError, match="NaN"):
        off.load_direction(tmp_path / "csc_nan.npy", 10, 32)
    (tmp_path / "csc_text.npy").write_text("not numpy")
    with pytest.raises(off.DirectionError, match="readable"):
        off.load_direction(tmp_path / "csc_text.npy", 10, 32)
    with pytest.raises(off.DirectionError):
        off.discover_directions(tmp_path, G)
    assert off.discover_directions(tmp_path, G, strict=False) == {}
    assert off.direction_name("x/csc_model_t.npy") == "model_t" and off.direction_name("mine.npy") == "mine"
