"""SAM on BigGAN-deep: Z, Z+, F2 and SAM inversion through the family interface (tiny generator)."""

from __future__ import annotations

import pytest
import torch

from sam_editor.gan.biggan.generator import ClassConditionedBigGAN
from sam_editor.inversion.family import invert_family, methods_of
from sam_editor.inversion.settings import InversionSettings
from sam_editor.testing.biggan import random_biggan

FAST = InversionSettings(steps=40, lr=0.05, lambda_lpips=0.0, optimise_size=None)


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return ClassConditionedBigGAN.for_class(random_biggan(seed=0), 3)


@pytest.fixture(scope="module")
def held_out():
    """Three images this generator was not asked to make: the same architecture with other weights
    (seed 11) and another class — reachable only approximately by any of the spaces."""
    other = ClassConditionedBigGAN.for_class(random_biggan(seed=11), 6)
    with torch.no_grad():
        return other(other.sample_z(3, seed=5))


@pytest.fixture(scope="module")
def results(G, held_out):
    return {m: invert_family(G, held_out, m, settings=FAST) for m in ("z", "z+", "f2")}


def _mse(result, target):
    return (result.reconstruction - target).pow(2).mean(dim=(1, 2, 3))


def test_methods_come_from_the_family_spaces(G):
    assert methods_of(G) == ("z", "z+", "f2", "sam")
    with pytest.raises(ValueError, match="inverts with z, z\\+, f2, sam"):
        invert_family(G, torch.zeros(1, 3, 32, 32), "w+")
    with pytest.raises(ValueError, match="needs a latent map"):
        invert_family(G, torch.zeros(1, 3, 32, 32), "sam")
    with pytest.raises(ValueError, match="images must be"):
        invert_family(G, torch.zeros(1, 3, 16, 16), "z")


def test_z_plus_and_f2_beat_z_on_held_out_images(results, held_out):
    z, zp, f2 = (_mse(results[m], held_out) for m in ("z", "z+", "f2"))
    assert bool((zp < z).all()), (z, zp)
    assert bool((f2 < z).all()), (z, f2)
    assert float(f2.mean()) < float(zp.mean())  # the later space reconstructs better (Fig. 3.2's order)
    assert results["z"].losses[-1]["total"] < results["z"].losses[0]["total"]


def test_z_keeps_one_row_and_stays_under_the_prior(results, G):
    rows = results["z"].phi.w_plus
    assert torch.equal(rows, rows[:, :1].expand_as(rows))  # Z: the same z on every stage
    zp = results["z+"].phi.w_plus
    assert not torch.allclose(zp, zp[:, :1].expand_as(zp))  # Z+: rows free
    assert float(G.latent_prior(zp).mean()) < 3.0  # the truncated-normal prior keeps z plausible
    assert "latent_prior" in results["z+"].losses[-1]


def test_sam_puts_delta_f_only_in_its_segment(G, held_out):
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[:, :16] = True  # left half in F2, right half in Z+
    res = invert_family(G, held_out[:2], "sam", latent_map={"F2": mask}, settings=FAST.replace(steps=20))
    assert set(res.phi.delta_f) == {2}
    m2 = res.phi.masks[2]
    assert m2.shape == (1, 1, 8, 8) and float(m2[..., :, 6:].max()) == 0.0
    again = G.synthesize(res.phi.w_plus, res.phi.delta_f, res.phi.masks).clamp(-1, 1)
    assert torch.allclose(again, res.reconstruction, atol=1e-6)
    with pytest.raises(ValueError, match="rows space"):
        invert_family(G, held_out[:1], "sam", latent_map={"Z+": mask}, settings=FAST)


def test_cancel_returns_the_best_so_far(G, held_out):
    calls = []
    res = invert_family(G, held_out[:1], "z+", settings=FAST, should_stop=lambda: len(calls) >= 5,
                        on_step=lambda step, total, info, preview: calls.append(step))  # fmt: skip
    assert res.cancelled and len(res.losses) == 5


def test_measured_latent_map_sends_the_unreachable_segment_to_f2(G):
    """§3.2 with measured errors: the left half is the generator's own image, the right half
    noise no latent code can draw; with τ between their Z+ errors only the right half is F2."""
    import numpy as np

    from sam_editor.session.family_invertibility import measured_latent_map

    with torch.no_grad():
        x = G(G.sample_z(2, seed=3))
    x[..., 16:] = torch.rand(2, 3, 32, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    segments = np.zeros((1, 32, 32), np.int64)
    segments[..., 16:] = 1
    lmap, res = measured_latent_map(G, x, segments, 0.25, FAST.replace(steps=30))
    f2 = lmap["F2"]
    assert f2.shape == (2, 1, 32, 32)
    assert bool(f2[..., 16:].all()) and not bool(f2[..., :16].any())
    err = (res.reconstruction - x).pow(2).mean(dim=1)
    assert float(err[..., :16].mean()) < 0.25 < float(err[..., 16:].mean())  # τ sits between the two
