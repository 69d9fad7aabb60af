"""Tiny BigGAN-deep generators of the published layout, for tests and benchmarks.

`tiny_config()` has the structure of the released models — bottleneck blocks that keep or halve
their channels, up-sampling every second block, one self-attention layer — at 32 px and a few
dozen channels, so a forward pass takes milliseconds. `random_biggan` fills every weight and the
batch-norm statistics per truncation with seeded random values scaled so that images are neither
flat nor saturated (an untrained network at init would give near-constant images).
"""

from __future__ import annotations

import torch

from ..gan.biggan.config import BigGANDeepConfig
from ..gan.biggan.model import BigGANDeep


def tiny_config(num_classes: int = 10, z_dim: int = 16, channel_width: int = 8) -> BigGANDeepConfig:
    """32 px: 4² → 8² → 8² → 16² → 16² → 32², block outputs 128 64 32 16 8 8 channels (the port
    fixes the first blocks' input at 16 · channel_width), attention before block 4."""
    layers = ((False, 16, 16), (True, 16, 8), (False, 8, 4), (True, 4, 2), (False, 2, 1), (True, 1, 1))
    return BigGANDeepConfig(output_dim=32, z_dim=z_dim, class_embed_dim=z_dim, channel_width=channel_width,
                            num_classes=num_classes, layers=layers, attention_layer_position=3, eps=1e-4,
                            n_stats=51)  # fmt: skip


@torch.no_grad()
def random_biggan(cfg: BigGANDeepConfig | None = None, seed: int = 0) -> BigGANDeep:
    """A BigGANDeep of `cfg` (default `tiny_config()`) with seeded random weights, in eval mode."""
    cfg = cfg or tiny_config()
    gen = torch.Generator().manual_seed(seed)
    net = BigGANDeep(cfg)
    for name, t in net.state_dict().items():
        if name.endswith("running_means"):
            t.copy_(0.1 * torch.randn(t.shape, generator=gen))
        elif name.endswith("running_vars"):
            t.copy_(0.5 + torch.rand(t.shape, generator=gen))
        elif name.endswith("gamma"):
            t.fill_(0.5)
        elif name == "embeddings.weight":
            t.copy_(torch.randn(t.shape, generator=gen))
        elif name.endswith(("scale.weight", "offset.weight")):
            t.copy_(0.3 * torch.randn(t.shape, generator=gen) / t.shape[1] ** 0.5)
        elif name.endswith("weight") and t.ndim >= 2:
            fan_in = t[0].numel()
            t.copy_(torch.randn(t.shape, generator=gen) / fan_in**0.5)
        else:  # biases, the final batch norm's affine
            t.copy_(0.1 * torch.randn(t.shape, generator=gen) + (1.0 if name == "generator.bn.weight" else 0.0))
    return net.eval().requires_grad_(False)
