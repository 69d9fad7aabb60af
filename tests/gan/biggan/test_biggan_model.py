"""BigGAN-deep's architecture and staged, gated forward on a tiny generator of the published layout."""

from __future__ import annotations

import pytest
import torch

from sam_editor.gan.biggan.config import BigGANConfigError, BigGANDeepConfig
from sam_editor.gan.biggan.generator import ClassConditionedBigGAN, one_hot
from sam_editor.gan.family import GeneratorFamily, space_named
from sam_editor.testing.biggan import random_biggan, tiny_config


@pytest.fixture(scope="module")
def net():
    return random_biggan(seed=0)


@pytest.fixture(scope="module")
def G(net):
    return ClassConditionedBigGAN.for_class(net, 3)


def test_channel_tables_of_the_published_configs():
    """The port converter's 128/256 configs: 10 / 12 blocks, the listed resolutions and channels."""
    c128 = BigGANDeepConfig()
    assert c128.num_blocks == 10 and c128.block_resolution(10) == 128
    assert c128.channel_table()[5] == (6, True, 32, 1024, 512)
    c256 = BigGANDeepConfig(output_dim=256, layers=(
        (False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8), (True, 8, 8),
        (False, 8, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1)))  # fmt: skip
    assert [r for _, _, r, _, _ in c256.channel_table()] == [4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256]
    assert c256.block_channels(2) == (2048, 2048)  # F2: 2048 × 8 × 8


@pytest.mark.parametrize(
    "change, words",
    [
        ({"output_dim": 64}, "output_dim is 64"),
        ({"attention_layer_position": 9}, "attention_layer_position"),
        ({"layers": ((False, 16, 16), (True, 16, 4), (False, 4, 1), (True, 1, 1)), "output_dim": 16}, "stay or halve"),
        ({"layers": ((False, 8, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)), "output_dim": 16}, "16 · channel_width"),
        ({"n_stats": 1}, "n_stats"),
    ],
)
def test_config_refuses_inconsistent_tables(change, words):
    d = tiny_config().to_dict()
    d.update(change)
    with pytest.raises(BigGANConfigError, match=words):
        BigGANDeepConfig.from_dict(d)


def test_family_interface_and_spaces(G):
    assert isinstance(G, GeneratorFamily)
    assert [s.name for s in G.spaces] == ["Z+", "F2"]
    assert space_named(G, "zplus").feature_index is None and space_named(G, "f2").feature_index == 2
    with pytest.raises(ValueError, match="Z\\+, F2"):
        space_named(G, "W+")
    assert G.num_ws == G.cfg.num_blocks + 1  # gen_z + one row per block
    assert G.feature_shape(2) == (64, 8, 8)


def test_z_plus_with_equal_rows_is_the_released_generator(G, net):
    z = G.sample_z(3, seed=1)
    y = one_hot([3, 3, 3], 10)
    ref = net(z, y, 1.0)
    assert torch.equal(G.synthesize(G.z_plus(z)), ref)
    assert ref.std() > 0.2  # the tiny network draws something


def test_each_z_plus_row_reaches_the_image(G):
    rows = G.z_plus(G.sample_z(1, seed=2))
    base = G.synthesize(rows)
    for k in range(G.num_ws):
        other = rows.clone()
        other[:, k] += 0.5
        assert (G.synthesize(other) - base).abs().max() > 1e-4, f"row {k} has no effect"


def test_truncation_interpolates_the_stored_statistics(net):
    bn = net.block(1).bn_0
    lo_m, lo_v = bn.statistics(0.4)
    hi_m, hi_v = bn.statistics(0.42)
    mid_m, mid_v = bn.statistics(0.41)
    assert torch.allclose(mid_m, (lo_m + hi_m) / 2, atol=1e-6) and torch.allclose(mid_v, (lo_v + hi_v) / 2, atol=1e-6)
    assert torch.equal(lo_m, bn.running_means[20])
    near_m, _ = bn.statistics(0.404)  # a fifth of the way from ψ = 0.40 to 0.42
    assert torch.allclose(near_m, 0.8 * bn.running_means[20] + 0.2 * bn.running_means[21], atol=1e-6)
    with pytest.raises(ValueError, match="truncation"):
        bn.statistics(0.0)


def test_truncated_normal_sampling_and_prior(G):
    Gt = ClassConditionedBigGAN(G.net, G.class_vector, truncation=0.5)
    z = Gt.sample_z(2000, seed=0)
    assert z.abs().max() <= 1.0 + 1e-6  # |z| ≤ 2ψ
    prior = Gt.latent_prior(Gt.z_plus(z[:8]))
    assert 0.5 < float(prior.mean()) < 1.0  # ≈ 0.77 for the truncated normal
    assert float(Gt.latent_prior(Gt.z_plus(3 * z[:8])).mean()) > 5 * float(prior.mean())


def test_feature_delta_enters_at_f2(G):
    """Eq. 3.3: f2 = g(z+) + m2 ⊙ Δf2; a zero mask is exactly no Δf."""
    rows = G.z_plus(G.sample_z(1, seed=3))
    delta = torch.randn(1, *G.feature_shape(2))
    half = torch.zeros(1, 1, 8, 8)
    half[..., :4] = 1
    plain = {k: f for k, f, _ in G.staged(rows)}
    with_delta = {k: f for k, f, _ in G.staged(rows, {2: delta}, {2: half})}
    assert torch.allclose(with_delta[2], plain[2] + half * delta)
    assert torch.equal(with_delta[1], plain[1])
    zero = torch.zeros_like(half)
    assert torch.equal(G.synthesize(rows, {2: delta}, {2: zero}), G.synthesize(rows))
    with pytest.raises(ValueError, match="without its mask"):
        G.synthesize(rows, {2: delta}, {})


def test_class_edit_is_class_interpolation(G):
    """A class edit of strength s on all rows = the generator conditioned on (1−s)·y + s·y'."""
    rows = G.z_plus(G.sample_z(2, seed=4))
    for s in (1.0, 0.3):
        edited = G.synthesize(rows, delta_w=G.class_delta(7, s))
        mixed = G.with_class((1 - s) * one_hot(3, 10) + s * one_hot(7, 10)).synthesize(rows)
        assert torch.allclose(edited, mixed, atol=1e-5)
    assert not torch.allclose(G.synthesize(rows, delta_w=G.class_delta(7, 1.0)), G.synthesize(rows), atol=1e-3)
    assert torch.equal(G.synthesize(rows, delta_w=G.class_delta(7, 0.0)), G.synthesize(rows))


def test_gated_class_edit_leaves_f2_segments_unchanged_outside_their_gate(G):
    """§3.4: inside m2 the edited pass carries the *unedited* f2; only stages after F2 see the edit."""
    rows = G.z_plus(G.sample_z(1, seed=5))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    delta = 0.3 * torch.randn(1, *G.feature_shape(2))
    edit = G.class_delta(7, 1.0)
    feats = {k: (rec, ed) for k, rec, ed in G.staged(rows, {2: delta}, {2: mask}, delta_w=edit)}
    rec2, ed2 = feats[2]
    inside = mask.expand_as(rec2).bool()
    assert torch.equal(ed2[inside], rec2[inside])  # the F2 segment: unchanged up to F2
    assert (ed2[~inside] - rec2[~inside]).abs().max() > 1e-3  # Z+ segments: edited from stage 0
    # An edit confined to the stages up to F2 cannot touch a whole-image F2 inversion at all …
    early = G.class_delta(7, 1.0, rows=range(0, 3))
    full = torch.ones(1, 1, 8, 8)
    assert torch.equal(G.synthesize(rows, {2: delta}, {2: full}, delta_w=early), G.synthesize(rows, {2: delta}, {2: full}))
    # … while the same edit moves a Z+ inversion, and a later edit moves the F2 inversion.
    assert (G.synthesize(rows, delta_w=early) - G.synthesize(rows)).abs().max() > 1e-3
    late = G.class_delta(7, 1.0, rows=range(3, G.num_ws))
    assert (G.synthesize(rows, {2: delta}, {2: full}, delta_w=late) - G.synthesize(rows, {2: delta}, {2: full})).abs().max() > 1e-3


def test_shared_path_matches_a_separate_edit_pass(G):
    """The edit path shares the reconstruction's stages until its rows differ; forcing a separate
    path (an edit that requires grad) gives the same image."""
    rows = G.z_plus(G.sample_z(2, seed=6))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :3] = 1
    delta_f = {2: 0.2 * torch.randn(2, *G.feature_shape(2))}
    dz = torch.zeros(1, G.num_ws, G.w_dim)
    dz[:, 4:] = 0.7
    shared = G.synthesize(rows, delta_f, {2: mask}, delta_w=dz)
    separate = G.synthesize(rows, delta_f, {2: mask}, delta_w=dz.clone().requires_grad_(True)).detach()
    assert torch.allclose(shared, separate, atol=1e-6)
    with pytest.raises(ValueError, match="an edit must be"):
        G.synthesize(rows, delta_w=torch.zeros(1, G.num_ws, 5))


def test_one_hot_refuses_unknown_classes():
    with pytest.raises(ValueError, match="class 10 is not one of"):
        one_hot(10, 10)


def test_binding_a_class_puts_the_network_in_inference_mode():
    """A network left in training mode (batch statistics) is put back to the stored statistics by
    binding it, so an image of one z does not depend on the rest of its batch."""
    net = random_biggan(seed=3).train()
    G = ClassConditionedBigGAN.for_class(net, 1)
    assert not net.training
    z = G.sample_z(3, seed=0)
    assert torch.allclose(G(z)[:1], G(z[:1]), atol=1e-6)
