"""`sam-editor apply RECIPE FOLDER --out DIR`: re-run an edit recipe on a folder of photos.

The recipe is the JSON an export writes into its PNG (`session.recipe`); each photo goes through
a fresh session exactly as in the window, and its full-size result is written as
`DIR/<name>.png` with the recipe inside. A photo that fails is reported and skipped: the batch
always runs to the end, and `DIR/apply_report.json` lists every file's outcome. Photos run as
batch items (`sam_editor.batch`: `--workers N`, `--ray-address`); a rerun skips finished ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class ApplyTask:
    """One photo of `sam-editor apply`, run by a batch worker (`sam_editor.batch`): the bundle and
    the recipe are loaded once per worker process; the PNG comes back as bytes for the driver
    to write (atomically, then its marker)."""

    recipe: str
    generator: str | None
    device: str | None
    steps: int | None

    def models(self) -> tuple[Any, Any]:
        from ..batch import worker_cache

        def build() -> tuple[Any, Any]:
            from ..imageio import Problem
            from .models import load_bundle
            from .recipe import read_recipe

            bundle = load_bundle(generator=self.generator, device=self.device)
            if isinstance(bundle, Problem):
                raise RuntimeError(bundle.message)
            return bundle, read_recipe(self.recipe)

        return worker_cache(("apply", self), build)

    def __call__(self, path: str) -> dict[str, Any]:
        import tempfile

        from ..batch import TaskError
        from ..imageio import Problem, read_image
        from .recipe import RecipeError, apply_recipe

        bundle, recipe = self.models()
        t0 = time.perf_counter()
        try:
            image = read_image(path)
            if isinstance(image, Problem):
                raise RecipeError(image.message)
            session = apply_recipe(bundle, recipe, image, steps=self.steps)
            with tempfile.TemporaryDirectory() as tmp:
                written = session.export_png(Path(tmp) / "out.png", full_size=recipe.full_size)
                if isinstance(written, Problem):
                    raise RecipeError(written.message)
                png = Path(written).read_bytes()
        except RecipeError as exc:
            raise TaskError(str(exc)) from exc
        return {"file": Path(path).name, "status": "ok", "size": list(image.size), "png": png,
                "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip


class ApplyStore:
    """`DIR/<stem>.png` (atomic) and then its marker in `DIR/.apply/<fingerprint>/`: a photo is
    finished when both are there, so a rerun of the same recipe skips it."""

    def __init__(self, out: Path, fingerprint: str) -> None:
        from ..batch import JsonStore

        self.out = out
        self.markers = JsonStore(out / ".apply" / fingerprint)

    def png_path(self, item: Any) -> Path:
        from .outputs import bounded_stem

        return self.out / f"{bounded_stem(Path(item.payload).stem, '.png')}.png"

    def done(self, item: Any) -> bool:
        return self.markers.done(item) and self.png_path(item).is_file()

    def write(self, item: Any, result: dict) -> None:
        from ..util import atomic_write

        png = result.pop("png")
        atomic_write(self.png_path(item), png)
        result["output"] = str(self.png_path(item))
        self.markers.write(item, result)


def cmd_apply(args: argparse.Namespace) -> int:
    import hashlib

    from ..batch import Item, run_batch
    from ..imageio import Problem, list_images
    from ..util import atomic_write
    from .models import load_bundle
    from .recipe import RecipeError, check_generator, read_recipe

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
    from .outputs import bounded_stem, writable_folder

    out = writable_folder(Path(args.out))  # before the batch: OutputError (exit 2) if not
    task = ApplyTask(str(args.recipe), args.generator, args.device, args.steps)
    from ..batch import worker_cache

    worker_cache(("apply", task), lambda: (bundle, recipe))  # this process already has them
    fingerprint = hashlib.sha256(Path(args.recipe).read_bytes() + repr((args.generator, args.steps)).encode()).hexdigest()[:10]
    store = ApplyStore(out, fingerprint)
    items = [Item(bounded_stem(re.sub(r"[^A-Za-z0-9._-]+", "_", p.name), ".json"), str(p)) for p in paths]
    from tqdm.auto import tqdm

    done_before = sum(store.done(it) for it in items)  # a rerun skips these: not part of this run's total
    if done_before:
        print(f"{done_before} of {len(items)} photos were done by an earlier run and are skipped", file=sys.stderr)
    bar = tqdm(total=len(items) - done_before, desc="apply", unit="photo", file=sys.stderr)

    def shown(item: Item, result: dict, _report: Any) -> None:
        bar.update(1)
        if "error" in result:
            bar.write(f"failed: {Path(item.payload).name}: {result['error']}", file=sys.stderr)

    report = run_batch(task, items, store, workers=args.workers, backend=args.backend, ray_address=args.ray_address,
                       retries=args.retries, on_result=shown)  # fmt: skip
    bar.close()
    results: list[dict[str, Any]] = []
    for it in items:
        if it.key in report.failed:
            results.append({"file": Path(it.payload).name, "status": "failed", "error": report.failed[it.key]})
        elif (r := store.markers.read(it.key)) is not None:
            results.append({**r, "resumed": it.key in report.skipped})
    failed = [r for r in results if r["status"] != "ok"]
    summary = {"recipe": str(args.recipe), "folder": str(folder), "done": len(results) - len(failed), "failed": len(failed),
               "batch": report.summary(), "files": results}  # fmt: skip
    atomic_write(out / "apply_report.json", json.dumps(summary, indent=2).encode())
    print(f"{summary['done']} done, {summary['failed']} failed — report: {out / 'apply_report.json'}")
    print(report.summary())
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
    from ..batch import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_apply)
