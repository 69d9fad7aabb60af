"""`sam-editor invert --generator biggan-deep-256 …`: the invert command for a class-conditional family.

`invert_commands.cmd_invert` hands over here when the generator spec names a BigGAN-deep (a
registry name, or a folder / .bin in the port's format); the outputs are the same three files
(reconstruction PNG, φ, metrics JSON), φ's metadata records the family, generator, class and ψ
so that `sam-editor edit PHI --class 511` can re-bind them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..util import StepBar, atomic_write

FAMILY_METHODS = ("z", "z+", "zplus", "f2")  # besides 'sam', which both families have
DEFAULT_MEASURED_TAU = 0.02  # per-segment Z+ MSE on [-1, 1] pixels above which a segment goes to F2


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


def measured_map(G: Any, x: Any, valid: Any, settings: Any, args: argparse.Namespace) -> tuple[dict, str]:
    """BigGAN-deep has no trained invertibility predictor: the map comes from the *measured* Z+ error
    (`inversion.family.measured_latent_map`) over the weight-free over-segmentation, with τ in
    mean squared error ([-1, 1] pixels; default 0.02 ≈ 23 dB PSNR) and a quarter of the steps."""
    from ..inversion.family import measured_latent_map
    from ..invertibility.segmenters import OversegSegmenter

    rgb = ((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
    labels = OversegSegmenter().segment(rgb)[None]
    tau = DEFAULT_MEASURED_TAU if args.tau is None else args.tau
    steps = max(1, settings.steps // 4)
    print(f"note: BigGAN-deep has no invertibility predictor; measuring the Z+ error ({steps} steps) over "
          f"{int(labels.max()) + 1} segments, τ = {tau:g} (MSE)", file=sys.stderr)  # fmt: skip
    lmap, _ = measured_latent_map(G, x, labels, tau, settings.replace(steps=steps), valid=valid, seed=args.seed)
    share = float(next(iter(lmap.values())).float().mean())
    return lmap, f"measured Z+ error over {int(labels.max()) + 1} over-segmentation segments, τ = {tau:g}, {share:.0%} in F2"


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
        if method == "sam" and args.latent_map not in (None, "auto", "measured"):
            latent_map = {"F2": torch.from_numpy(load_latent_map_mask(args.latent_map, size))}
        paths = invert_outputs(args.out, args.image, args.phi_format)
    except (BigGANCheckpointError, WeightsError, ImageLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    valid = None if placement.full else torch.from_numpy(placement.mask()).float()[None, None]
    settings = InversionSettings(steps=args.steps if args.steps is not None else 1001)
    map_note = "file" if latent_map is not None else None
    if method == "sam" and latent_map is None:
        latent_map, map_note = measured_map(G, x, valid, settings, args)
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
