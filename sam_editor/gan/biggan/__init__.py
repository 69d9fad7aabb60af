"""BigGAN-deep (DeepMind's ImageNet model, PyTorch port format) as a second generator family:
`config` (config.json, channel table), `model` (the network and its stages), `generator` (Z+ / F2,
class edits, the gated pass behind `gan.family.GeneratorFamily`), `checkpoint` (safe loading)."""

from __future__ import annotations

from ..._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BigGANDeepConfig": "config",
        "BigGANConfigError": "config",
        "BigGANDeep": "model",
        "ClassConditionedBigGAN": "generator",
        "one_hot": "generator",
    },
)
