"""A tiny model bundle written in the real formats, for session and GUI tests.

Generator: a 64-px StyleGAN2 (F4, F6, F8 exist) in the native format. Predictor: the demo
bundle's `TinyInvertibilityNet`, with its heads set so the predicted errors fall in a known
order (W+ worst … F8 best) across the τ slider's range — so moving τ provably changes spaces.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch

TINY_CLIP = {  # a random open_clip model in the demo CLIP's file format
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}
HEAD_ERRORS = (0.36, 0.27, 0.19, 0.08, 0.04)  # W+, F4, F6, F8, F10: what the heads predict


def make_bundle(folder: Path, resolution: int = 64, encoder: bool = False):  # noqa: ANN201
    from sam_editor.gan.native import save_generator
    from sam_editor.gan.networks import Generator, GeneratorConfig
    from sam_editor.invertibility.predictor import TinyInvertibilityNet, save_predictor
    from sam_editor.session import load_bundle

    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=resolution, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
    G = Generator(cfg).eval()
    demo = folder / "demo"
    save_generator(demo / "generator.pt", G, {"trained_kimg": 0})
    net = TinyInvertibilityNet(width=4, input_size=(32, 32)).eval()
    with torch.no_grad():
        for head, err in zip(net.heads, HEAD_ERRORS, strict=True):
            last = head[-1]
            last.weight.mul_(0.02)
            last.bias.fill_(math.log(math.expm1(err)))  # softplus⁻¹: the head predicts ≈ err
    save_predictor(net, demo / "invertibility.pt")
    from sam_editor.demo.train_clip import build_tiny_clip, save_clip

    save_clip(build_tiny_clip(TINY_CLIP), demo / "clip", config=TINY_CLIP)
    direction = np.zeros((1, cfg.num_ws, cfg.w_dim), np.float32)  # an official-style δw+ file
    direction[0, 5:9] = np.random.default_rng(0).normal(0, 0.5, (4, cfg.w_dim))
    (demo / "edits" / "cars").mkdir(parents=True)
    np.save(demo / "edits" / "cars" / "csc_blue.npy", direction)
    if encoder:  # an (untrained, slightly perturbed) SAM encoder in the bundle's file format
        from sam_editor.inversion.encoder import EncoderConfig, SAMEncoder, save_encoder

        enc = SAMEncoder(EncoderConfig.for_generator(G, base_channels=8, max_channels=16, hidden=32), w_avg=G.mapping.w_avg)
        with torch.no_grad():
            for p in enc.parameters():
                p.add_(0.01 * torch.randn_like(p))
        save_encoder(enc, demo / "encoder.pt", {"steps": 0})
    bundle = load_bundle([folder], ganspace_samples=4000, cache_dir=folder / "cache")
    assert not isinstance(bundle, str) and hasattr(bundle, "G"), bundle
    bundle.inversion_settings = bundle.inversion_settings.replace(prior_samples=500, lambda_lpips=0.0)
    return bundle


def write_sample(path: Path, size: int = 96) -> Path:
    """A little scene: sky, road, a red box of a car, a sign (segments the segmenter finds)."""
    img = np.zeros((size, size, 3), np.uint8)
    img[: size // 2] = (90, 150, 230)
    img[size // 2 :] = (110, 110, 115)
    cv2.rectangle(img, (size // 5, size // 3), (size * 3 // 4, size * 2 // 3), (200, 30, 30), -1)
    cv2.circle(img, (size * 4 // 5, size // 5), size // 10, (30, 160, 60), -1)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(buf.tobytes())
    return path
