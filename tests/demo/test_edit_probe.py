import numpy as np
import torch

from sam_editor.demo import carworld
from sam_editor.demo.edit_probe import foreground_mask, probe_components, read_out
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
