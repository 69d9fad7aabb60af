"""SAM inversion s/step, this checkout against another one, interleaved step by step in one run.

    git worktree add --detach /tmp/speed-base <commit>       # the code to compare against
    python benchmarks/bench_sam_step.py --base /tmp/speed-base --steps 7 --threads 1,2

Two worker processes, one importing `sam_editor` from `--base`, one from this checkout, build the
same problem: the config-f car generator (512² frame, 512×384 crop, random weights, seed 0),
a random-weight VGG16 LPIPS, a target drawn by that generator, the fixed latent map of
bench_inversion (bands of F4 … F10 and W+) and the default InversionSettings (losses at
192×256, μ/Σ from 5 000 w). Each runs `invert(..., method='sam')`, the real code path; its
on_step callback blocks until the parent lets it go on, so the two take turns one step at a time
(A B A B …) on the shared machine and see the same load. A step's time runs from the callback's
return to the next call (the wait is not counted); the first step (warm-up) is left out of the
medians. After the last step both save φ and x̂, and the parent prints the largest absolute
difference between them. Per thread count a fresh pair of workers runs.

φ after N steps differs more than float32 rounding suggests: Adam's m/√v turns a rounding
difference in a tiny gradient component into a step of about lr. `--gradients` therefore also
evaluates the first gradient of the SAM objective (eq. 3.8) at one φ with both checkouts and
with the base in float64, and prints each float32 gradient's relative error against float64.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


# ---- worker: runs in its own process with `root` first on sys.path ------------------------------
def _setup(root: str, threads: int):  # noqa: ANN202
    sys.path.insert(0, root)
    import numpy as np
    import torch

    import sam_editor
    from sam_editor.gan.layers import LayerSpace
    from sam_editor.gan.networks import Generator, GeneratorConfig
    from sam_editor.inversion.losses import estimate_w_prior
    from sam_editor.perceptual import Perceptual
    from sam_editor.runtime import init_torch

    assert Path(sam_editor.__file__).resolve().is_relative_to(Path(root).resolve()), sam_editor.__file__
    init_torch()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = GeneratorConfig(crop=(64, 0, 384, 512))
    G = Generator(cfg).eval().requires_grad_(False)
    with torch.no_grad():
        G.mapping.w_avg.copy_(G.mapping(torch.randn(1000, cfg.z_dim)).mean(0))
        x = G.synthesize(G.map(torch.randn(1, cfg.z_dim), 0.7)).clamp(-1, 1)
    stats = estimate_w_prior(G, samples=5000)
    perceptual = Perceptual.random_backbone()
    h, w = cfg.output_size
    ranks = np.zeros((h, w), np.uint8)
    usable = [s for s in LayerSpace if s.is_feature and s.index in G.feature_indices()[:-1]]
    for k, space in enumerate(usable):
        ranks[(k + 1) * h // (len(usable) + 2) :, : w * (k + 2) // (len(usable) + 2)] = space.rank
    return G, x, ranks, stats, perceptual


def gradient(root: str, threads: int, out: str, float64: bool) -> None:
    """The SAM objective's gradient at one φ (w away from the mean, Δf ≠ 0), saved for the parent."""
    G, x, ranks, stats, perceptual = _setup(root, threads)
    import torch

    from sam_editor.inversion import InversionSettings
    from sam_editor.inversion import latent_maps as lm
    from sam_editor.inversion.optimise import LatentProblem

    masks = lm.feature_masks(G, lm.rank_maps(ranks, 1, G.cfg.output_size), torch.device("cpu"))
    if float64:
        G, perceptual, x = G.double(), perceptual.double(), x.double()
        masks = {i: m.double() for i, m in masks.items()}
    problem = LatentProblem(G, x, "sam", InversionSettings(), perceptual, stats, masks, None)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        problem.w.add_(0.3 * torch.randn(problem.w.shape, generator=gen).to(problem.w.dtype))
        for d in problem.delta_f.values():
            d.add_(0.1 * torch.randn(d.shape, generator=gen))
    total, _ = problem.evaluate()
    total.mean().backward()
    grads = {"loss": total.detach(), "w": problem.w.grad, **{f"f{i}": d.grad for i, d in problem.delta_f.items()}}
    torch.save({k: v.double() for k, v in grads.items()}, out)


def worker(root: str, threads: int, steps: int, out: str) -> None:
    G, x, ranks, stats, perceptual = _setup(root, threads)
    import torch

    from sam_editor.inversion import InversionSettings, invert

    state = {"t": 0.0, "c": 0.0}

    def go() -> None:
        line = sys.stdin.readline()
        if line.strip() != "go":
            raise SystemExit(0)
        state["t"], state["c"] = time.perf_counter(), time.process_time()

    def on_step(step, total, losses, preview) -> None:  # noqa: ANN001
        t, c = time.perf_counter() - state["t"], time.process_time() - state["c"]
        print(json.dumps({"step": step, "wall": t, "cpu": c, "total": losses["total"]}), flush=True)
        if step < total:
            go()

    print(json.dumps({"ready": True}), flush=True)
    go()
    res = invert(G, x, "sam", ranks, InversionSettings(steps=steps), on_step=on_step, perceptual=perceptual, w_stats=stats)
    phi = res.phi
    torch.save({"x_hat": res.reconstruction, "w_plus": phi.w_plus, **{f"f{i}": d for i, d in phi.delta_f.items()}}, out)
    print(json.dumps({"done": True}), flush=True)


# ---- parent --------------------------------------------------------------------------------------
def _start(root: Path, threads: int, steps: int, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", str(root), "--threads", str(threads), "--steps", str(steps), "--out", str(out)]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())


def _read(p: subprocess.Popen) -> dict:
    while True:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({p.wait()})")
        if line.startswith("{"):
            return json.loads(line)


def compare(base: Path, threads: int, steps: int) -> dict:
    import torch

    tmp = Path(tempfile.mkdtemp(prefix="bench_sam_step_"))
    roots = {"base": base, "this": HERE}
    procs = {name: _start(root, threads, steps, tmp / f"{name}.pt") for name, root in roots.items()}
    try:
        for p in procs.values():
            _read(p)  # ready
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in procs}
        for _ in range(steps):
            for name, p in procs.items():  # A B A B …: one step each in turn
                p.stdin.write("go\n")
                p.stdin.flush()
                r = _read(p)
                times[name].append((r["wall"], r["cpu"]))
                print(f"  {threads} thr step {r['step']:>3} {name:>4}: {r['wall']:6.2f} s wall {r['cpu']:6.2f} s CPU  total {r['total']:.5f}", flush=True)
        for p in procs.values():
            _read(p)  # done (the final no-grad evaluation and the render)
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait()
    a, b = (torch.load(tmp / f"{n}.pt") for n in ("base", "this"))
    diffs = {k: float((a[k] - b[k]).abs().max()) for k in a}
    med = {n: (statistics.median(t[0] for t in v[1:]), statistics.median(t[1] for t in v[1:])) for n, v in times.items()}
    return {"threads": threads, "median": med, "diffs": diffs, "base": a}


def compare_gradients(base: Path) -> None:
    """Float32 rounding differs between implementations and Adam's m/√v amplifies it in the
    components with tiny gradients, so φ after a few steps is no yardstick; the first gradient
    against a float64 evaluation (of the base) is: both float32 gradients' relative errors."""
    import torch

    tmp = Path(tempfile.mkdtemp(prefix="bench_sam_grad_"))
    runs = {"base": (base, False), "this": (HERE, False), "f64": (base, True)}
    for name, (root, f64) in runs.items():
        cmd = [sys.executable, __file__, "--grad-worker", str(root), "--threads", "2", "--out", str(tmp / f"{name}.pt")]
        subprocess.run(cmd + (["--float64"] if f64 else []), check=True, cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL)
    ref, a, b = (torch.load(tmp / f"{n}.pt") for n in ("f64", "base", "this"))
    print("\nfirst SAM gradient, relative L2 error against float64 (base code): base | this")
    for k in ref:
        err = [float((t[k] - ref[k]).norm() / ref[k].norm()) for t in (a, b)]
        print(f"  {k:>5}: {err[0]:.2e} | {err[1]:.2e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="checkout (e.g. a git worktree) to compare against")
    ap.add_argument("--steps", type=int, default=7, help="SAM steps per run (the first is warm-up)")
    ap.add_argument("--threads", default="1,2", help="torch thread counts, one run each")
    ap.add_argument("--gradients", action="store_true", help="also: the first gradient of both against float64")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--grad-worker", help=argparse.SUPPRESS)
    ap.add_argument("--float64", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, int(args.threads), args.steps, args.out)
        return 0
    if args.grad_worker:
        gradient(args.grad_worker, int(args.threads), args.out, args.float64)
        return 0
    if args.base is None or not (args.base / "sam_editor").is_dir():
        ap.error("--base must be a checkout holding sam_editor/ (git worktree add --detach /tmp/speed-base <commit>)")
    if args.steps < 2:
        ap.error("--steps must be ≥ 2 (the first step is warm-up)")
    rows = [compare(args.base, int(t), args.steps) for t in args.threads.split(",")]
    print(f"\nSAM inversion, config-f 512×384, random weights, {args.steps} steps, medians without step 1 (CPU-s: the process' CPU time, less sensitive to the machine's load)")
    print(f"base: {args.base}  this: {HERE}")
    print(f"{'threads':>7} | {'base s/step':>11} | {'this s/step':>11} | {'speed-up':>8} | {'CPU-s base':>10} | {'CPU-s this':>10} | max |Δ| x̂, w+, Δf")
    def fmt(d: dict[str, float]) -> str:
        df = max((v for k, v in d.items() if k.startswith("f")), default=0.0)
        return f"{d['x_hat']:.2e}, {d['w_plus']:.2e}, {df:.2e}"

    for r in rows:
        (bw, bc), (tw, tc) = r["median"]["base"], r["median"]["this"]
        print(f"{r['threads']:>7} | {bw:11.2f} | {tw:11.2f} | {bw / tw:7.2f}× | {bc:10.2f} | {tc:10.2f} | {fmt(r['diffs'])}")
    if args.gradients:
        compare_gradients(args.base)
    if len(rows) > 1:  # the yardstick: the base against itself with another thread count (float order only)
        a, b = rows[0]["base"], rows[1]["base"]
        print(f"base {rows[0]['threads']} vs {rows[1]['threads']} threads, max |Δ| x̂, w+, Δf: {fmt({k: float((a[k] - b[k]).abs().max()) for k in a})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
