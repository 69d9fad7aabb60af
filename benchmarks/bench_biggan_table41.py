"""Table 4.1-style rows for the BigGAN-deep family: Z, Z+, F2 and SAM (Z+ ∪ F2) on held-out images.

    python benchmarks/bench_biggan_table41.py                      # tiny 32 px generator, 6 images, 100 steps
    python benchmarks/bench_biggan_table41.py --images 8 --steps 200
    python benchmarks/bench_biggan_table41.py --generator biggan-deep-256 --class 817 --photos /work/shared/photos/cars

Generator: a tiny random BigGAN-deep of the published layout (`sam_editor.testing.biggan`), or
a real one (registry name or port-format folder) with a class. Held-out images: with the tiny
generator, images of *another* tiny generator (other weights, other class) — reachable only
approximately; with --photos, the photos letterboxed into the frame.

SAM's latent map: BigGAN-deep has no trained invertibility predictor here, so the map is an
*oracle* of the same form: the Z+ inversion's per-pixel error, averaged over a grid of segments
(cells of 1/4 of the frame's side), and cells whose error is above τ (default: the median
cell) go to F2, the rest stay in Z+. Rows print as markdown: method, perceptual distance (the
app's LPIPS-VGG when the VGG16 file is present, else its named fallback), PSNR, s / image.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam_editor.gan.biggan.generator import ClassConditionedBigGAN, load_conditioned  # noqa: E402
from sam_editor.inversion.family import invert_family  # noqa: E402
from sam_editor.inversion.settings import InversionSettings  # noqa: E402
from sam_editor.perceptual import default_perceptual  # noqa: E402
from sam_editor.runtime import init_torch  # noqa: E402
from sam_editor.testing.biggan import random_biggan  # noqa: E402


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = (x - y).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(4.0 / mse)  # [-1, 1] images: peak² = 4


def held_out(G: ClassConditionedBigGAN, args: argparse.Namespace) -> torch.Tensor:
    if args.photos:
        from sam_editor.inversion.images import load_photo

        files = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not files:
            raise SystemExit(f"no photos in {args.photos}")
        return torch.stack([load_photo(p, G.cfg.output_size)[0] for p in files[: args.images]])
    other = ClassConditionedBigGAN.for_class(random_biggan(seed=11), 6)
    with torch.no_grad():
        return other(other.sample_z(args.images, seed=5))


def oracle_map(err: torch.Tensor, grid: int, tau: float | None) -> tuple[torch.Tensor, float]:
    """Per-pixel error (N, 1, H, W) → F2 masks (N, 1, H, W) bool from grid × grid cells above τ."""
    cells = F.adaptive_avg_pool2d(err, grid)  # (N, 1, g, g)
    t = float(cells.median()) if tau is None else tau
    sel = (cells > t).float()
    return F.interpolate(sel, size=err.shape[-2:], mode="nearest").bool(), t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default=None, help="registry name or port-format folder (default: tiny random)")
    ap.add_argument("--class", dest="class_index", default=None)
    ap.add_argument("--truncation", type=float, default=1.0)
    ap.add_argument("--photos", default=None)
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--tau", type=float, default=None, help="cell error above which a segment goes to F2 (default: median)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    init_torch()
    torch.set_num_threads(args.threads)
    if args.generator:
        G, _ = load_conditioned(args.generator, args.class_index, args.truncation)
    else:
        G = ClassConditionedBigGAN.for_class(random_biggan(seed=0), 3, args.truncation)
    x = held_out(G, args)
    perceptual = default_perceptual("cpu")
    settings = InversionSettings(steps=args.steps, lambda_lpips=0.0 if perceptual.warning else 1.0)
    print(f"generator: {args.generator or 'tiny random 32 px'}, {x.shape[0]} held-out images, {args.steps} steps, "
          f"perceptual: {perceptual.name}, λ_LPIPS {settings.lambda_lpips:g}")  # fmt: skip
    rows = []
    zplus_err = None
    for title, method in (("BigGAN-deep (Z)", "z"), ("Z+", "z+"), ("F2", "f2"), ("SAM (Z+, F2; oracle map)", "sam")):
        lmap = None
        if method == "sam":
            assert zplus_err is not None
            masks, t = oracle_map(zplus_err, grid=4, tau=args.tau)
            lmap = {"F2": masks}
            title += f", τ = {t:.4f}, {100 * float(masks.float().mean()):.0f} % in F2"
        t0 = time.perf_counter()
        res = invert_family(G, x, method, lmap, settings, perceptual=perceptual if settings.lambda_lpips else None)
        secs = (time.perf_counter() - t0) / x.shape[0]
        with torch.no_grad():
            dist = perceptual.distance(res.reconstruction, x.clamp(-1, 1))
        if method == "z+":
            zplus_err = (res.reconstruction - x.clamp(-1, 1)).pow(2).mean(dim=1, keepdim=True)
        rows.append((title, float(dist.mean()), float(psnr(res.reconstruction, x.clamp(-1, 1)).mean()), secs))
    print(f"\n| Method | {perceptual.name} (↓) | PSNR (↑) | s / image |\n|---|---|---|---|")
    for title, d, p, s in rows:
        print(f"| {title} | {d:.4f} | {p:.2f} | {s:.2f} |")
    print(f"\n(images: {x.shape[-1]} px; run with --help for the protocol)")


if __name__ == "__main__":
    main()
