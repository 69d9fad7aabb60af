"""Official-size rehearsal: the whole job on stand-ins of the official files (issue 32).

Writes every official file the app reads, in its published format and with random weights, to a
temporary folder (never into the repository): the TF-era NVIDIA car pickle (config-f 512, cropped
to 512×384 by its known file name), the official SAM invertibility checkpoint (DeepLabV3+ /
ResNet-101 + heads), torchvision's VGG16 (the LPIPS backbone, as a torch-hub file), CLIP ViT-B/32
as open_clip's state-dict file and NVIDIA's SegFormer-B0 ADE20k folder
(`sam_editor.testing.official_formats`). Then it drives the job a user runs, twice:

1. through the session core (what the window runs): the official bundle found through the
   weights registry → photo → latent map (ADE20k segments + predictor) → SAM inversion →
   GANSpace and StyleCLIP text edit → full-size PNG export with its recipe;
2. through the CLI: `sam-editor invert … --generator … --predictor … --segmenter ade20k`,
   `sam-editor edit … --ganspace … --text …`, and `sam-editor apply` of the session's exported
   recipe onto a folder (finding the official bundle through $SAM_EDITOR_WEIGHTS).

It prints build and load times, s/step, edit latency and peak memory (getrusage maxrss; with
`--cli subprocess` each command runs in its own process and reports its own peak).

    python benchmarks/rehearse_official.py --size small              # tiny files, same formats (CI)
    OMP_NUM_THREADS=2 python benchmarks/rehearse_official.py --size full --steps 3

`--size small`: a 64-px generator in the same pickle format (its 4:3 band recorded for the
official file name while the rehearsal runs), the official predictor (one size only), VGG16
features only, a tiny open_clip model in the demo layout (ViT-B/32 has one size) and a tiny
SegFormer. The weights are random, so the pictures mean nothing: this checks that every official
format loads and every stage runs at the official sizes, and how long and how much memory it takes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_PHOTO = Path("/work/shared/photos/cars/a.png")  # a 256×192 car photo (not in the repo)
SAMPLE_PHOTO = ROOT / "resources" / "samples" / "car_street.png"
CHILD_TAG = "REHEARSAL_CHILD "


def cpu_s() -> float:
    """CPU seconds this process has used (user + system, all threads): on a shared machine the
    wall time grows with the load, this much less."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_mb() -> float:
    """This process's peak resident memory so far: VmHWM on Linux, else getrusage's ru_maxrss.
    (ru_maxrss survives exec: a command started from a process holding 3 GB would report 3 GB.)"""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux, bytes on macOS


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Report:
    """Lines printed as they come (and kept, for the caller)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.values: dict[str, object] = {}
        self.cpu0: float | None = None

    def start(self) -> None:
        """A stage starts: its CPU time is counted from here."""
        self.cpu0 = cpu_s()

    def __call__(self, text: str, **values: object) -> None:
        self.lines.append(text)
        self.values.update(values)
        print(text, flush=True)

    def row(self, label: str, seconds: float, extra: str = "", mem: bool = True, **values: object) -> None:
        """One timed stage: label, seconds, this process's peak memory so far, details."""
        cpu = f"  cpu {cpu_s() - self.cpu0:8.2f} s" if self.cpu0 is not None else " " * 16
        self.cpu0 = None
        peak = f"   peak {peak_mb():6.0f} MB" if mem else " " * 18
        self(f"{label:<44}{seconds:9.3f} s{cpu}{peak}   {extra}".rstrip(), **values)


def never() -> bool:
    return False


# ---- 1. the session core ---------------------------------------------------------------------------
def run_session(args: argparse.Namespace, files, photo: Path, out: Path, say: Report) -> Path:  # noqa: ANN001
    import numpy as np
    import torch
    from PIL import Image

    from sam_editor.gan.networks import RenderCache
    from sam_editor.session import (
        EditSpec,
        Problem,
        Session,
        compute_ganspace,
        load_bundle,
        predict_latent_map,
        run_inversion,
        run_styleclip,
    )
    from sam_editor.session import render as render_edit

    say("── session core (what the window runs) ──")
    for label in ("cold: TF pickle converted", "warm: converted copy cached"):
        t0 = time.perf_counter()
        say.start()
        bundle = load_bundle([files.weights], device=args.device, cache_dir=out / "cache")
        took = time.perf_counter() - t0
        if isinstance(bundle, Problem):
            raise SystemExit(f"the official bundle did not load: {bundle}")
        say.row(f"load official bundle ({label})", took, **{f"load_bundle_{label.split(':')[0]}_s": took})
    G = bundle.G
    assert bundle.kind == "official", bundle.kind
    say(f"  generator {bundle.generator_path.name}: {G.cfg.resolution}² frame, output {G.cfg.output_size[1]}×{G.cfg.output_size[0]}, "
        f"{sum(p.numel() for p in G.parameters()) / 1e6:.1f} M weights; predictor {bundle.predictor_name} "
        f"({type(bundle.predictor).__name__}); segmenter {bundle.segmenter_label}; device {bundle.device}",
        kind=bundle.kind, predictor=type(bundle.predictor).__name__, segmenter=bundle.segmenter_label,
        notes=list(bundle.notes), output_size=G.cfg.output_size)  # fmt: skip
    for note in bundle.notes:
        say(f"  note: {note}")
    bundle.ganspace_samples = args.pca_samples
    if args.size == "small":
        bundle.inversion_settings = bundle.inversion_settings.replace(prior_samples=500)
        bundle.clip_which = str(files.clip)  # the tiny open_clip model's folder (ViT-B/32 has one size)

    s = Session(bundle)
    t0 = time.perf_counter()
    say.start()
    src = s.open_image(photo)
    if isinstance(src, Problem):
        raise SystemExit(f"{photo}: {src}")
    say.row(f"open photo {photo.name} ({src.rgb.shape[1]}×{src.rgb.shape[0]})", time.perf_counter() - t0, mem=False)
    t0 = time.perf_counter()
    say.start()
    lm = predict_latent_map(bundle, s.work, s.tau, lambda *_: None, never, box=s.placement.box)
    s.apply_latent_map(lm)
    took = time.perf_counter() - t0
    cover = ", ".join(f"{sp.value} {f:.0%}" for sp, f in lm.coverage().items() if f > 0)
    say.row("latent map (ADE20k segments + predictor)", took, f"{lm.num_segments} segments; {cover}", map_s=took)

    stamps: list[float] = []
    t0 = time.perf_counter()
    say.start()
    inv = run_inversion(bundle, s.work, s.latent_map, "sam", args.steps,
                        lambda step, total, p: stamps.append(time.perf_counter()), never, valid=s.photo_mask())  # fmt: skip
    took = time.perf_counter() - t0
    s.apply_inversion(inv)
    steps = np.diff([t0, *stamps[-inv.steps_run :]]) if stamps else np.array([took])
    later = steps[1:] if len(steps) > 1 else steps
    say.row(f"SAM inversion, {inv.steps_run} steps (optimise size {bundle.inversion_settings.optimise_size})", took,
            f"first step {steps[0]:.2f} s, then {later.mean():.2f} s/step; loss {inv.losses.get('total', float('nan')):.4f}",
            sam_s_per_step=float(later.mean()), sam_first_step_s=float(steps[0]))  # fmt: skip

    t0 = time.perf_counter()

    say.start()
    s.ganspace = compute_ganspace(bundle, lambda *_: None, never)
    took = time.perf_counter() - t0
    say.row(f"GANSpace PCA ({args.pca_samples} samples)", took, pca_s=took)

    t0 = time.perf_counter()

    say.start()
    clip = bundle.clip
    say.row(f"CLIP load ({clip.name})", time.perf_counter() - t0, clip_load_s=time.perf_counter() - t0, clip=clip.name)
    t0 = time.perf_counter()
    say.start()
    delta = run_styleclip(bundle, s.render_request(), args.text, args.text_steps, lambda *_: None, never)
    took = time.perf_counter() - t0
    say.row(f"StyleCLIP text edit, {args.text_steps} steps", took,
            f"{took / max(args.text_steps, 1):.2f} s/step, '{args.text}', |δw+| {float(delta.norm()):.3f}", styleclip_s=took)  # fmt: skip
    key = s.add_direction(delta)
    last = s.num_ws - 1

    def edits(strength: float) -> list[EditSpec]:
        return [EditSpec("ganspace", "PC 1", strength, (0, last), component=1),
                EditSpec("styleclip", f"“{args.text}”", 1.0, (0, last), text=args.text, key=key)]  # fmt: skip

    s.set_edits(edits(2.0))
    uncached, cpu_uncached = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), cpu_s()
        img = render_edit(s.render_request())
        uncached.append(time.perf_counter() - t0)
        cpu_uncached.append(cpu_s() - c0)
    s.apply_render(img)
    cache = RenderCache()
    render_edit(s.render_request(), cache)  # fills the cache, as the first frame of a drag
    cached, cpu_cached = [], []
    for k in range(args.repeats):  # a slider drag on the GANSpace edit
        req = s.render_request(edits(2.0 + 0.5 * (k + 1)))
        t0, c0 = time.perf_counter(), cpu_s()
        render_edit(req, cache)
        cached.append(time.perf_counter() - t0)
        cpu_cached.append(cpu_s() - c0)
    say.cpu0 = cpu_s() - float(np.mean(cpu_uncached))  # the row's cpu column: one render's
    say.row(f"edit render, uncached (mean of {args.repeats})", float(np.mean(uncached)), "GANSpace PC 1 + text δw+",
            edit_uncached_s=float(np.mean(uncached)))  # fmt: skip
    say.cpu0 = cpu_s() - float(np.mean(cpu_cached))
    say.row("edit render, PC 1 slider drag (all rows; cache)", float(np.mean(cached)), mem=False,
            edit_cached_s=float(np.mean(cached)))  # fmt: skip

    t0 = time.perf_counter()
    say.start()
    exported = s.export_png(out / f"{photo.stem}_edited.png")
    took = time.perf_counter() - t0
    if isinstance(exported, Problem):
        raise SystemExit(f"export failed: {exported}")
    size = Image.open(exported).size
    assert size == (src.rgb.shape[1], src.rgb.shape[0]), (size, src.rgb.shape)
    say.row(f"full-size export {size[0]}×{size[1]} PNG + recipe", took,
            export=str(exported), export_size=size, photo_size=(src.rgb.shape[1], src.rgb.shape[0]))  # fmt: skip
    del s, bundle, G, clip
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return exported


# ---- 2. the CLI ---------------------------------------------------------------------------------------
def run_cli(argv: list[str], args: argparse.Namespace, say: Report, name: str) -> dict:
    """One `sam-editor` command, in this process or in its own (then with its own peak memory)."""
    if args.cli == "inprocess":
        from sam_editor import cli
        from sam_editor.testing.official_formats import small_car_crop

        t0, c0 = time.perf_counter(), cpu_s()
        with small_car_crop() if args.size == "small" else contextlib.nullcontext():
            rc = cli.main(argv)
        res = {"rc": rc, "seconds": time.perf_counter() - t0, "peak_mb": peak_mb(), "cpu_s": cpu_s() - c0}
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--cli-child", args.size, "--", *argv]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        child = [json.loads(line[len(CHILD_TAG) :]) for line in proc.stderr.splitlines() if line.startswith(CHILD_TAG)]
        res = {"rc": proc.returncode, "seconds": wall, **(child[-1] if child else {"peak_mb": float("nan"), "cpu_s": float("nan")})}
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    if res["rc"] != 0:
        raise SystemExit(f"sam-editor {name} failed (exit {res['rc']})")
    what = "own process, incl. imports" if args.cli == "subprocess" else "in this process"
    say(f"{'sam-editor ' + name:<44}{res['seconds']:9.3f} s  cpu {res['cpu_s']:8.2f} s   peak {res['peak_mb']:6.0f} MB   ({what})",
        **{f"cli_{name.split()[0]}_s": res["seconds"], f"cli_{name.split()[0]}_peak_mb": res["peak_mb"]})  # fmt: skip
    return res


def run_cli_job(args: argparse.Namespace, files, photo: Path, recipe: Path, out: Path, say: Report) -> Path:  # noqa: ANN001
    from PIL import Image

    say(f"── CLI ({args.cli}) ──")
    dev = ["--device", args.device] if args.device else []
    inv = out / "cli_invert"
    run_cli(["invert", str(photo), "--generator", str(files.generator), "--predictor", str(files.predictor),
             "--segmenter", "ade20k", "--segmenter-weights", str(files.segmenter), "--steps", str(args.steps),
             "--out", str(inv), *dev], args, say, f"invert ({args.steps} steps)")  # fmt: skip
    metrics = json.loads((inv / f"{photo.stem}_metrics.json").read_text())
    say(f"  invert: {metrics['seconds'] / max(metrics['steps'], 1):.2f} s/step over {metrics['steps']} steps "
        f"(its invert() call, incl. W statistics and target features), LPIPS {metrics['perceptual']:.3f}", cli_sam_s_per_step=metrics["seconds"] / max(metrics["steps"], 1))  # fmt: skip
    phi = inv / f"{photo.stem}_phi.pt"
    clip = "vit-b-32" if args.size == "full" else str(files.clip)
    edited = out / "cli_edit.png"
    run_cli(["edit", str(phi), "--generator", str(files.generator), "--ganspace", "1:2", "--text", args.text,
             "--text-steps", str(args.text_steps), "--clip", clip, "--n-samples", str(args.pca_samples),
             "--ganspace-cache", str(out / "cli_ganspace"), "--out", str(edited)], args, say, "edit (GANSpace + text)")  # fmt: skip
    folder = out / "apply_in"
    folder.mkdir(exist_ok=True)
    (folder / photo.name).write_bytes(photo.read_bytes())
    applied = out / "apply_out"
    run_cli(["apply", str(recipe), str(folder), "--out", str(applied), "--steps", str(args.steps), *dev],
            args, say, "apply (recipe → folder)")  # fmt: skip
    result = applied / (photo.stem + ".png")
    size, psize = Image.open(result).size, Image.open(photo).size
    assert size == psize, (size, psize)
    say(f"  apply wrote {result.name} at {size[0]}×{size[1]} (the photo's size)", apply_export=str(result), apply_size=size)
    return result


# ---- driver -------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=("small", "full"), default="small")
    p.add_argument("--steps", type=int, default=None, help="SAM inversion steps (default: small 3, full 3)")
    p.add_argument("--text", default="a red sports car")
    p.add_argument("--text-steps", type=int, default=2, help="StyleCLIP steps")
    p.add_argument("--pca-samples", type=int, default=None, help="GANSpace samples (default: small 4000, full 20000)")
    p.add_argument("--photo", type=Path, default=None, help=f"default {SHARED_PHOTO} if present, else {SAMPLE_PHOTO.name}")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: $OMP_NUM_THREADS or torch's)")
    p.add_argument("--cli", choices=("subprocess", "inprocess", "none"), default=None,
                   help="how the CLI commands run (default: small in this process, full each in its own)")
    p.add_argument("--repeats", type=int, default=3, help="renders averaged for the edit latency")
    p.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: a temporary folder)")
    p.add_argument("--cli-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--build-child", type=Path, default=None, help=argparse.SUPPRESS)
    a, rest = p.parse_known_args(argv)
    a.cli_argv = rest[1:] if rest[:1] == ["--"] else rest
    a.steps = a.steps if a.steps is not None else 3
    a.pca_samples = a.pca_samples or (4000 if a.size == "small" else 20000)
    a.cli = a.cli or ("inprocess" if a.size == "small" else "subprocess")
    return a


def cli_child(args: argparse.Namespace) -> int:
    """One CLI command in its own process; its time and peak memory on stderr as one JSON line."""
    from sam_editor import cli
    from sam_editor.testing.official_formats import small_car_crop

    t0 = time.perf_counter()
    with small_car_crop() if args.cli_child == "small" else contextlib.nullcontext():
        rc = cli.main(args.cli_argv)
    sys.stdout.flush()
    print(CHILD_TAG + json.dumps({"rc": rc, "command_s": time.perf_counter() - t0, "peak_mb": peak_mb(), "cpu_s": cpu_s()}),
          file=sys.stderr, flush=True)  # fmt: skip
    return rc


def rehearse(argv: list[str] | None = None) -> Report:
    args = parse_args(argv)
    import torch

    from sam_editor.runtime import default_device, init_torch
    from sam_editor.testing.official_formats import official_paths, small_car_crop, write_official_bundle

    init_torch()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = args.device or str(default_device())
    photo = args.photo or (SHARED_PHOTO if SHARED_PHOTO.is_file() else SAMPLE_PHOTO)
    say = Report()
    say(f"SAM Editor official-format rehearsal, --size {args.size}: {args.steps} SAM steps, {args.text_steps} StyleCLIP "
        f"steps, {args.pca_samples} PCA samples; device {args.device}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    with contextlib.ExitStack() as stack:
        root = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sam-rehearsal-")))
        root.mkdir(parents=True, exist_ok=True)
        say("── stand-ins of the official files (random weights, in a temporary folder) ──")
        t0 = time.perf_counter()
        if args.cli == "subprocess":  # in a process of its own: this one's peak memory is then the job's alone
            cmd = [sys.executable, str(Path(__file__).resolve()), "--build-child", str(root), "--size", args.size]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"building the stand-ins failed:\n{done.stderr[-3000:]}")
            files = official_paths(root, args.size)
            files.build_seconds = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            files = write_official_bundle(root, args.size)
        for name, sec in files.build_seconds.items():
            say.row(f"  wrote {name}", sec, mem=False)
        for p in (files.generator, files.predictor, files.vgg16, files.clip, files.segmenter):
            size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
            say(f"    {p.relative_to(root)}  {size / 2**20:8.1f} MiB")
        say.row("  all stand-ins" + (" (own process)" if args.cli == "subprocess" else ""), time.perf_counter() - t0)
        out = root / "out"
        out.mkdir(exist_ok=True)
        env = {"SAM_EDITOR_WEIGHTS": str(files.weights), "TORCH_HOME": str(files.torch_home),
               "SAM_EDITOR_CACHE": str(root / "cache"), "SAM_EDITOR_DATA": str(root / "data"),
               "OMP_NUM_THREADS": str(torch.get_num_threads())}  # fmt: skip
        stack.enter_context(environment(**env))
        if args.size == "small":
            stack.enter_context(small_car_crop())
        t_all = time.perf_counter()
        recipe = run_session(args, files, photo, out, say)
        if args.cli != "none":
            run_cli_job(args, files, photo, recipe, out, say)
        say.row("whole job (session core + CLI)", time.perf_counter() - t_all, "(peak: this process)")
    return say


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cli_child:
        return cli_child(args)
    if args.build_child:
        from sam_editor.runtime import init_torch
        from sam_editor.testing.official_formats import write_official_bundle

        init_torch()
        print(json.dumps(write_official_bundle(args.build_child, args.size).build_seconds))
        return 0
    rehearse(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
