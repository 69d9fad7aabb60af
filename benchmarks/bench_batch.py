"""Batch throughput (`sam_editor.batch`): items/s with 1 and 2 workers, and Ray's cost per task.

    python benchmarks/bench_batch.py                     # demo generator, 8 images × W+ 40 steps
    python benchmarks/bench_batch.py --items 16 --steps 100

Work item: one `sam-editor eval` item (a W+ inversion of a held-out car-world render on the demo
generator, then its PSNR / perceptual metric), the unit the eval and predictor-target jobs run.
Each configuration gets a fresh results folder; the workers load the generator once each (that
start-up is included: it is what a user waits for). Ray's per-task overhead: a task that does
nothing, 300 times, against the same no-op called in-process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam_editor.runtime import init_torch  # noqa: E402


def noop(payload: int) -> dict:
    return {"x": payload}


class _NullStore:
    def done(self, item) -> bool:  # noqa: ANN001
        return False

    def write(self, item, result) -> None:  # noqa: ANN001
        pass


def main() -> int:
    init_torch()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--backends", default="local,pool,ray")
    args = ap.parse_args()
    import argparse as ap_mod

    from sam_editor.batch import Item, JsonStore, ray_available, run_batch
    from sam_editor.demo.clutter import write_samples
    from sam_editor.session.invert_commands import EvalTask, demo_generator_path

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; item = W+ inversion, {args.steps} steps, demo generator")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_samples(tmp / "images", args.items, seed=5000, size=128, clutter=True)
        paths = sorted((tmp / "images").glob("img_*.png"))
        ns = ap_mod.Namespace(generator=str(demo_generator_path()), steps=args.steps, seed=0, device="cpu", optimise_size="auto",
                              predictor=None, segmenter="overseg", segmenter_weights=None, tau=0.225, init="mean",
                              encoder=None, latent_maps=None, latent_map=None)  # fmt: skip
        task = EvalTask.from_args(ns, quiet=True)
        items = [Item(f"wplus_{p.stem}", ("wplus", str(p))) for p in paths]
        rates = {}
        backends = [b for b in args.backends.split(",") if b != "ray" or ray_available()]
        for backend in backends:
            for workers in (1, 2) if backend != "local" else (1,):
                if backend == "ray":
                    import ray

                    t = time.perf_counter()
                    ray.init(num_cpus=workers, include_dashboard=False, logging_level="error", log_to_driver=False)
                    print(f"ray.init with {workers} CPUs: {time.perf_counter() - t:.1f} s (not counted below)")
                rep = run_batch(task, items, JsonStore(tmp / f"{backend}{workers}"), workers=workers, backend=backend,
                                threads_per_worker=max(1, (os.cpu_count() or 1) // workers))  # fmt: skip
                rates[(backend, workers)] = len(rep.done) / rep.seconds
                print(f"{backend:>5} × {workers}: {len(rep.done)} items in {rep.seconds:6.1f} s → {rates[(backend, workers)]:.3f} items/s"
                      + (f" ({len(rep.failed)} failed)" if rep.failed else ""), flush=True)  # fmt: skip
                if backend == "ray":
                    if workers == 2:
                        n = 300
                        noops = [Item(str(i), i) for i in range(n)]
                        t = time.perf_counter()
                        for i in range(n):
                            noop(i)
                        local_s = time.perf_counter() - t
                        rep = run_batch(noop, noops, _NullStore(), workers=2, backend="ray")
                        print(f"ray per-task overhead: {n} no-op tasks in {rep.seconds:.2f} s = {1000 * rep.seconds / n:.1f} ms/task "
                              f"(in-process: {1e6 * local_s / n:.1f} µs/call)")  # fmt: skip
                    ray.shutdown()
        for backend in ("pool", "ray"):
            if (backend, 1) in rates and (backend, 2) in rates:
                print(f"{backend}: 2 workers / 1 worker = {rates[(backend, 2)] / rates[(backend, 1)]:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
