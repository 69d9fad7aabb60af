"""`sam-editor invert --generator biggan-deep-256 …`: the invert command for a class-conditional family.

`invert_commands.cmd_invert` hands over here when the generator spec names a BigGAN-deep (a
registry name, or a folder / .bin in the port's format); the outputs are the same three files
(reconstruction PNG, φ, metrics JSON), φ's metadata records the family, generator, class and ψ
so that `sam-editor edit PHI --class 511` can re-bind them.

SAM's latent map (`--latent-map auto`): predicted by the generator's invertibility predictor
(`invertibility.pt` beside its weights, or `--predictor FILE`) over the segments at τ, or — the
labelled fallback where none exists — measured from a Z+ inversion (`session.family_invertibility`).
`sam-editor train-predictor --generator FOLDER` trains that predictor (`register`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..util import StepBar, atomic_write

FAMILY_METHODS = ("z", "z+", "zplus", "f2")  # besides 'sam', which both families have
MAP_CHOICES = ("auto", "predicted", "measured")  # --latent-map besides a mask file


def is_family_generator(spec: str | None) -> bool:
    from ..gan.biggan.checkpoint import is_biggan_spec

    return is_biggan_spec(spec)


def load_latent_map_mask(path: str, size: tuple[int, int]) -> Any:
    """A mask image or .npy at the generator's size (resized, nearest): non-zero = F2, the rest Z+."""
    import cv2
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p.name}: no such latent-map file")
    if p.suffix.lower() == ".npy":
        m = np.load(p, allow_pickle=False)
    else:
        m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise ValueError(f"{p.name}: not a readable mask image")
    m = np.asarray(m)
    if m.ndim != 2:
        raise ValueError(f"{p.name}: a BigGAN latent map is one (H, W) mask (white = F2), got shape {m.shape}")
    return cv2.resize((m > 0).astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def auto_map(G: Any, meta: dict, x: Any, valid: Any, settings: Any, args: argparse.Namespace) -> tuple[dict, str]:
    """SAM's map for `--latent-map auto|predicted|measured`: the generator's predictor when it has
    one (`--predictor FILE`, else `invertibility.pt` beside its weights), else the measured Z+ error
    (a quarter of the steps); segments from `--segmenter` (auto: the weight-free over-segmentation),
    τ in mean squared error on [-1, 1] pixels (default 0.02 ≈ 23 dB PSNR) for both."""
    from ..invertibility.segmenters import segmenter_for
    from .family_invertibility import default_tau, family_latent_map, find_predictor

    choice = args.latent_map or "auto"
    predictor, why = (None, "--latent-map measured") if choice == "measured" else find_predictor(
        G, meta, getattr(args, "predictor", None), str(x.device))  # fmt: skip
    if choice == "predicted" and predictor is None:
        raise ValueError(f"--latent-map predicted: {why}; train one with `sam-editor train-predictor --generator "
                         f"{meta.get('generator', 'FOLDER')}`")  # fmt: skip
    rgb = ((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
    segmenter = segmenter_for(getattr(args, "segmenter", None), getattr(args, "segmenter_weights", None), None)
    labels = segmenter.segment(rgb)[None]
    if predictor is None:  # the slow path: say so before it runs
        print(f"note: no invertibility predictor; measuring the Z+ error first ({why})", file=sys.stderr)
    fmap = family_latent_map(G, x, labels, default_tau(args.tau), settings, predictor=predictor, why_not=why,
                             valid=valid, seed=args.seed)  # fmt: skip
    print(f"note: {fmap.note} ({fmap.seconds:.2f} s)", file=sys.stderr)
    return fmap.masks, fmap.note


def cmd_invert_family(args: argparse.Namespace) -> int:
    import torch

    from ..gan.biggan.checkpoint import BigGANCheckpointError
    from ..gan.biggan.classes import class_name
    from ..gan.biggan.generator import load_conditioned
    from ..inversion.family import invert_family
    from ..inversion.images import ImageLoadError, load_photo, save_png
    from ..inversion.settings import InversionSettings
    from ..runtime import default_device
    from ..weights import WeightsError
    from .outputs import invert_outputs

    device = args.device or str(default_device())
    method = args.method.lower().replace("plus", "+")
    try:
        if method not in ("z", "z+", "f2", "sam"):
            raise ValueError(f"BigGAN-deep inverts with z, z+, f2 or sam (Φ = {{Z+, F2}}), not {args.method!r}")
        G, meta = load_conditioned(args.generator, args.class_index, args.truncation, device)
        cls = meta["class_index"]
        size = G.cfg.output_size
        x, placement = load_photo(args.image, size)
        x = x[None].to(device)
        latent_map = None
        if method == "sam" and args.latent_map not in (None, *MAP_CHOICES):
            latent_map = {"F2": torch.from_numpy(load_latent_map_mask(args.latent_map, size))}
        paths = invert_outputs(args.out, args.image, args.phi_format)
    except (BigGANCheckpointError, WeightsError, ImageLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    valid = None if placement.full else torch.from_numpy(placement.mask()).float()[None, None]
    settings = InversionSettings(steps=args.steps if args.steps is not None else 1001)
    map_note = "file" if latent_map is not None else None
    if method == "sam" and latent_map is None:
        try:
            latent_map, map_note = auto_map(G, meta, x, valid, settings, args)
        except (ValueError, OSError) as exc:  # a --predictor for another generator, none for 'predicted'
            print(f"error: {exc}", file=sys.stderr)
            return 2
    perceptual = None
    if settings.lambda_lpips:
        from ..perceptual import default_perceptual

        perceptual = default_perceptual(device)
        if perceptual.warning:
            print(f"note: {perceptual.warning}", file=sys.stderr)
    with StepBar(f"{method} {Path(args.image).name} ({class_name(cls, G.cfg.num_classes)})", postfix="total") as bar:
        result = invert_family(G, x, method, latent_map, settings, on_step=bar, seed=args.seed, perceptual=perceptual,
                               valid=valid)  # fmt: skip
    result.phi.metadata.update(generator=meta["generator"], class_index=cls, truncation=args.truncation)
    rows, cols = placement.slices()
    save_png(paths["reconstruction"], result.reconstruction[0][:, rows, cols])
    phi_path = result.phi.save(paths["phi"])
    err = (result.reconstruction.to(x.device) - x.clamp(-1, 1)).pow(2)
    if valid is not None:
        mse = float((err * valid.to(err.device)).sum() / (valid.sum() * 3))
    else:
        mse = float(err.mean())
    psnr = 10 * torch.log10(torch.tensor(4.0 / max(mse, 1e-12))).item()  # images in [-1, 1]: peak² = 4
    report: dict[str, Any] = {
        "image": str(args.image),
        "family": G.family,
        "generator": meta["generator"],
        "class": class_name(cls, G.cfg.num_classes),
        "truncation": args.truncation,
        "method": method,
        "latent_map": map_note,
        "psnr": psnr,
        "seconds": result.seconds,
        "steps": len(result.losses),
        "cancelled": result.cancelled,
        "phi": str(phi_path),
        "placement": placement.to_json(),
    }
    atomic_write(paths["metrics"], json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


# ---- sam-editor train-predictor --generator FOLDER ----------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train-predictor",
        help="train the invertibility predictor S_l of a BigGAN-deep generator (Z+, F2; §3.1) for SAM's latent map",
        description="Render the generator's images, clutter half of them, invert each in every space of Φ (the "
        "per-pixel squared error is S_l's target), fit the predictor, write it beside the weights. Resumable. "
        "StyleGAN2's demo predictor: `sam-editor demo train-predictor`.",
    )  # fmt: skip
    t.add_argument("--generator", required=True, help="BigGAN-deep folder (config.json + pytorch_model.bin) or registry name")
    t.add_argument("--class", dest="class_index", default=None, help="class the renders and inversions use (index or name)")
    t.add_argument("--truncation", type=float, default=1.0)
    t.add_argument("--work-dir", default=None, help="renders and targets (resumable; default: runs/predictor_<generator>)")
    t.add_argument("--n-images", type=int, default=200, help="renders, half of them cluttered")
    t.add_argument("--photos", nargs="*", default=(), help="photos added to the training images (letterboxed) and cut into clutter")
    t.add_argument("--inversion-steps", type=int, default=200, help="optimisation steps per space and image")
    t.add_argument("--train-steps", type=int, default=2000)
    t.add_argument("--width", type=int, default=16, help="channel width of the predictor's CNN")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    t.add_argument("--out", default=None, help="predictor file (default: invertibility.pt beside the weights, "
                   "where `invert --method sam` finds it)")  # fmt: skip
    t.set_defaults(func=cmd_train_predictor)


def cmd_train_predictor(args: argparse.Namespace) -> int:
    from ..gan.biggan.checkpoint import BigGANCheckpointError
    from ..gan.biggan.generator import load_conditioned
    from ..invertibility.family import PREDICTOR_FILE
    from ..runtime import default_device
    from ..weights import WeightsError
    from .family_invertibility import train_family_predictor, weights_folder

    if not is_family_generator(args.generator):
        print(f"error: {args.generator} is not a BigGAN-deep folder or registry name; StyleGAN2's predictor is trained "
              "by `sam-editor demo train-predictor`", file=sys.stderr)  # fmt: skip
        return 2
    device = args.device or str(default_device())
    try:
        G, meta = load_conditioned(args.generator, args.class_index, args.truncation, device)
    except (BigGANCheckpointError, WeightsError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = weights_folder(meta)
    out = Path(args.out) if args.out else (folder or Path(".")) / PREDICTOR_FILE
    work = Path(args.work_dir or f"runs/predictor_{Path(str(args.generator)).name}")
    with StepBar("invertibility targets", unit="img", leave=True) as targets, \
         StepBar("train predictor", postfix="loss", leave=True) as train:  # fmt: skip
        done = train_family_predictor(G, meta, work, out, n_images=args.n_images, inversion_steps=args.inversion_steps,
                                      train_steps=args.train_steps, photos=args.photos, seed=args.seed, width=args.width,
                                      batch_size=args.batch_size, on_targets=targets, on_train=train)  # fmt: skip
    r = done.result
    print(f"{done.images} images ({done.targets_written} new targets); held-out MSE {r.val_mse:.5f} vs constant "
          f"{r.const_mse:.5f} ({r.improvement:.2f}x better) on {r.num_val} images; wrote {r.out_path}")  # fmt: skip
    return 0
