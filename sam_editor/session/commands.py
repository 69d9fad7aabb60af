"""`sam-editor apply RECIPE FOLDER --out DIR`: re-run an edit recipe on a folder of photos.

The recipe is the JSON an export writes into its PNG (`session.recipe`); each photo goes through
a fresh session exactly as in the window, and its full-size result is written as
`DIR/<name>.png` with the recipe inside. A photo that fails is reported and skipped: the batch
always runs to the end, and `DIR/apply_report.json` lists every file's outcome.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def cmd_apply(args: argparse.Namespace) -> int:
    from ..imageio import Problem, list_images, read_image
    from ..util import atomic_write
    from .models import load_bundle
    from .recipe import RecipeError, apply_recipe, check_generator, read_recipe

    try:
        recipe = read_recipe(args.recipe)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: {folder}: not a folder", file=sys.stderr)
        return 2
    paths = list_images(folder)
    if not paths:
        print(f"error: no images in {folder}", file=sys.stderr)
        return 2
    bundle = load_bundle(generator=args.generator, device=args.device)
    if isinstance(bundle, Problem):
        print(f"error: {bundle.message}", file=sys.stderr)
        return 2
    mismatch = check_generator(recipe, bundle)
    if mismatch is not None:
        print(f"error: {mismatch.message}; pass --generator with the recipe's generator", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    results: list[dict[str, Any]] = []
    bar = tqdm(paths, desc="apply", unit="photo", file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name, refresh=True)
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"file": path.name}
        try:
            image = read_image(path)
            if isinstance(image, Problem):
                raise RecipeError(image.message)
            session = apply_recipe(bundle, recipe, image, steps=args.steps)
            written = session.export_png(out / f"{path.stem}.png", full_size=recipe.full_size)
            if isinstance(written, Problem):
                raise RecipeError(written.message)
            entry.update(status="ok", output=str(written), size=list(image.size))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one bad photo never stops the batch; it is reported below
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}" if not isinstance(exc, RecipeError) else str(exc))
            bar.write(f"failed: {path.name}: {entry['error']}", file=sys.stderr)
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        results.append(entry)
    failed = [r for r in results if r["status"] != "ok"]
    report = {"recipe": str(args.recipe), "folder": str(folder), "done": len(results) - len(failed), "failed": len(failed), "files": results}
    atomic_write(out / "apply_report.json", json.dumps(report, indent=2).encode())
    print(f"{report['done']} done, {report['failed']} failed — report: {out / 'apply_report.json'}")
    for r in failed:
        print(f"  {r['file']}: {r['error']}")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("apply", help="re-run an edit recipe (an exported PNG or .json) on a folder of photos")
    p.add_argument("recipe", help="a PNG exported by SAM Editor (its recipe is inside) or a recipe .json")
    p.add_argument("folder", help="folder of photos")
    p.add_argument("--out", required=True, help="folder for the edited photos and apply_report.json")
    p.add_argument("--steps", type=int, default=None, help="inversion steps (default: the recipe's)")
    p.add_argument("--generator", default=None, help="generator file (default: official weights if present, else the demo bundle)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    p.set_defaults(func=cmd_apply)
