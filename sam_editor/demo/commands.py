"""`sam-editor demo …`: build and inspect the offline demo bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runtime import init_torch

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "demo"


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="train or inspect the demo bundle (car world)")
    dsub = demo.add_subparsers(dest="demo_command", metavar="STEP", required=True)

    t = dsub.add_parser("train-gan", help="train the demo StyleGAN2 on the car world (resumable)")
    t.add_argument(
        "--run-dir",
        default=str(REPO_WEIGHTS / "training"),
        help="training state (kept in the repo between sessions), log, sample grid",
    )
    t.add_argument("--kimg", type=float, default=250.0, help="total thousands of images to show")
    t.add_argument("--minutes", type=float, default=None, help="stop after this long (state is saved)")
    t.add_argument("--export", default=str(REPO_WEIGHTS / "generator.pt"), help="EMA generator, native format")
    t.add_argument("--batch", type=int, default=16, help="EMA half-life scales with it (10 kimg per 32 images)")
    t.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (auto: cuda when there is one)")
    t.add_argument(
        "--workers", type=int, default=None, help="processes rendering real batches ahead (default: 0 on CPU, 8 on a GPU)"
    )
    t.set_defaults(func=_train_gan)

    b = dsub.add_parser("train-biggan", help="train a small class-conditional BigGAN-deep on the car world (body types as classes; GPU)")
    b.add_argument("--run-dir", default="runs/demo_biggan", help="training state (resumable), log")
    b.add_argument("--kimg", type=float, default=500.0, help="total thousands of images to show")
    b.add_argument("--minutes", type=float, default=None, help="stop after this long (state is saved)")
    b.add_argument("--export", default="weights/demo/biggan", help="port-format folder (config.json + pytorch_model.bin)")
    b.add_argument("--batch", type=int, default=32)
    b.add_argument("--device", default="auto", help="cpu, cuda … (auto: cuda when there is one)")
    b.set_defaults(func=_train_biggan)

    p = dsub.add_parser("train-predictor", help="invert cluttered car-world images in every space, train S_l (§3.1)")
    p.add_argument("--generator", default=str(REPO_WEIGHTS / "generator.pt"))
    p.add_argument("--work-dir", default="runs/demo_predictor", help="images and e_l targets (resumable)")
    p.add_argument("--n-images", type=int, default=200)
    p.add_argument("--inversion-steps", type=int, default=200, help="optimisation steps per space and image")
    p.add_argument("--train-steps", type=int, default=2000)
    p.add_argument(
        "--seed", type=int, default=1000, help="seed of the cluttered images (training uses others than the eval set)"
    )
    p.add_argument("--photos", nargs="*", default=(), help="photos to cut clutter patches from")
    p.add_argument("--out", default=str(REPO_WEIGHTS / "invertibility.pt"))
    p.add_argument(
        "--train-from", default=None, metavar="FOLDER",
        help="train on these photos (e.g. your own car photos with --generator the official one) instead of the car world",
    )  # fmt: skip
    p.add_argument("--per-item", type=int, default=4, help="images per batch item (target generation)")
    from ..batch import add_arguments

    add_arguments(p)
    p.set_defaults(func=_train_predictor)

    e = dsub.add_parser("train-encoder", help="train the SAM encoder E(x, latent map) → φ for instant inversions (resumable)")
    e.add_argument("--generator", default=str(REPO_WEIGHTS / "generator.pt"))
    e.add_argument("--predictor", default=str(REPO_WEIGHTS / "invertibility.pt"), help="gives the training maps")
    e.add_argument("--work-dir", default="runs/demo_encoder", help="renders, their latent maps, training state")
    e.add_argument("--n-images", type=int, default=2000, help="cluttered renders in the pool")
    e.add_argument("--heldout", type=int, default=0, help="last pool images kept out of training")
    e.add_argument("--seed", type=int, default=20000, help="seed of the renders (the eval sets use 5000)")
    e.add_argument("--photos", nargs="*", default=(), help="photos to cut clutter patches from")
    e.add_argument("--steps", type=int, default=4000)
    e.add_argument("--batch", type=int, default=8)
    e.add_argument("--minutes", type=float, default=None, help="stop after this long (state is saved; rerun resumes)")
    e.add_argument("--device", default="auto", help="cpu, cuda … (auto: cuda when there is one)")
    e.add_argument("--out", default=str(REPO_WEIGHTS / "encoder.pt"))
    e.set_defaults(func=_train_encoder)

    sg = dsub.add_parser("train-segmenter", help="train the demo semantic segmenter on the car world's labels (resumable)")
    sg.add_argument("--work-dir", default="runs/demo_segmenter", help="training state (a rerun resumes)")
    sg.add_argument("--steps", type=int, default=2400)
    sg.add_argument("--batch", type=int, default=8)
    sg.add_argument("--minutes", type=float, default=None, help="stop after this long (state is saved; rerun resumes)")
    sg.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    sg.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 …")
    sg.add_argument("--out", default=str(REPO_WEIGHTS / "segmenter.pt"))
    sg.set_defaults(func=_train_segmenter)

    ct = dsub.add_parser(
        "calibrate-tau",
        help="choose the bundle's τ for the metric its predictor predicts (procedure: sam_editor/demo/calibrate_tau.py)",
    )
    ct.add_argument("--predictor", default=str(REPO_WEIGHTS / "invertibility.pt"))
    ct.add_argument("--segmenter", default="auto", help="auto (segmenter.pt beside the predictor, else overseg), overseg, …")
    ct.add_argument("--n", type=int, default=80, help="held-out cluttered renders")
    ct.add_argument("--seed", type=int, default=8_300_000, help="their seed (no training set uses it)")
    ct.add_argument("--photos", nargs="*", default=(), help="photos to cut clutter patches from (held-out ones)")
    ct.add_argument("--metric", default="auto", help="the predictor's error metric (auto: from its metadata / the manifest)")
    ct.add_argument("--out", default=None, help="tau.json to write (default: beside the predictor)")
    ct.add_argument("--force", action="store_true", help="write even for an LPIPS-VGG predictor (the paper's 0.225 applies)")
    ct.set_defaults(func=_calibrate_tau)

    rp = dsub.add_parser(
        "refine-predictor",
        help="retrain the predictor's W+ and F4 heads on targets from the app's inversion (encoder start; resumable)",
    )
    rp.add_argument("--generator", default=str(REPO_WEIGHTS / "generator.pt"))
    rp.add_argument("--encoder", default=str(REPO_WEIGHTS / "encoder.pt"))
    rp.add_argument("--predictor", default=str(REPO_WEIGHTS / "invertibility.pt"))
    rp.add_argument("--work-dir", default="runs/demo_predictor_app_targets")
    rp.add_argument("--n-images", type=int, default=64)
    rp.add_argument("--seed", type=int, default=1000, help="the predictor's own training images")
    rp.add_argument("--photos", nargs="*", default=(), help="photos for clutter patches (the predictor's: a–d)")
    rp.add_argument("--steps", type=int, default=200, help="optimisation steps after the encoder")
    rp.add_argument("--train-steps", type=int, default=600)
    rp.add_argument("--threads", type=int, default=None)
    rp.add_argument("--out", default=str(REPO_WEIGHTS / "invertibility.pt"))
    rp.set_defaults(func=_refine_predictor)

    m = dsub.add_parser("manifest", help="hash the bundle files into weights/demo/manifest.json")
    m.set_defaults(func=_manifest)

    s = dsub.add_parser("sample", help="write a grid of generator samples")
    s.add_argument("--generator", default=str(REPO_WEIGHTS / "generator.pt"))
    s.add_argument("--n", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--psi", type=float, default=1.0, help="truncation ψ")
    s.add_argument("--out", default="samples.png")
    s.set_defaults(func=_sample)

    q = dsub.add_parser("quality", help="FD / KID of generator samples vs the car world, in tiny-CLIP features")
    q.add_argument(
        "--generator", nargs="+", default=[str(REPO_WEIGHTS / "generator.pt")], help="one or more generator files"
    )
    q.add_argument("--n", type=int, default=1000, help="real and generated images per set")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument(
        "--clip", default="demo", help="feature encoder: the bundle's tiny CLIP, or a folder with another one"
    )
    q.set_defaults(func=_quality)

    g = dsub.add_parser(
        "probe-ganspace", help="measure what each GANSpace component does (car position, size, colour, sky)"
    )
    g.add_argument("--generator", default=str(REPO_WEIGHTS / "generator.pt"))
    g.add_argument("--k", type=int, default=8, help="top components to probe")
    g.add_argument("--n", type=int, default=32, help="samples per component")
    g.add_argument("--strength", type=float, default=2.0, help="± this many σ")
    g.add_argument("--samples", type=int, default=1_000_000, help="w samples for the PCA (the app uses 10⁶)")
    g.add_argument("--layers", default=None, help="style rows to edit, e.g. 0-1 (default: all)")
    g.set_defaults(func=_probe_ganspace)

    pr = dsub.add_parser("presets", help="name GANSpace presets for the demo generator from measured effects → presets.json")
    pr.add_argument("--generator", default=str(REPO_WEIGHTS / "generator.pt"))
    pr.add_argument("--k", type=int, default=12, help="top components to probe")
    pr.add_argument("--n", type=int, default=32, help="samples per component")
    pr.add_argument("--strength", type=float, default=2.0, help="± this many σ (also the presets' strength)")
    pr.add_argument("--samples", type=int, default=1_000_000, help="w samples for the PCA (the app uses 10⁶)")
    pr.add_argument("--out", default=None, help="default: presets.json beside the generator")
    pr.set_defaults(func=_presets)


def _train_gan(args: argparse.Namespace) -> int:
    init_torch()
    import functools

    from ..runtime import default_device
    from . import carworld
    from .train_gan import TrainSettings, train

    device = default_device() if args.device == "auto" else args.device
    workers = args.workers if args.workers is not None else (0 if str(device) == "cpu" else 8)
    train(
        args.run_dir,
        functools.partial(carworld.real_images, size=128),
        kimg=args.kimg,
        minutes=args.minutes,
        export_to=args.export,
        settings=TrainSettings(batch=args.batch, ema_kimg=args.batch * 10 / 32),
        device=device,
        workers=workers,
    )
    return 0


def _train_biggan(args: argparse.Namespace) -> int:
    init_torch()
    from ..runtime import default_device
    from .train_biggan import BigGANTrainSettings, train_biggan

    device = default_device() if args.device == "auto" else args.device
    train_biggan(args.run_dir, kimg=args.kimg, minutes=args.minutes, export_to=args.export,
                 settings=BigGANTrainSettings(batch=args.batch), device=device)  # fmt: skip
    return 0


def _train_predictor(args: argparse.Namespace) -> int:
    init_torch()
    from ..gan.checkpoints import load_generator_any
    from ..invertibility.data import list_images
    from ..invertibility.train import train_predictor
    from ..util import StepBar
    from .train_predictor import build_targets_batch, make_cluttered_images

    G, _ = load_generator_any(args.generator)
    work = Path(args.work_dir)
    if args.train_from:
        images = list_images(args.train_from)
        if not images:
            print(f"error: no images in {args.train_from}", file=sys.stderr)
            return 2
    else:
        images = list_images(make_cluttered_images(work / "images", args.n_images, args.seed, G.cfg.resolution, args.photos))
    with StepBar("invertibility targets", unit="item", leave=True) as bar:
        count = {"n": 0}

        def progress(item, result, report) -> None:  # noqa: ANN001
            count["n"] += 1
            bar(count["n"], max(1, -(-len(images) // args.per_item)), {}, None)
            if "error" in result:
                print(f"\nfailed: {item.payload}: {result['error']}", file=sys.stderr)

        report = build_targets_batch(args.generator, images, work / "targets", args.inversion_steps, per_item=args.per_item,
                                     workers=args.workers, backend=args.backend, ray_address=args.ray_address,
                                     retries=args.retries, on_result=progress)  # fmt: skip
    print(report.summary())
    if report.stopped:
        return 1
    with StepBar("train predictor", postfix="loss", leave=True) as bar:
        result = train_predictor(work / "targets", args.out, steps=args.train_steps, input_size=G.cfg.output_size, on_step=bar)
    print(result)
    return 1 if report.failed else 0


def _train_encoder(args: argparse.Namespace) -> int:
    import json

    init_torch()
    import torch

    from ..gan.checkpoints import load_generator_any
    from ..invertibility.predictor import load_predictor
    from ..invertibility.segmenters import make_segmenter
    from ..perceptual import default_perceptual
    from ..runtime import default_device
    from ..util import StepBar
    from .bundle import write_manifest
    from .train_encoder import EncoderTraining, Pool, prepare_pool, train_encoder
    from .train_predictor import make_cluttered_images

    dev = default_device() if args.device == "auto" else torch.device(args.device)
    G, _ = load_generator_any(args.generator)
    work = Path(args.work_dir)
    images = make_cluttered_images(work / "images", args.n_images, args.seed, G.cfg.resolution, args.photos)
    predictor = load_predictor(args.predictor)
    with StepBar("latent maps of the renders", unit="img", leave=True) as bar:
        cache = prepare_pool(images, work / "maps.npz", predictor, make_segmenter("overseg"), on_step=bar)
    pool = Pool.load(images, cache)
    settings = EncoderTraining(steps=args.steps, batch=args.batch)
    with StepBar("train encoder", postfix="loss", leave=True) as bar:
        figures = train_encoder(
            G, pool, work, Path(args.out), settings, default_perceptual(dev), dev, on_step=bar,
            max_seconds=None if args.minutes is None else args.minutes * 60, heldout=args.heldout,
        )
    print(json.dumps({k: v for k, v in figures.items() if k != "settings"}))
    if Path(args.out).resolve().parent == REPO_WEIGHTS.resolve():
        write_manifest(figures={"encoder": figures})
    return 0


def _train_segmenter(args: argparse.Namespace) -> int:
    import json

    init_torch()
    import torch

    from ..util import StepBar
    from .bundle import write_manifest
    from .train_segmenter import SegmenterTraining, train_segmenter

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = SegmenterTraining(steps=args.steps, batch=args.batch)
    with StepBar("train segmenter", postfix="loss", leave=True) as bar:
        figures = train_segmenter(
            Path(args.work_dir), Path(args.out), cfg, torch.device(args.device), on_step=bar,
            max_seconds=None if args.minutes is None else args.minutes * 60,
        )
    figures["command"] = (f"sam-editor demo train-segmenter --steps {args.steps} --batch {args.batch}"
                          f" --device {args.device}" + (f" --threads {args.threads}" if args.threads else ""))
    print(json.dumps({k: v for k, v in figures.items() if k != "settings"}))
    if Path(args.out).resolve().parent == REPO_WEIGHTS.resolve():
        write_manifest(figures={"segmenter": figures})
    return 0


def _refine_predictor(args: argparse.Namespace) -> int:
    import json
    import time

    init_torch()
    import torch

    from ..gan.checkpoints import load_generator_any
    from ..inversion.encoder import load_encoder
    from ..invertibility.predictor import load_predictor, save_predictor
    from ..util import StepBar
    from .bundle import write_manifest
    from .refine_predictor import app_targets, finetune_heads, load_set, region_bias

    if args.threads:
        torch.set_num_threads(args.threads)
    G, _ = load_generator_any(args.generator)
    G = G.eval().requires_grad_(False)
    encoder = load_encoder(args.encoder, G=G)
    model = load_predictor(args.predictor)
    work = Path(args.work_dir)
    images, classes = load_set(work, args.n_images, args.seed, G.cfg.resolution, args.photos)
    t0 = time.perf_counter()
    with StepBar("W+ and F4 targets (encoder start)", unit="img", leave=True) as bar:
        targets = app_targets(G, encoder, images, work, args.steps, on_batch=lambda d, t: bar(d, t))
    target_s = time.perf_counter() - t0
    bias_before = region_bias(model, images, targets, classes)
    fit = finetune_heads(model, images, targets, steps=args.train_steps)
    bias_after = region_bias(model, images, targets, classes)
    meta = dict(getattr(model, "meta", {}))
    meta["refined_heads"] = {
        "heads": ["W+", "F4"], "targets": f"encoder start + {args.steps} steps, {args.n_images} renders seed {args.seed}",
        "target_minutes": round(target_s / 60, 1), **fit, "region_bias_before": bias_before, "region_bias_after": bias_after,
    }
    save_predictor(model, args.out, meta)
    print(json.dumps(meta["refined_heads"], indent=1))
    if Path(args.out).resolve().parent == REPO_WEIGHTS.resolve():
        write_manifest(figures={"predictor": {"refined_heads": meta["refined_heads"]}})
    return 0


def _predictor_metric(predictor, path: Path) -> str:
    """'l2+SSIM' when the predictor (or the bundle manifest's entry for it) says its targets were
    the l2+SSIM fallback, else 'LPIPS-VGG' (the paper's metric)."""
    from .bundle import read_manifest

    text = str(getattr(predictor, "meta", {}))
    manifest = read_manifest(path.parent) or {}
    text += " ".join(str(f.get("figures", {}).get("targets", "")) for f in manifest.get("files", []) if f["path"] == path.name)
    return "l2+SSIM" if "l2+ssim" in text.lower() else "LPIPS-VGG"


def _calibrate_tau(args: argparse.Namespace) -> int:
    import json

    init_torch()
    from ..invertibility.latent_map import TAU_FILE
    from ..invertibility.predictor import load_predictor
    from ..invertibility.segmenters import segmenter_for
    from .bundle import write_manifest
    from .calibrate_tau import calibrate, write_tau_file

    pred_path = Path(args.predictor)
    predictor = load_predictor(pred_path)
    segmenter = segmenter_for(args.segmenter, None, pred_path)
    metric = _predictor_metric(predictor, pred_path) if args.metric == "auto" else args.metric
    result, _ = calibrate(predictor, segmenter, args.n, args.seed, photos=args.photos)
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=1))
    if metric.lower().startswith("lpips") and not args.force:
        print(f"{pred_path.name} predicts LPIPS-VGG error: the paper's τ 0.225 applies, nothing written (--force writes)")
        return 0
    out = Path(args.out) if args.out else pred_path.parent / TAU_FILE
    command = f"sam-editor demo calibrate-tau --n {args.n} --seed {args.seed}" + (" --photos …" if args.photos else "")
    write_tau_file(out, metric, result, command)
    print(f"τ = {result['tau']:g} on {metric} (range {result['range'][0]:g}–{result['range'][1]:g}); wrote {out}")
    if out.resolve().parent == REPO_WEIGHTS.resolve():
        write_manifest(figures={"tau": {"metric": metric, "tau": result["tau"], "range": result["range"],
                                        **result["at_tau"], "heldout": result["heldout"], "segmenter": result["segmenter"]}})
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from .bundle import bundle_dir, write_manifest

    m = write_manifest()
    for f in m["files"]:
        print(f"{f['role']:12s} {f['path']:22s} {f['size'] / 1e6:6.2f} MB  {f['sha256'][:12]}")
    print(f"wrote {bundle_dir() / 'manifest.json'}")
    return 0


def _quality(args: argparse.Namespace) -> int:
    import json

    init_torch()
    from ..edits.clip_models import load_clip
    from ..gan.checkpoints import load_generator_any
    from .quality import measure

    clip = load_clip(args.clip)
    for path in args.generator:
        G, meta = load_generator_any(path)
        G.eval().requires_grad_(False)
        report = {
            "generator": path,
            "trained_kimg": meta.get("trained_kimg"),
            "encoder": args.clip,
            **measure(G, clip.encode_image, args.n, args.seed),
        }
        print(json.dumps(report), flush=True)
    return 0


def _probe_ganspace(args: argparse.Namespace) -> int:
    import json

    init_torch()
    from ..edits.ganspace import compute_components, parse_layers
    from ..gan.checkpoints import load_generator_any
    from .edit_probe import probe_components

    G, _ = load_generator_any(args.generator)
    G.eval().requires_grad_(False)
    comps = compute_components(G, n_samples=args.samples, n_components=max(args.k, 8))
    try:
        layers = None if args.layers is None else parse_layers(args.layers, G.num_ws)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for row in probe_components(G, comps, list(range(args.k)), args.strength, args.n, layers=layers):
        print(json.dumps(row), flush=True)
    return 0


def _presets(args: argparse.Namespace) -> int:
    import json

    init_torch()
    from ..edits.ganspace import compute_components
    from ..edits.presets import GENERATOR_PRESETS_FILE
    from ..gan.checkpoints import load_generator_any
    from ..util import sha256_file
    from .edit_probe import layer_ranges, name_presets, probe_components

    G, _ = load_generator_any(args.generator)
    G.eval().requires_grad_(False)
    # The components must be the ones the app computes: the same PCA settings as the session.
    comps = compute_components(G, n_samples=args.samples, n_components=max(args.k, 8))
    rows = [
        row
        for layers in layer_ranges(G.num_ws)
        for row in probe_components(G, comps, list(range(args.k)), args.strength, args.n, layers=layers)
    ]
    presets = name_presets(rows, sha256_file(args.generator)[:32], G.num_ws, args.strength)
    out = Path(args.out) if args.out else Path(args.generator).parent / GENERATOR_PRESETS_FILE
    out.write_text(json.dumps([p.to_dict() for p in presets], indent=1) + "\n")
    for p in presets:
        print(f"{p.name}: strength {p.strength:+.1f}σ")
    print(f"wrote {len(presets)} presets → {out}")
    return 0


def _sample(args: argparse.Namespace) -> int:

    from ..gan.checkpoints import load_generator_any
    from ..imageio import Problem, write_png
    from .train_gan import sample_grid

    G, meta = load_generator_any(args.generator)  # every format `invert` reads
    grid = sample_grid(G, n=args.n, seed=args.seed, psi=args.psi)
    written = write_png(args.out, grid)
    if isinstance(written, Problem):
        raise OSError(written.message)
    print(f"wrote {args.out} ({args.n} samples, generator trained {meta.get('trained_kimg', '?')} kimg)")
    return 0
