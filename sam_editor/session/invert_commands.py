"""`sam-editor invert …` and `sam-editor eval …` (Table 4.1 of the thesis).

They live with the session because they compose what sits below it: the bundle's models, the
invertibility predictor (`--latent-map auto`) and the inversion itself."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..util import StepBar, atomic_write

if TYPE_CHECKING:
    import numpy as np
    import torch


METHOD_TITLES = {
    "w": "StyleGAN2 (W)",
    "wplus": "StyleGAN2 (W+)",
    "gaussian": "Gaussian Prior",
    "pti": "PTI",
    "sam": "SAM - optimization (ours)",
    "f4": "F4 only",
    "f6": "F6 only",
    "f8": "F8 only",
    "f10": "F10 only",
}
LATENT_MAP_EXTENSIONS = (".json", ".npy", ".png", ".tif", ".tiff", ".bmp")


class CommandError(RuntimeError):
    """A user-facing problem with the command's inputs."""


# ---- shared helpers ------------------------------------------------------------------------
def demo_generator_path() -> Path:
    """The bundled demo generator (`weights/demo/generator.pt`, or `$SAM_EDITOR_DEMO_BUNDLE`)."""
    from ..demo.bundle import bundle_dir

    return bundle_dir() / "generator.pt"


def default_predictor_path(generator: str | Path) -> Path | None:
    """The invertibility predictor shipped beside a generator (the demo bundle has one)."""
    from .models import DEMO_PREDICTOR_FILES

    for name in DEMO_PREDICTOR_FILES:
        if (Path(generator).parent / name).is_file():
            return Path(generator).parent / name
    return None


def load_generator_file(path: str | Path | None, device: str) -> tuple[Any, str]:
    """→ (Generator on `device`, generator id = hash of the file); `path` None: the demo
    generator. Any checkpoint the loader refuses (unknown format, unsafe pickle, damaged file)
    becomes a `CommandError` with the loader's one-line reason."""
    from ..gan.checkpoints import load_generator_any
    from ..gan.native import CheckpointError
    from ..inversion.losses import file_fingerprint

    path = Path(path) if path is not None else demo_generator_path()
    if not path.is_file():
        raise CommandError(f"{path}: no such generator file")
    try:
        G, _ = load_generator_any(path)
    except (CheckpointError, ValueError, KeyError, RuntimeError, OSError, EOFError) as exc:
        raise CommandError(f"{path.name}: not a generator this app can load ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from exc
    return G.to(device).eval().requires_grad_(False), f"file-{file_fingerprint(path)}"


def load_encoder_for(args: argparse.Namespace, G: Any) -> Any:
    """The encoder for `--init` (None: start from the mean w). `--encoder FILE`, else the one
    shipped beside the generator (the demo bundle has `encoder.pt`)."""
    from ..inversion.encoder import EncoderError, load_encoder
    from .models import DEMO_ENCODER_FILES

    init = getattr(args, "init", "auto")
    if init == "mean":
        return None
    gen = Path(args.generator) if args.generator else demo_generator_path()
    path = Path(args.encoder) if getattr(args, "encoder", None) else next(
        (gen.parent / n for n in DEMO_ENCODER_FILES if (gen.parent / n).is_file()), None
    )
    if path is None:
        if init == "encoder":
            raise CommandError(f"--init encoder: no encoder beside {gen.name}; give --encoder FILE or train one (sam-editor demo train-encoder)")
        return None
    try:
        return load_encoder(path, device=next(G.parameters()).device, G=G)
    except EncoderError as exc:
        raise CommandError(str(exc)) from exc


def encoder_init(encoder: Any, G: Any, x: torch.Tensor, method: str, lmap: Any) -> tuple[Any, float]:
    """→ (φ̂ to start from or None, seconds the encoder took)."""
    if encoder is None:
        return None, 0.0
    import dataclasses
    import time

    from ..inversion.encoder import encode

    t0 = time.perf_counter()
    phi = encode(encoder, G, x, lmap if method == "sam" else None)
    if method != "sam":
        phi = dataclasses.replace(phi, delta_f={}, masks={})
    return phi, time.perf_counter() - t0


def load_latent_map_file(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A latent-map file → uint8 ranks (H, W) at `size`: `.json` (LatentMap.save), `.npy`
    (rank array 0 = W+ … 4 = F10) or a single-channel image holding ranks 0…4."""
    import numpy as np

    from ..inversion.latent_maps import to_rank_map

    suffix = path.suffix.lower()
    if not path.is_file():
        raise CommandError(f"{path}: no such latent-map file")
    if suffix == ".json":
        from ..invertibility.latent_map import LatentMap

        return to_rank_map(LatentMap.load(path), size)
    if suffix == ".npy":
        return to_rank_map(np.load(path, allow_pickle=False), size)
    import cv2

    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None or a.ndim != 2:
        raise CommandError(f"{path}: a latent-map image must be single-channel with ranks 0 (W+) … 4 (F10)")
    return to_rank_map(a, size)


def auto_latent_map(image: torch.Tensor, size: tuple[int, int], args: argparse.Namespace, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Predict a latent map (§3.1–3.2) with `--predictor FILE`, or the predictor shipped beside
    the generator (the demo bundle's). `box`: the photo's part of a letterboxed frame."""
    from ..inversion.images import tensor_to_rgb8
    from ..inversion.latent_maps import to_rank_map
    from ..invertibility.latent_map import tau_scale_beside
    from ..invertibility.pipeline import latent_map_for_image
    from ..invertibility.predictor import load_predictor
    from ..invertibility.segmenters import segmenter_for

    path = args.predictor or default_predictor_path(args.generator or demo_generator_path())
    if path is None:
        raise CommandError(
            "--latent-map auto predicts the map with the invertibility network (§3.1–3.2), and none "
            "lies beside the generator: pass --predictor FILE (trained with `sam-editor "
            "train-invertibility`, or the official SAM checkpoint), or use --latent-map FILE (.json "
            "from `sam-editor latent-map`, .npy/.png ranks 0=W+ … 4=F10) or --latent-map wplus."
        )
    try:
        predictor = load_predictor(path)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CommandError(f"{Path(path).name}: not an invertibility predictor this app can load ({exc})") from exc
    try:
        segmenter = segmenter_for(args.segmenter, args.segmenter_weights, path)
        tau = tau_scale_beside(path).default if args.tau is None else args.tau
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    lmap = latent_map_for_image(tensor_to_rgb8(image), predictor, segmenter, tau, keep_pixels=False, box=box)
    return to_rank_map(lmap, size)


def resolve_latent_map(
    spec: str | None, image: torch.Tensor, size: tuple[int, int], args: argparse.Namespace, box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    import numpy as np

    if spec is None or spec.lower() == "auto":
        return auto_latent_map(image, size, args, box)
    if spec.lower() in ("wplus", "w+"):
        return np.zeros(size, np.uint8)
    return load_latent_map_file(Path(spec), size)


def parse_size(text: str | None) -> Any:
    """'auto' | 'full' | 'HxW' → settings.optimise_size."""
    if text is None or text == "auto":
        return "auto"
    if text == "full":
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--optimise-size expects auto, full or HxW, got {text!r}") from exc
    return (h, w)


def _settings(args: argparse.Namespace):
    from ..inversion.settings import InversionSettings

    kw: dict[str, Any] = {"optimise_size": parse_size(args.optimise_size)}
    if args.steps is not None:
        kw["steps"] = args.steps
    return InversionSettings(**kw)


def _metrics(perceptual, rec: torch.Tensor, x: torch.Tensor, valid: torch.Tensor | None = None) -> dict[str, Any]:
    """PSNR and the perceptual distance of a reconstruction, over the photo's pixels `valid`
    (1, 1, H, W) of a letterboxed frame (None: all pixels)."""
    import torch

    from ..inversion.images import psnr

    with torch.no_grad():
        rec = rec.to(x.device)
        d = perceptual.distance(rec, x) if valid is None else perceptual.masked_distance(rec, x, valid.to(x.device))
        d = float(d.mean())
    return {
        "psnr": float(psnr(rec.cpu(), x.cpu(), None if valid is None else valid.cpu()).mean()),
        "lpips": d if perceptual.is_lpips else None,
        "perceptual": d,
        "perceptual_metric": perceptual.name,
    }


def _photo_valid(placement: Any) -> torch.Tensor | None:
    """(1, 1, H, W) float: the photo's pixels in its letterboxed frame (None: it fills the frame)."""
    import torch

    if placement.full:
        return None
    return torch.from_numpy(placement.mask()).float()[None, None]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generator", default=None, help="generator file (native .pt or an official checkpoint; default: the demo bundle's)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default 1001)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    p.add_argument("--optimise-size", default="auto", help="auto (official: 256² frame) | full | HxW")
    p.add_argument("--predictor", default=None, help="invertibility predictor for --latent-map auto (default: the one beside the generator)")
    p.add_argument("--segmenter", default="auto", help="segmenter for --latent-map auto: auto (the bundle's), overseg, deeplab, carworld, ade20k")
    p.add_argument("--segmenter-weights", default=None)
    p.add_argument("--tau", type=float, default=None,
                   help="invertibility threshold τ for --latent-map auto (default: the bundle's, tau.json beside the predictor)")
    p.add_argument(
        "--init", default="auto", choices=("auto", "encoder", "mean"),
        help="start point: the encoder's φ (hybrid; with --steps 0 the encoder alone), the mean w, "
        "or auto = the encoder when one is found",
    )
    p.add_argument("--encoder", default=None, help="encoder file for --init (default: encoder.pt beside the generator)")


# ---- invert --------------------------------------------------------------------------------
def cmd_invert(args: argparse.Namespace) -> int:
    from ..inversion.images import ImageLoadError, load_photo, save_png
    from ..inversion.optimise import invert
    from ..inversion.settings import METHODS
    from ..perceptual import default_perceptual
    from ..runtime import default_device
    from .family_commands import FAMILY_METHODS, cmd_invert_family, is_family_generator
    from .outputs import invert_outputs

    if is_family_generator(args.generator):  # a class-conditional family (BigGAN-deep) has its own spaces
        return cmd_invert_family(args)
    if args.method in FAMILY_METHODS:
        print(f"error: method {args.method} is BigGAN-deep's (Z, Z+, F2); this generator inverts with "
              f"{', '.join(METHODS)}", file=sys.stderr)  # fmt: skip
        return 2
    device = args.device or str(default_device())
    try:
        G, gen_id = load_generator_file(args.generator, device)
        size = G.cfg.output_size
        x, placement = load_photo(args.image, size)
        x = x[None].to(device)
        lmap = resolve_latent_map(args.latent_map, x[0], size, args, placement.box) if args.method == "sam" else None
        init_phi, enc_seconds = encoder_init(load_encoder_for(args, G), G, x, args.method, lmap)
        paths = invert_outputs(args.out, args.image, args.phi_format)  # before the job, not after it
    except (CommandError, ImageLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    valid = _photo_valid(placement)
    perceptual = default_perceptual(device)
    if perceptual.warning:
        print(f"note: {perceptual.warning}", file=sys.stderr)
    with StepBar(f"{args.method} {Path(args.image).name}", postfix="total") as bar:
        result = invert(G, x, args.method, lmap, _settings(args), on_step=bar, seed=args.seed,
                        perceptual=perceptual, generator_id=gen_id, valid=valid, init_phi=init_phi)  # fmt: skip
    rows, cols = placement.slices()
    save_png(paths["reconstruction"], result.reconstruction[0][:, rows, cols])
    phi_path = result.phi.save(paths["phi"])
    report: dict[str, Any] = {
        "image": str(args.image),
        "method": args.method,
        **_metrics(perceptual, result.reconstruction, x, valid),
        "seconds": result.seconds + enc_seconds,
        "init": result.phi.metadata.get("init"),
        "steps": len(result.losses),
        "best_step": result.best_step,
        "cancelled": result.cancelled,
        "phi": str(phi_path),
        "placement": placement.to_json(),
    }
    if result.generators:
        from ..gan.native import save_generator

        gpath = paths["pti_generator"]
        save_generator(gpath, result.generators[0], {"pti_of": str(args.image), "base_generator": gen_id})
        report["pti_generator"] = str(gpath)
    atomic_write(paths["metrics"], json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


# ---- eval (Table 4.1) ---------------------------------------------------------------------
def format_table(rows: list[dict[str, Any]], metric_name: str) -> str:
    """Markdown in the form of Table 4.1: Method | LPIPS (↓) | PSNR (↑) | s / image."""
    head = "LPIPS (↓)" if metric_name == "lpips-vgg" else f"{metric_name} (↓)"
    lines = [f"| Method | {head} | PSNR (↑) | s / image | images |", "|---|---|---|---|---|"]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['title']} | – | – | – | {r['error']} |")
        else:
            lines.append(
                f"| {r['title']} | {r['perceptual']:.3f} | {r['psnr']:.2f} | {r['seconds']:.2f} | {r['images']} |"
            )
    return "\n".join(lines)


def _eval_latent_map(path: Path, x: torch.Tensor, placement: Any, size: tuple[int, int], args: argparse.Namespace) -> np.ndarray:
    """SAM's latent map for one eval image: its file in `--latent-maps DIR`, else `--latent-map`."""
    spec = args.latent_map
    if args.latent_maps:
        found = [Path(args.latent_maps) / f"{path.stem}{e}" for e in LATENT_MAP_EXTENSIONS]
        found = [f for f in found if f.is_file()]
        if not found:
            raise CommandError(f"no latent map for {path.name} in {args.latent_maps}")
        spec = str(found[0])
    return resolve_latent_map(spec or "auto", x[0], size, args, placement.box)


def _eval_image(
    G: Any, gen_id: str, method: str, path: Path, args: argparse.Namespace, settings: Any, perceptual: Any, encoder: Any = None,
    quiet: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Invert one image with one method → its row of per-image metrics (photo pixels only)."""
    from ..inversion.images import load_photo
    from ..inversion.optimise import invert

    device = next(G.parameters()).device
    size = G.cfg.output_size
    x, placement = load_photo(path, size)
    x = x[None].to(device)
    valid = _photo_valid(placement)
    lmap = _eval_latent_map(path, x, placement, size, args) if method == "sam" else None
    init_phi, enc_seconds = encoder_init(encoder, G, x, method, lmap)
    with StepBar(f"{method} {path.name}", postfix="total") as bar:
        res = invert(G, x, method, lmap, settings, on_step=None if quiet else bar, seed=args.seed, perceptual=perceptual,
                     generator_id=gen_id, valid=valid, init_phi=init_phi)  # fmt: skip
    metrics = _metrics(perceptual, res.reconstruction, x, valid)
    return {"image": path.name, "method": method, **metrics, "seconds": res.seconds + enc_seconds}


_JOB_KEYS = ("generator", "steps", "seed", "device", "optimise_size", "predictor", "segmenter", "segmenter_weights",
             "tau", "init", "encoder", "latent_maps", "latent_map")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class EvalTask:
    """One (method, image) of `sam-editor eval`, run by a batch worker (`sam_editor.batch`): the
    generator, encoder and perceptual metric are loaded once per worker process."""

    options: tuple[tuple[str, Any], ...]  # the eval arguments that shape a result
    quiet: bool = True

    @classmethod
    def from_args(cls, args: argparse.Namespace, quiet: bool) -> EvalTask:
        return cls(tuple((k, getattr(args, k, None)) for k in _JOB_KEYS), quiet)

    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self.options, default=str).encode()).hexdigest()[:10]

    def models(self) -> tuple[Any, ...]:
        from ..batch import worker_cache

        def build() -> tuple[Any, ...]:
            from ..perceptual import default_perceptual
            from ..runtime import default_device

            args = argparse.Namespace(**dict(self.options))
            device = args.device or str(default_device())
            G, gen_id = load_generator_file(args.generator, device)
            return args, G, gen_id, load_encoder_for(args, G), default_perceptual(device), _settings(args)

        return worker_cache(("eval", self.options), build)

    def __call__(self, payload: tuple[str, str]) -> dict[str, Any]:
        from ..batch import TaskError
        from ..inversion.images import ImageLoadError

        method, path = payload
        try:
            args, G, gen_id, encoder, perceptual, settings = self.models()
            return _eval_image(G, gen_id, method, Path(path), args, settings, perceptual, encoder, quiet=self.quiet)
        except (CommandError, ImageLoadError, ValueError, OSError) as exc:
            raise TaskError(str(exc)) from exc


def _item_key(method: str, path: Path) -> str:
    import re

    from .outputs import bounded_stem

    return bounded_stem(f"{method}__{re.sub(r'[^A-Za-z0-9._-]+', '_', path.name)}", ".json")


def _eval_row(method: str, scores: list[dict[str, Any]], error: str | None, perceptual: Any) -> dict[str, Any]:
    """One row of Table 4.1: the means over the images this method inverted."""
    import numpy as np

    row: dict[str, Any] = {"method": method, "title": METHOD_TITLES[method], "images": len(scores)}
    if not scores:
        row["error"] = error or "no images inverted"
        return row
    for k in ("perceptual", "psnr", "seconds"):
        row[k] = float(np.mean([s[k] for s in scores]))
    row["lpips"] = row["perceptual"] if perceptual.is_lpips else None
    return row


def cmd_eval(args: argparse.Namespace) -> int:
    from ..batch import Item, JsonStore, run_batch
    from ..inversion.images import ImageLoadError, list_images
    from ..inversion.settings import METHODS
    from ..perceptual import default_perceptual
    from ..runtime import default_device

    device = args.device or str(default_device())
    methods = [m.strip().lower() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        print(f"error: unknown methods {bad}; choose from {', '.join(METHODS)}", file=sys.stderr)
        return 2
    try:
        G, gen_id = load_generator_file(args.generator, device)
        encoder = load_encoder_for(args, G)
        paths = list_images(args.folder)[: args.limit or None]
    except (CommandError, ImageLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not paths:
        print(f"error: no images in {args.folder}", file=sys.stderr)
        return 2
    perceptual = default_perceptual(device)
    if perceptual.warning:
        print(f"note: {perceptual.warning}", file=sys.stderr)
    settings = _settings(args)
    workers = getattr(args, "workers", 1)
    task = EvalTask.from_args(args, quiet=workers > 1 or bool(getattr(args, "ray_address", None)))
    from .outputs import writable_folder

    store = JsonStore(writable_folder(Path(args.out)) / f"items-{task.fingerprint()}")  # per-item results: a rerun resumes
    from ..batch import worker_cache

    worker_cache(("eval", task.options), lambda: (argparse.Namespace(**dict(task.options)), G, gen_id, encoder, perceptual, settings))
    items = [Item(_item_key(m, p), (m, str(p))) for m in methods for p in paths]

    def shown(item: Item, result: dict, report: Any) -> None:
        if "error" in result:
            print(f"error ({item.payload[0]}, {Path(item.payload[1]).name}): {result['error']}", file=sys.stderr)

    report = run_batch(task, items, store, workers=workers, backend=getattr(args, "backend", "auto"),
                       ray_address=getattr(args, "ray_address", None), retries=getattr(args, "retries", 3),
                       on_result=shown)  # fmt: skip
    print(report.summary(), file=sys.stderr)
    per_image = store.results(items)
    rows: list[dict[str, Any]] = []
    for method in methods:
        scores = [r for r in per_image if r["method"] == method]
        errors = [report.failed[it.key] for it in items if it.payload[0] == method and it.key in report.failed]
        rows.append(_eval_row(method, scores, errors[0] if errors else None, perceptual))
    table = format_table(rows, perceptual.name)
    print(table)
    print(f"start point: {'the mean w' if encoder is None else 'the encoder (--init mean to start from the mean w)'}")
    summary = {
        "generator": str(args.generator or demo_generator_path()),
        "generator_id": gen_id,
        "perceptual_metric": perceptual.name,
        "init": "mean_w" if encoder is None else "encoder",
        "settings": settings.to_dict(),
        "rows": rows,
        "per_image": per_image,
        "batch": {"backend": report.backend, "workers": report.workers, "done": len(report.done),
                  "resumed": len(report.skipped), "failed": report.failed, "seconds": report.seconds},  # fmt: skip
    }
    atomic_write(Path(args.out) / "eval.json", json.dumps(summary, indent=2))
    atomic_write(Path(args.out) / "eval.md", table + "\n")
    return 0 if not report.failed and all(not r.get("error") for r in rows) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..inversion.settings import METHODS
    from .family_commands import FAMILY_METHODS

    p = subparsers.add_parser("invert", help="invert one image into the generator (§3.3)")
    p.add_argument("image")
    p.add_argument("--method", default="sam", choices=(*METHODS, *FAMILY_METHODS),
                   help="StyleGAN2: w, wplus, f4…f10, gaussian, pti, sam; BigGAN-deep: z, z+, f2, sam")
    p.add_argument("--class", dest="class_index", default=None,
                   help="BigGAN-deep: the ImageNet class to invert with, index or name (default 817 sports car; class 0 of a demo)")
    p.add_argument("--truncation", type=float, default=1.0, help="BigGAN-deep: truncation ψ in (0, 1] (default 1)")
    p.add_argument("--latent-map", default="auto", help="auto (predicted, the default; BigGAN-deep: its invertibility.pt, else the measured Z+ error) | FILE (.json/.npy/.png) | wplus (method sam); BigGAN-deep also predicted | measured")
    p.add_argument("--out", default="inversion_out", help="folder for all outputs, or NAME.pt / NAME.npz: φ at that name, the other outputs beside it")
    p.add_argument("--phi-format", default="pt", choices=("pt", "npz"))
    _add_common(p)
    p.set_defaults(func=cmd_invert)

    e = subparsers.add_parser("eval", help="compare inversion methods on a folder (Table 4.1)")
    e.add_argument("folder")
    e.add_argument("--methods", default="w,wplus,gaussian,pti,sam")
    e.add_argument("--latent-maps", default=None, help="folder of latent maps named like the images (method sam)")
    e.add_argument("--latent-map", default=None, help="one map spec for all images: auto | wplus | FILE")
    e.add_argument("--limit", type=int, default=0, help="use only the first N images")
    e.add_argument("--out", default="eval_out", help="eval.json, eval.md and the per-item results (a rerun resumes)")
    _add_common(e)
    from ..batch import add_arguments

    add_arguments(e)
    e.set_defaults(func=cmd_eval)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m sam_editor.session.invert_commands …`)."""
    from ..runtime import init_torch

    init_torch()
    parser = argparse.ArgumentParser(prog="sam-editor")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
