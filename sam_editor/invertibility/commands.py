"""CLI sub-commands of the invertibility part (paper §3.1–3.2).

``register(subparsers)`` adds:

* ``latent-map IMAGE --predictor FILE [--tau 0.225] [--override X,Y=SPACE …] [--out map.json]`` —
  predict e_l (eq. 3.2), segment, refine and threshold; ``--override`` forces the segment under
  pixel (X, Y) into SPACE, as a click on a segment does in the window; writes the map ``.json``
  and an overlay ``.png`` beside it;
* ``train-invertibility DATA --out FILE [--steps N]`` — fit the predictor on ``.npz`` targets.

Every sub-parser sets ``func`` to a handler ``func(args) -> int`` (exit status).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sam_editor.gan.layers import LayerSpace


__all__ = ["register", "main", "cmd_latent_map", "cmd_train_invertibility"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``latent-map`` and ``train-invertibility`` sub-commands."""
    p = subparsers.add_parser(
        "latent-map",
        help="predict the per-segment latent-space map of an image (SAM §3.1–3.2)",
        description="Predict invertibility, refine it over segments and pick a latent space per segment.",
    )
    p.add_argument("image", type=Path, help="input image (RGB)")
    p.add_argument("--predictor", type=Path, default=None, help="invertibility predictor (.pt, ours or official; default: the demo bundle's)")
    p.add_argument(
        "--tau", type=float, default=None,
        help="threshold τ on the predicted error (default: the bundle's, from tau.json beside the predictor; "
        "else the paper's 0.225 on LPIPS-VGG)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="output map .json (default: <image>.latent.json)")
    p.add_argument(
        "--segmenter", default="auto",
        help="auto (the bundle's segmenter.pt beside the predictor, else overseg), overseg, deeplab, carworld, "
        "ade20k (the official bundle's SegFormer: `sam-editor weights fetch 'segformer-ade20k*'`)",
    )  # fmt: skip
    p.add_argument("--segmenter-weights", type=Path, default=None, help="the segmenter's weights: a file (deeplab, carworld) or folder (ade20k; default: the registry's)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--override", action="append", default=[], metavar="X,Y=SPACE", type=parse_override,
        help="force the segment under pixel (X, Y) into SPACE (W+, F4, F6, F8, F10) whatever τ says; repeatable",
    )  # fmt: skip
    p.set_defaults(func=cmd_latent_map)

    t = subparsers.add_parser(
        "train-invertibility",
        help="train the invertibility predictor on precomputed LPIPS error maps",
        description="ℓ2 regression of the per-space LPIPS error maps (SAM eq. 3.2).",
    )
    t.add_argument("data", type=Path, help="folder of .npz targets (image + errors)")
    t.add_argument("--out", type=Path, required=True, help="output predictor file (.pt)")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--width", type=int, default=16, help="channel width of the small CNN")
    t.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=(128, 128),
        metavar=("H", "W"),
        help="predictor input size (the demo generator is 128×128)",
    )
    t.add_argument("--val-fraction", type=float, default=0.1)
    t.add_argument("--checkpoint-every", type=int, default=200)
    t.add_argument("--no-resume", action="store_true", help="ignore an existing <out>.ckpt")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.set_defaults(func=cmd_train_invertibility)


def parse_override(text: str) -> tuple[int, int, LayerSpace]:
    """'X,Y=SPACE' → (x, y, space); argparse turns a ValueError into a usage message."""
    from sam_editor.gan.layers import LayerSpace

    where, sep, space = text.partition("=")
    try:
        x_text, y_text = where.split(",")
        if not sep:
            raise ValueError
        return int(x_text), int(y_text), LayerSpace.parse(space.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected X,Y=SPACE, e.g. 40,60=W+ (spaces: W+, F4, F6, F8, F10)"
        ) from None


def cmd_latent_map(args: argparse.Namespace) -> int:
    import cv2

    from sam_editor.invertibility.data import load_image
    from sam_editor.invertibility.latent_map import legend_image, tau_scale_beside
    from sam_editor.invertibility.pipeline import latent_map_for_image
    from sam_editor.invertibility.predictor import load_predictor
    from sam_editor.invertibility.segmenters import segmenter_for
    from sam_editor.weights import demo_bundle_dir

    if args.predictor is None:  # as `invert` does: the demo bundle's
        args.predictor = demo_bundle_dir() / "invertibility.pt"
    image = load_image(args.image)
    predictor = load_predictor(args.predictor, args.device)
    try:
        segmenter = segmenter_for(args.segmenter, args.segmenter_weights, args.predictor)
    except ValueError as exc:  # unknown name, missing or unusable weights: the message says what to do
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scale = tau_scale_beside(args.predictor)
    tau = scale.default if args.tau is None else args.tau
    t0 = time.perf_counter()
    lmap = latent_map_for_image(image, predictor, segmenter, tau, keep_pixels=False)
    elapsed = time.perf_counter() - t0
    for x, y, space in args.override:
        if not (0 <= x < lmap.shape[1] and 0 <= y < lmap.shape[0]):
            print(
                f"error: --override pixel ({x}, {y}) lies outside the {lmap.shape[1]}×{lmap.shape[0]} image",
                file=sys.stderr,
            )
            return 2
        lmap.override(lmap.segment_at(y, x), space)
    out = args.out if args.out is not None else args.image.with_name(args.image.stem + ".latent.json")
    lmap.save(out)
    overlay = lmap.overlay(image, args.alpha)
    legend = legend_image()
    h = min(legend.shape[0], overlay.shape[0])
    w = min(legend.shape[1], overlay.shape[1])
    overlay[:h, :w] = legend[:h, :w]
    png = out.with_suffix(".png")
    if not cv2.imwrite(str(png), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR)):
        print(f"error: could not write {png}", file=sys.stderr)
        return 1
    cover = ", ".join(f"{s.value} {100 * f:.0f}%" for s, f in lmap.coverage().items())
    print(f"{lmap.num_segments} segments ({segmenter.label}), tau={lmap.tau:g} on {scale.metric}: {cover} "
          f"({elapsed * 1000:.0f} ms)")
    print(f"wrote {out} and {png}")
    return 0


def cmd_train_invertibility(args: argparse.Namespace) -> int:
    from sam_editor.invertibility.train import train_predictor
    from sam_editor.util import StepBar

    with StepBar("train invertibility", postfix="loss", leave=True) as bar:
        result = train_predictor(
            args.data,
            args.out,
            args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            val_fraction=args.val_fraction,
            width=args.width,
            input_size=tuple(args.input_size),
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            resume=not args.no_resume,
            device=args.device,
            on_step=bar,
        )
    print(
        f"held-out MSE {result.val_mse:.5f} vs constant predictor {result.const_mse:.5f} "
        f"({result.improvement:.2f}x better) on {result.num_val} images; wrote {result.out_path}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (the application CLI calls :func:`register` instead)."""
    parser = argparse.ArgumentParser(prog="sam-editor-invertibility")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
