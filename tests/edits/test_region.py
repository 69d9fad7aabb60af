"""Edits limited to a region (`edits.region.limit_to_region`) through the §3.4 gating."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_editor.edits.region import limit_to_region


def _render(G, w, delta_f, masks, delta=None):
    with torch.no_grad():
        return G.synthesize(w, delta_f, masks, delta_w=delta, noise_mode="const")


def _edit(G):
    gen = torch.Generator().manual_seed(5)
    return 0.8 * torch.randn((1, G.num_ws, G.w_dim), generator=gen)


def test_reconstruction_is_unchanged(tiny_G, tiny_phi) -> None:
    w, delta_f, masks = tiny_phi
    region = np.zeros(tiny_G.cfg.output_size, bool)
    region[:, 32:] = True
    df2, m2 = limit_to_region(tiny_G, delta_f, masks, region)
    assert set(m2) > set(masks)  # every feature space now holds the outside of the region
    torch.testing.assert_close(_render(tiny_G, w, df2, m2), _render(tiny_G, w, delta_f, masks), atol=1e-5, rtol=0)


def test_edit_stays_inside_the_region(tiny_G, tiny_phi) -> None:
    w, delta_f, masks = tiny_phi
    region = np.zeros(tiny_G.cfg.output_size, bool)
    region[:32, 32:] = True  # the top-right quarter, a W+ region of φ
    df2, m2 = limit_to_region(tiny_G, delta_f, masks, region)
    rec = _render(tiny_G, w, delta_f, masks)
    free = (_render(tiny_G, w, delta_f, masks, _edit(tiny_G)) - rec).abs().mean(1)[0]
    held = (_render(tiny_G, w, df2, m2, _edit(tiny_G)) - rec).abs().mean(1)[0]
    inside, outside = torch.zeros_like(free, dtype=torch.bool), torch.ones_like(free, dtype=torch.bool)
    inside[4:28, 36:60] = True  # the region's interior
    outside[:40, 24:] = False  # away from the region's border
    assert held[inside].mean() > 0.7 * free[inside].mean()
    assert held[outside].mean() < 0.2 * free[outside].mean()


def test_whole_image_region_changes_nothing(tiny_G, tiny_phi) -> None:
    w, delta_f, masks = tiny_phi
    df2, m2 = limit_to_region(tiny_G, delta_f, masks, np.ones(tiny_G.cfg.output_size, bool))
    d = _edit(tiny_G)
    torch.testing.assert_close(_render(tiny_G, w, df2, m2, d), _render(tiny_G, w, delta_f, masks, d), atol=1e-5, rtol=0)


def test_region_must_match_the_output_size(tiny_G, tiny_phi) -> None:
    w, delta_f, masks = tiny_phi
    with pytest.raises(ValueError, match="region must be"):
        limit_to_region(tiny_G, delta_f, masks, np.ones((10, 10), bool))


def test_cropped_generator(tiny_G) -> None:
    """Official car generators crop their square frame (512×384); the region is in output pixels."""
    import dataclasses

    from sam_editor.gan.networks import Generator

    torch.manual_seed(1)
    G = Generator(dataclasses.replace(tiny_G.cfg, crop=(8, 0, 48, 64))).eval().requires_grad_(False)
    w = G.map(torch.randn(1, G.z_dim))
    region = np.zeros(G.cfg.output_size, bool)
    region[:, 32:] = True
    df, m = limit_to_region(G, {}, {}, region)
    rec = _render(G, w, {}, {})
    torch.testing.assert_close(_render(G, w, df, m), rec, atol=1e-5, rtol=0)
    free = (_render(G, w, {}, {}, _edit(G)) - rec).abs().mean(1)[0]
    held = (_render(G, w, df, m, _edit(G)) - rec).abs().mean(1)[0]
    assert held[:, 36:].mean() > 0.7 * free[:, 36:].mean()
    assert held[:, :28].mean() < 0.2 * free[:, :28].mean()
