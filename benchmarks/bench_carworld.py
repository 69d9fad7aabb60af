"""Time the car-world renderer (the demo GAN's data source must never be its bottleneck).

Usage: python benchmarks/bench_carworld.py [n_images] [size]
Prints ms/image (wall clock, and CPU time of this process, which is the honest number on a busy
machine) for sample_params, render, render_with_mask and batch.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from sam_editor.demo import carworld


def _time(fn, items) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for it in items:
        fn(it)
    return (time.perf_counter() - t0) * 1e3 / len(items), (time.process_time() - c0) * 1e3 / len(items)


def main(n: int = 500, size: int = 128) -> None:
    rng = np.random.default_rng(0)
    params = [carworld.sample_params(rng) for _ in range(n)]
    for p in params[:20]:  # warm-up (OpenCV allocations, numpy caches)
        carworld.render(p, size)
    t_sample = _time(lambda _: carworld.sample_params(rng), range(n))
    t_render = _time(lambda p: carworld.render(p, size), params)
    t_mask = _time(lambda p: carworld.render_with_mask(p, size), params)
    t_batch = _time(lambda _: carworld.batch(np.random.default_rng(1), n, size), [0])
    t_batch = (t_batch[0] / n, t_batch[1] / n)
    print(f"size {size}px, {n} images            wall ms/image   cpu ms/image")
    for name, (wall, cpu) in [("sample_params", t_sample), ("render", t_render),
                              ("render_with_mask", t_mask), ("batch", t_batch)]:
        print(f"{name:<18}{wall:>26.3f}{cpu:>15.3f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
