"""Tiny generator and inverted codes shared by the edit tests (§3.4)."""

import pytest
import torch

from sam_editor.edits import blend
from sam_editor.gan.networks import Generator, GeneratorConfig

TINY = GeneratorConfig(resolution=64, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32)


@pytest.fixture(scope="session")
def tiny_G() -> Generator:
    torch.manual_seed(0)
    g = Generator(TINY).eval().requires_grad_(False)
    for name, p in g.named_parameters():
        if name.endswith("noise_strength"):
            p.fill_(0.1)
    with torch.no_grad():
        g.mapping(torch.randn(256, TINY.z_dim), update_w_avg=True)
    return g


@pytest.fixture(scope="session")
def tiny_phi(tiny_G):
    """φ of a synthetic 'inversion': w+ (1, 10, 32), Δf_4 and Δf_6 with masks on the left half
    (F4) and the bottom-right quarter (F6); the top-right quarter is a W+ region."""
    G = tiny_G
    gen = torch.Generator().manual_seed(3)
    w = G.map(torch.randn(1, G.z_dim, generator=gen))
    w = w + 0.1 * torch.randn(w.shape, generator=gen)
    m4 = torch.zeros(1, 1, 64, 64)
    m4[..., :, :32] = 1
    m6 = torch.zeros(1, 1, 64, 64)
    m6[..., 32:, 32:] = 1
    masks = {4: G.mask_to_feature(m4, 4), 6: G.mask_to_feature(m6, 6)}
    delta_f = {i: 0.3 * torch.randn((1, *G.feature_shape(i)), generator=gen) for i in masks}
    return w, delta_f, masks


@pytest.fixture(autouse=True)
def _fresh_blend_caches():
    """Every test fits its own colour models: a coefficient field cached by an earlier test (or,
    under mutmut, by the stats run its workers are forked from) would skip the code behind the
    cache lookup, and a test could pass only because another one ran first."""
    blend._CACHE.clear()
    blend._LABEL_CACHE.clear()
