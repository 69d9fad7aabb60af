"""Inversion speed and peak memory per method, with random-weight generators.

    python benchmarks/bench_inversion.py                 # demo config, 20 steps per method
    python benchmarks/bench_inversion.py --config car --steps 3 --methods wplus,sam
    python benchmarks/bench_inversion.py --device cuda   # cpu | cuda | all

Configs: 'demo' = GeneratorConfig(resolution=128, z_dim=128, w_dim=128, mapping_layers=4,
channel_base=2048, channel_max=64); 'car' = GeneratorConfig() (config-f, 512² frame) with
crop=(64, 0, 384, 512), optimised at 192×256 as the official code. The perceptual loss is
LPIPS-VGG — with the real backbone when it is in the torch hub cache, else with an explicitly
random VGG16 (same cost, meaningless values). Steps/s excludes the first step (warm-up).
Peak memory: CUDA max_memory_allocated, or on CPU the rise of the process' peak RSS (VmHWM,
reset through /proc/self/clear_refs) over its RSS before the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam_editor.gan.layers import LayerSpace  # noqa: E402
from sam_editor.gan.networks import Generator, GeneratorConfig  # noqa: E402
from sam_editor.inversion import InversionSettings, invert  # noqa: E402
from sam_editor.inversion.losses import estimate_w_prior  # noqa: E402
from sam_editor.perceptual import Perceptual, hub_backbone_path  # noqa: E402
from sam_editor.runtime import init_torch  # noqa: E402

CONFIGS = {
    "demo": GeneratorConfig(resolution=128, z_dim=128, w_dim=128, mapping_layers=4, channel_base=2048, channel_max=64),
    "car": GeneratorConfig(crop=(64, 0, 384, 512)),
}
ALL_METHODS = ("w", "wplus", "gaussian", "f4", "f8", "sam", "pti")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak(device: torch.device) -> int:
    """Reset the peak counter; → the baseline (bytes)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass
    return _status_kb("VmRSS") * 1024


def _peak(device: torch.device, base: int) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    return _status_kb("VmHWM") * 1024 - base


def _latent_map(G: Generator) -> np.ndarray:
    """A fixed map using every feature space that reaches pixels: bands of F4 … top W+."""
    h, w = G.cfg.output_size
    ranks = np.zeros((h, w), np.uint8)
    usable = [s for s in LayerSpace if s.is_feature and s.index in G.feature_indices()[:-1]]
    for k, space in enumerate(usable):
        ranks[(k + 1) * h // (len(usable) + 2) :, : w * (k + 2) // (len(usable) + 2)] = space.rank
    return ranks


def bench(name: str, cfg: GeneratorConfig, methods: list[str], steps: int, device: torch.device, seed: int = 0) -> None:
    torch.manual_seed(seed)
    G = Generator(cfg).eval().requires_grad_(False).to(device)
    with torch.no_grad():
        G.mapping.w_avg.copy_(G.mapping(torch.randn(1000, cfg.z_dim, device=device)).mean(0))
        x = G.synthesize(G.map(torch.randn(1, cfg.z_dim, device=device), 0.7)).clamp(-1, 1)
    stats = estimate_w_prior(G, samples=5000)
    if hub_backbone_path().is_file():
        perceptual = Perceptual(device=device)
    else:
        perceptual = Perceptual.random_backbone(device=device)
    settings = InversionSettings(steps=steps, pti_tune_steps=steps)
    loss_size = settings.loss_size(cfg.output_size, cfg.resolution) or cfg.output_size
    nparams = sum(p.numel() for p in G.parameters()) / 1e6
    print(
        f"\n== {name}: {cfg.resolution}px frame, output {cfg.output_size}, losses at {loss_size}, "
        f"{nparams:.1f} M params, device {device}, threads {torch.get_num_threads()}, perceptual {perceptual.name!r}"
    )
    print(f"{'method':>9} | {'steps':>5} | {'steps/s':>8} | {'s/step':>7} | {'peak MB':>8} | note")
    for method in methods:
        lmap = _latent_map(G) if method == "sam" else None
        if method in ("f4", "f6", "f8", "f10") and int(method[1:]) not in G.feature_indices()[:-1]:
            print(f"{method:>9} | {'–':>5} | {'–':>8} | {'–':>7} | {'–':>8} | not in this generator")
            continue
        stamps: list[float] = []
        base = _reset_peak(device)

        def on_step(step, total, losses, preview, stamps=stamps):  # noqa: ANN001
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            stamps.append(time.perf_counter())

        res = invert(G, x, method, lmap, settings, on_step=on_step, seed=seed, perceptual=perceptual, w_stats=stats)
        peak = _peak(device, base) / 2**20
        rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
        note = "W phase + tuning (steps each)" if method == "pti" else ""
        if method == "pti" and len(stamps) > steps + 1:
            tune = stamps[steps:]
            note += f"; tuning alone {(len(tune) - 1) / (tune[-1] - tune[0]):.2f} steps/s"
        print(
            f"{method:>9} | {len(stamps):>5} | {rate:8.2f} | {1 / rate:7.2f} | {peak:8.0f} | {note} (total {res.seconds:.1f} s)"
        )


def main() -> int:
    init_torch()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="demo", choices=("demo", "car", "both"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "all"))
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        else:
            print("cuda: not available on this machine", file=sys.stderr)
    names = ["demo", "car"] if args.config == "both" else [args.config]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for device in devices:
        for name in names:
            bench(name, CONFIGS[name], methods, args.steps, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
