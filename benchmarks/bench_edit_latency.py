"""Slider latency of §3.4 editing: edit value changed → new image, with a RenderCache.

Usage: python benchmarks/bench_edit_latency.py [--configs demo,car512] [--repeats N] [--threads T]

For each generator config (random weights: latency does not depend on them) it builds a SAM-like
φ (w+, Δf_i and masks m_i for every F_i the generator has, in vertical bands, the rest W+),
renders it once into a RenderCache, then moves one GANSpace slider again and again and times
`render_edit` (one gated `G.synthesize` pass from the first changed block on):

  early : component 0 on style rows 0–4     (recomputes the whole edit path)
  late  : component 1 on the last 3 rows    (recomputes the last block(s) only)
  full  : the same render without a cache   (for reference)

Prints wall-clock ms (median, p90) and the process CPU ms per render — on a busy machine the CPU
time divided by the thread count is the more honest figure.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sam_editor.edits.compose import EditStack, ganspace_edit, render_edit
from sam_editor.edits.ganspace import compute_components
from sam_editor.gan.networks import Generator, GeneratorConfig, RenderCache
from sam_editor.runtime import init_torch

CONFIGS: dict[str, GeneratorConfig] = {
    "demo": GeneratorConfig(resolution=128, z_dim=128, w_dim=128, mapping_layers=4, channel_base=2048, channel_max=64),
    "car512": GeneratorConfig(crop=(64, 0, 384, 512)),  # config-f, 512×384
}


def make_phi(G: Generator, seed: int = 0):
    """w+ (1, num_ws, w_dim), Δf_i (1, C_i, H_i, W_i) and m_i at F_i's size for every F_i ≤ F10."""
    gen = torch.Generator().manual_seed(seed)
    w = G.map(torch.randn(1, G.z_dim, generator=gen))
    h, wd = G.cfg.output_size
    spaces = [i for i in (4, 6, 8, 10) if i in G.feature_indices()]
    masks, delta_f = {}, {}
    for n, i in enumerate(spaces):  # band n of len(spaces) + 1 (the first band stays W+)
        m = torch.zeros(1, 1, h, wd)
        lo, hi = (n + 1) * wd // (len(spaces) + 1), (n + 2) * wd // (len(spaces) + 1)
        m[..., lo:hi] = 1
        masks[i] = G.mask_to_feature(m, i)
        delta_f[i] = 0.1 * torch.randn((1, *G.feature_shape(i)), generator=gen)
    return w, delta_f, masks


def _time_renders(fn, n: int) -> tuple[list[float], float]:
    walls = []
    c0 = time.process_time()
    for k in range(n):
        t0 = time.perf_counter()
        fn(k)
        walls.append((time.perf_counter() - t0) * 1e3)
    return walls, (time.process_time() - c0) * 1e3 / n


def bench(name: str, cfg: GeneratorConfig, repeats: int) -> None:
    torch.manual_seed(0)
    G = Generator(cfg).eval().requires_grad_(False)
    with torch.no_grad():
        G.mapping(torch.randn(2000, cfg.z_dim), update_w_avg=True)
    comps = compute_components(G, n_samples=2000, n_components=4, batch_size=1000)
    w, delta_f, masks = make_phi(G)
    last = G.num_ws - 1
    edits = {
        "early": ganspace_edit(G, comps, 0, (0, 4), 0.0, name="slider"),
        "late": ganspace_edit(G, comps, 1, (last - 2, last), 0.0, name="slider"),
    }
    h, wd = cfg.output_size
    print(f"\n[{name}] {wd}×{h}, {G.num_ws} style rows, w_dim {G.w_dim}, threads {torch.get_num_threads()}")
    print(f"{'edit':<8}{'rows':<9}{'blocks recomputed':<26}{'median ms':>10}{'p90 ms':>9}{'cpu ms':>9}")
    for label, edit in edits.items():
        stack = EditStack([edit])
        cache = RenderCache()
        render_edit(G, w, delta_f, masks, stack, cache)  # fills the cache (reconstruction + edit)
        render_edit(G, w, delta_f, masks, stack, cache)  # warm-up

        def move(k: int, stack: EditStack = stack, cache: RenderCache = cache) -> None:
            stack.set_strength("slider", 0.5 + 0.25 * (k % 8))  # a new value every time
            render_edit(G, w, delta_f, masks, stack, cache)

        walls, cpu = _time_renders(move, repeats)
        blocks = ",".join(str(r) for p, r in cache.computed_blocks if p == "edit")
        rows = f"{edit.info['layers'][0]}-{edit.info['layers'][1]}"
        print(
            f"{label:<8}{rows:<9}{blocks:<26}{statistics.median(walls):>10.1f}"
            f"{sorted(walls)[int(0.9 * (len(walls) - 1))]:>9.1f}{cpu:>9.1f}"
        )
    stack = EditStack([edits["early"]])
    walls, cpu = _time_renders(lambda k: render_edit(G, w, delta_f, masks, stack), max(2, repeats // 2))
    print(
        f"{'full':<8}{'no cache':<9}{'rec to last F_i + edit':<26}{statistics.median(walls):>10.1f}{max(walls):>9.1f}{cpu:>9.1f}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="demo,car512")
    p.add_argument("--repeats", type=int, default=20, help="slider moves per edit (car512 uses a quarter)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    init_torch()
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in args.configs.split(","):
        reps = args.repeats if name == "demo" else max(3, args.repeats // 4)
        bench(name, CONFIGS[name], reps)


if __name__ == "__main__":
    main()
