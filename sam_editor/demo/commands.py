"""`sam-editor demo …`: build and inspect the offline demo bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..runtime import init_torch

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "demo"


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="train or inspect the demo bundle (car world)")
    dsub = demo.add_subparsers(dest="demo_command", metavar="STEP", required=True)

    t = dsub.add_parser("train-gan", help="train the demo StyleGAN2 on the car world (resumable)")
    t.add_argument("--run-dir", default=str(REPO_WEIGHTS / "training"), help="training state (kept in the repo between sessions), log, sample grid")
    t.add_argument("--kimg", type=float, default=150.0, help="total thousands of images to show")
    t.add_argument("--minutes", type=float, default=None, help="stop after this long (state is saved)")
    t.add_argument("--export", default=str(REPO_WEIGHTS / "generator.pt"), help="EMA generator, native format")
    t.add_argument("--batch", type=int, default=16)
    t.set_defaults(func=_train_gan)

    s = dsub.add_parser("sample", help="write a grid of generator samples")
    s.add_argument("--generator", default=str(REPO_WEIGHTS / "generator.pt"))
    s.add_argument("--n", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--psi", type=float, default=1.0, help="truncation ψ")
    s.add_argument("--out", default="samples.png")
    s.set_defaults(func=_sample)


def _train_gan(args: argparse.Namespace) -> int:
    init_torch()
    from . import carworld
    from .train_gan import TrainSettings, train

    def reals(rng, n):
        images, _ = carworld.batch(rng, n, size=128)
        return carworld.to_tensor(images)

    train(args.run_dir, reals, kimg=args.kimg, minutes=args.minutes, export_to=args.export, settings=TrainSettings(batch=args.batch))
    return 0


def _sample(args: argparse.Namespace) -> int:
    import cv2

    from ..gan.native import load_generator
    from .train_gan import sample_grid

    G, meta = load_generator(args.generator)
    grid = sample_grid(G, n=args.n, seed=args.seed, psi=args.psi)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({args.n} samples, generator trained {meta.get('trained_kimg', '?')} kimg)")
    return 0
