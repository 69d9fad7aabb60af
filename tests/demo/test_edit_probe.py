import numpy as np
import torch

from sam_editor.demo import carworld
from sam_editor.demo.edit_probe import foreground_mask, layer_ranges, name_presets, probe_components, read_out
from sam_editor.edits.ganspace import compute_components
from sam_editor.gan.networks import Generator, GeneratorConfig


def test_foreground_proxy_finds_the_rendered_car():
    rng = np.random.default_rng(7)
    ious = []
    for _ in range(30):
        image, truth = carworld.render_with_mask(carworld.sample_params(rng), 128)
        m = foreground_mask(image)
        ious.append((m & truth).sum() / max((m | truth).sum(), 1))
    assert np.mean(ious) > 0.65, np.mean(ious)


def test_read_out_tracks_a_moved_car():
    rng = np.random.default_rng(3)
    p = carworld.sample_params(rng)
    image, truth = carworld.render_with_mask(p, 128)
    shifted = np.roll(image, 12, axis=1)  # same scene, car 12 px to the right (borders: same background)
    a, b = read_out(image), read_out(shifted)
    assert abs((b["cx"] - a["cx"]) * 128 - 12) < 3
    assert abs(a["area"] - truth.mean()) < 0.5 * truth.mean()


def test_probe_measures_nothing_at_zero_strength_and_something_otherwise():
    torch.manual_seed(0)
    G = Generator(
        GeneratorConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
    ).eval()
    comps = compute_components(G, n_samples=2000, n_components=4)
    zero = probe_components(G, comps, [0, 1], strength=0.0, n=4)
    assert all(r["mean_abs_pixel_change"] == 0 and r["car_area_change_pct"] == 0 for r in zero)
    some = probe_components(G, comps, [0], strength=3.0, n=4)
    assert some[0]["mean_abs_pixel_change"] > 0


def _row(k, sky=(0, 0, 0), car=(0, 0, 0), area=0.0, dx=0.0):
    return {
        "component": k,
        "sky_rgb_change": list(sky),
        "car_rgb_change": list(car),
        "car_area_change_pct": area,
        "car_centre_dx_px": dx,
    }


def test_presets_are_named_after_the_largest_clear_effect_and_signed_to_give_it():
    rows = [
        _row(0, sky=(-5, 48, 72)),  # sky turns blue at +σ
        _row(1, car=(-31, 4, 2)),  # car loses red at +σ → "redder" needs −σ
        _row(2, area=-6.0, car=(5, 5, 0)),  # smaller at +σ
        _row(3, dx=9.0),
        _row(4, car=(30, 28, 25)),  # all channels together
        _row(5, sky=(3, 2, 1), area=1.0),  # nothing clear
        _row(6, car=(-7, -33, -34)),  # G and B fall together at +σ: cyan at −σ, not "bluer"
    ]
    presets = name_presets(rows, "abc", num_ws=12, strength=2.0)
    by_pc = {p.component: p for p in presets}
    assert set(by_pc) == {0, 1, 2, 3, 4, 6}
    assert by_pc[0].name == "Demo - Sky bluer (PC 0)" and by_pc[0].strength == 2.0
    assert by_pc[1].name == "Demo - Car redder (PC 1)" and by_pc[1].strength == -2.0
    assert by_pc[2].name == "Demo - Car bigger (PC 2)" and by_pc[2].strength == -2.0
    assert by_pc[3].name == "Demo - Car moves right (PC 3)" and by_pc[3].strength == 2.0
    assert by_pc[4].name == "Demo - Car brighter (PC 4)"
    assert by_pc[6].name == "Demo - Car more cyan (PC 6)" and by_pc[6].strength == -2.0
    assert all(p.generator == "abc" and p.layers == (0, 11) for p in presets)


def _at(row: dict, layers: tuple[int, int]) -> dict:
    return {**row, "layers": list(layers)}


def test_presets_pick_the_layer_range_where_the_effect_is_clean():
    rows = [
        # PC 0: on every row it recolours the sky about as much as it moves the car (entangled);
        # on the coarse rows it only moves the car; on the fine rows nothing clear.
        _at(_row(0, sky=(-14, 37, 64), dx=-12.0), (0, 11)),
        _at(_row(0, dx=-14.8, car=(-7, -5, -3)), (0, 1)),
        _at(_row(0, car=(12, 7, 2)), (4, 11)),
        # PC 1 and PC 4 both turn the sky blue, cleanly; one "Sky bluer" slider: the larger.
        _at(_row(1, sky=(2, 30, 50)), (0, 11)),
        _at(_row(4, sky=(2, 20, 30)), (0, 11)),
    ]
    presets = name_presets(rows, "abc", num_ws=12, strength=2.0)
    assert [(p.name, p.component, p.layers, p.strength) for p in presets] == [
        ("Demo - Car moves right (PC 0, layers 0-1)", 0, (0, 1), -2.0),
        ("Demo - Sky bluer (PC 1)", 1, (0, 11), 2.0),
    ]
    assert "threshold" in presets[0].source


def test_layer_ranges_fit_the_generator():
    assert layer_ranges(12) == [(0, 11), (0, 1), (1, 2), (0, 3), (2, 5), (4, 11)]
    assert layer_ranges(4) == [(0, 3), (0, 1), (1, 2)]  # rows 4+ do not exist at this depth; (0, 3) is "all"


def test_probe_on_a_layer_range_changes_only_those_rows():
    torch.manual_seed(0)
    G = Generator(
        GeneratorConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
    ).eval()
    comps = compute_components(G, n_samples=2000, n_components=4)
    row = probe_components(G, comps, [0], strength=3.0, n=4, layers=(0, 1))[0]
    assert row["layers"] == [0, 1] and row["mean_abs_pixel_change"] > 0
    assert probe_components(G, comps, [0], strength=3.0, n=4)[0]["layers"] == [0, G.num_ws - 1]
