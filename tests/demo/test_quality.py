import torch

from sam_editor.demo.quality import frechet_distance, kernel_inception_distance, measure
from sam_editor.gan.networks import Generator, GeneratorConfig


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    g = torch.Generator().manual_seed(0)
    n, d = 20000, 4
    sa, sb = torch.tensor([1.0, 2.0, 0.5, 1.0]), torch.tensor([1.5, 1.0, 0.5, 3.0])
    mu = torch.tensor([1.0, 0.0, -2.0, 0.0])
    a = torch.randn(n, d, generator=g) * sa
    b = torch.randn(n, d, generator=g) * sb + mu
    expected = float(mu.square().sum() + (sa - sb).square().sum())  # 5 + 0.25 + 1 + 0 + 4
    assert abs(frechet_distance(a, b) - expected) < 0.15
    assert frechet_distance(a, a) < 1e-6


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2000, 8, generator=g), torch.randn(2000, 8, generator=g)
    same = kernel_inception_distance(a, b, subset_size=500)
    shifted = kernel_inception_distance(a, b + 0.5, subset_size=500)
    more = kernel_inception_distance(a, b + 1.0, subset_size=500)
    assert abs(same) < 0.02 < shifted < more


def test_measure_runs_on_a_tiny_generator_and_real_floor_is_below_it():
    torch.manual_seed(0)
    G = Generator(
        GeneratorConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
    ).eval()

    def encode(x):  # colour statistics per quadrant: a fixed, cheap feature map
        return torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)

    r = measure(G, encode, n=100)
    assert r["fd_clip"] > 5 * r["fd_clip_real_vs_real"]  # an untrained G is far from the car world
    assert r["kid_clip_x1000"] > r["kid_clip_x1000_real_vs_real"]
