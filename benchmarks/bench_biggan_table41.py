"""Table 4.1-style rows for the BigGAN-deep family: Z, Z+, F2 and SAM (Z+ ∪ F2) on held-out images.

    python benchmarks/bench_biggan_table41.py                      # tiny 32 px generator, 6 images, 100 steps
    python benchmarks/bench_biggan_table41.py --held-out clutter   # its own renders with clutter over half
    python benchmarks/bench_biggan_table41.py --images 8 --steps 200
    python benchmarks/bench_biggan_table41.py --generator biggan-deep-256 --class 817 --photos /work/shared/photos/cars

Generator: a tiny random BigGAN-deep of the published layout (`sam_editor.testing.biggan`), or
a real one (registry name or port-format folder) with a class. Held-out images: with the tiny
generator, images of *another* tiny generator (other weights, other class; `--held-out other`) —
reachable only approximately — or renders of this one under another seed, the second half with the
demo's clutter drawn over them (`--held-out clutter`, the predictor's kind of data); with --photos,
the photos letterboxed into the frame.

SAM's latent map, three ways:

* **oracle** — the Z+ inversion's own per-pixel error over a grid of cells (1/4 of the side), cells
  above τ (default: the median cell) in F2: an upper bound of what a map can know;
* **measured** — the app's fallback (`session.family_invertibility`): a Z+ inversion of a quarter of
  the steps first, its error refined over the over-segmentation's segments, segments above τ in F2;
* **predicted** — §3.1–3.2: the family predictor S_l (Z+, F2 heads), refined over the same segments,
  same τ (default 0.02 MSE). With the tiny generator it is trained here first (renders + clutter,
  `train_family_predictor`); with a real one it is `--predictor FILE` or the `invertibility.pt`
  beside the weights (`sam-editor train-predictor --generator …`), else the row is skipped.

Rows print as markdown: method, perceptual distance (the app's LPIPS-VGG when the VGG16 file is
present, else its named fallback), PSNR, MSE, CPU s / image (process time with one thread, so a loaded
machine does not inflate it; the SAM rows include making their map). Then the map comparison:
predicted vs measured per-segment Z+ error (Spearman / Pearson), the share of pixels both maps put in
the same space, and the map's CPU time (the measured map's Z+ prelude vs one predictor pass).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam_editor.gan.biggan.generator import ClassConditionedBigGAN, load_conditioned  # noqa: E402
from sam_editor.inversion.family import invert_family  # noqa: E402
from sam_editor.inversion.images import tensor_to_rgb8  # noqa: E402
from sam_editor.inversion.settings import InversionSettings  # noqa: E402
from sam_editor.invertibility.family import MSE_TAU, load_family_predictor  # noqa: E402
from sam_editor.invertibility.segmenters import OversegSegmenter  # noqa: E402
from sam_editor.perceptual import default_perceptual  # noqa: E402
from sam_editor.runtime import init_torch  # noqa: E402
from sam_editor.session.family_invertibility import (  # noqa: E402
    family_latent_map,
    find_predictor,
    train_family_predictor,
    training_images,
)
from sam_editor.testing.biggan import random_biggan  # noqa: E402


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = (x - y).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(4.0 / mse)  # [-1, 1] images: peak² = 4


def held_out(G: ClassConditionedBigGAN, args: argparse.Namespace, work: Path) -> torch.Tensor:
    from sam_editor.inversion.images import load_photo

    if args.photos:
        files = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not files:
            raise SystemExit(f"no photos in {args.photos}")
        return torch.stack([load_photo(p, G.cfg.output_size)[0] for p in files[: args.images]])
    if args.held_out == "clutter":  # a seed no training image uses
        return torch.stack([load_photo(p, G.cfg.output_size)[0] for p in training_images(G, work / "held_out", args.images, seed=777)])
    other = ClassConditionedBigGAN.for_class(random_biggan(seed=11), 6)
    with torch.no_grad():
        return other(other.sample_z(args.images, seed=5))


def oracle_map(err: torch.Tensor, grid: int, tau: float | None) -> tuple[torch.Tensor, float]:
    """Per-pixel error (N, 1, H, W) → F2 masks (N, 1, H, W) bool from grid × grid cells above τ."""
    cells = F.adaptive_avg_pool2d(err, grid)  # (N, 1, g, g)
    t = float(cells.median()) if tau is None else tau
    sel = (cells > t).float()
    return F.interpolate(sel, size=err.shape[-2:], mode="nearest").bool(), t


def the_predictor(G: ClassConditionedBigGAN, meta: dict, args: argparse.Namespace, work: Path):  # noqa: ANN201
    """The family predictor: --predictor / beside a real generator's weights, or trained here for the tiny one."""
    if args.predictor or args.generator:
        predictor, why = find_predictor(G, meta, args.predictor)
        return predictor, why
    settings = InversionSettings(steps=args.predictor_steps, lambda_lpips=0.0)
    t0 = time.process_time()
    done = train_family_predictor(G, meta, work / "predictor", work / "invertibility.pt", n_images=args.predictor_images,
                                  train_steps=args.train_steps, width=8, lr=args.predictor_lr, settings=settings,
                                  seed=1)  # fmt: skip
    r = done.result
    why = (f"trained here on {done.images} renders (half cluttered), {settings.steps} inversion steps per space, "
           f"{args.train_steps} training steps (lr {args.predictor_lr:g}), {time.process_time() - t0:.0f} CPU s; held-out pixel MSE "
           f"{r.val_mse:.4f} vs constant {r.const_mse:.4f}")  # fmt: skip
    return load_family_predictor(work / "invertibility.pt", G), why


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    return float(np.corrcoef(rank(a), rank(b))[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default=None, help="registry name or port-format folder (default: tiny random)")
    ap.add_argument("--class", dest="class_index", default=None)
    ap.add_argument("--truncation", type=float, default=1.0)
    ap.add_argument("--photos", default=None)
    ap.add_argument("--held-out", default="other", choices=("other", "clutter"), help="tiny generator's held-out set")
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--tau", type=float, default=None, help="oracle: cell error above which a cell goes to F2 (default: median)")
    ap.add_argument("--map-tau", type=float, default=MSE_TAU.default, help="measured / predicted maps: segment MSE above which a segment goes to F2")
    ap.add_argument("--predictor", default=None, help="family predictor file (default: beside a real generator's weights; trained here for the tiny one)")
    ap.add_argument("--predictor-images", type=int, default=64, help="tiny generator: training renders for the predictor")
    ap.add_argument("--predictor-steps", type=int, default=50, help="tiny generator: inversion steps per space for its targets")
    ap.add_argument("--train-steps", type=int, default=800, help="tiny generator: predictor training steps")
    ap.add_argument("--predictor-lr", type=float, default=5e-3, help="tiny generator: predictor learning rate")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    init_torch()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench_biggan_"))
    if args.generator:
        G, meta = load_conditioned(args.generator, args.class_index, args.truncation)
    else:
        G = ClassConditionedBigGAN.for_class(random_biggan(seed=0), 3, args.truncation)
        meta = {"generator": "tiny random 32 px (seed 0)", "class_index": 3}
    x = held_out(G, args, work)
    target = x.clamp(-1, 1)
    perceptual = default_perceptual("cpu")
    settings = InversionSettings(steps=args.steps, lambda_lpips=0.0 if perceptual.warning else 1.0)
    predictor, why = the_predictor(G, meta, args, work)
    labels = np.stack([OversegSegmenter().segment(tensor_to_rgb8(im)) for im in x])
    print(f"generator: {meta['generator']}, {x.shape[0]} held-out images ({'photos' if args.photos else args.held_out}), "
          f"{args.steps} steps, perceptual: {perceptual.name}, λ_LPIPS {settings.lambda_lpips:g}; predictor: {why}")  # fmt: skip
    rows, maps = [], {}
    zplus_err = None
    plan = [("BigGAN-deep (Z)", "z"), ("Z+", "z+"), ("F2", "f2"), ("SAM (Z+, F2; oracle map)", "oracle"),
            ("SAM (measured map)", "measured")] + ([("SAM (predicted map)", "predicted")] if predictor is not None else [])  # fmt: skip
    for title, method in plan:
        lmap = None
        t0 = time.process_time()
        if method == "oracle":
            assert zplus_err is not None
            masks, t = oracle_map(zplus_err, grid=4, tau=args.tau)
            lmap = {"F2": masks}
            title += f", τ = {t:.4f}, {100 * float(masks.float().mean()):.0f} % in F2"
        elif method in ("measured", "predicted"):
            fmap = family_latent_map(G, x, labels, args.map_tau, settings, predictor=predictor if method == "predicted" else None)
            maps[method] = (fmap, time.process_time() - t0)
            lmap = fmap.masks
            title += f", τ = {args.map_tau:g}, {100 * fmap.share('F2'):.0f} % in F2"
        key = method if method in ("z", "z+", "f2") else "sam"
        pcpt = perceptual if settings.lambda_lpips else None
        res = invert_family(G, x, key, lmap, settings, perceptual=pcpt)
        secs = (time.process_time() - t0) / x.shape[0]
        with torch.no_grad():
            dist = perceptual.distance(res.reconstruction, target)
        if method == "z+":
            zplus_err = (res.reconstruction - target).pow(2).mean(dim=1, keepdim=True)
        mse = float((res.reconstruction - target).pow(2).mean())
        rows.append((title, float(dist.mean()), float(psnr(res.reconstruction, target).mean()), mse, secs))
    print(f"\n| Method | {perceptual.name} (↓) | PSNR (↑) | MSE (↓) | CPU s / image |\n|---|---|---|---|---|")
    for title, d, p, m, s in rows:
        print(f"| {title} | {d:.4f} | {p:.2f} | {m:.4f} | {s:.2f} |")
    if "predicted" in maps:
        (pm, pt), (mm, mt) = maps["predicted"], maps["measured"]
        pz = np.concatenate([e[:, 0] for e in pm.segment_errors])
        mz = np.concatenate([e[:, 0] for e in mm.segment_errors])
        same = float((pm.masks["F2"] == mm.masks["F2"]).float().mean())
        print("\n| Map | segments | Spearman (predicted vs measured Z+ error) | Pearson | same space | map CPU s / image |\n"
              "|---|---|---|---|---|---|")  # fmt: skip
        print(f"| measured (Z+ prelude, {max(1, args.steps // 4)} steps) | {len(mz)} | — | — | — | {mt / x.shape[0]:.3f} |")
        print(f"| predicted (S_l, one pass) | {len(pz)} | {spearman(pz, mz):.2f} | {np.corrcoef(pz, mz)[0, 1]:.2f} | "
              f"{100 * same:.0f} % of pixels | {pt / x.shape[0]:.4f} |")  # fmt: skip
    print(f"\n(images: {x.shape[-1]} px; run with --help for the protocol)")


if __name__ == "__main__":
    main()
