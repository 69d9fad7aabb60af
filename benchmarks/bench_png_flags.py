"""PNG encoder settings for the export (issue 29): CPU seconds and file size of cv2.imencode on a
12-Mpx image with zlib level 1 and each strategy / row filter, every result decoded and checked
lossless. imageio.encode_png uses level 1 + RLE strategy + SUB filter from this comparison.

    .venv/bin/python benchmarks/bench_png_flags.py [--repeat 2] [--photo PATH]

Images: bench_export's noisy photo-like 12 Mpx (the export benchmark's), a car-world render
upscaled to 4000×3000 (flat areas: where LZ77 and adaptive filters pay), and optionally a photo
of your own upscaled to 4000×3000 (smooth). CPU time (process_time) rather than wall time: on
a shared machine the wall clock measures the neighbours.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_export import photo_like  # noqa: E402

from sam_editor.demo import carworld  # noqa: E402

P = cv2
VARIANTS = {
    "level 1 (before)": [P.IMWRITE_PNG_COMPRESSION, 1],
    "level 1 + HUFFMAN_ONLY": [P.IMWRITE_PNG_COMPRESSION, 1, P.IMWRITE_PNG_STRATEGY, P.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY],
    "level 1 + RLE": [P.IMWRITE_PNG_COMPRESSION, 1, P.IMWRITE_PNG_STRATEGY, P.IMWRITE_PNG_STRATEGY_RLE],
    "level 1 + SUB": [P.IMWRITE_PNG_COMPRESSION, 1, P.IMWRITE_PNG_FILTER, P.IMWRITE_PNG_FILTER_SUB],
    "level 1 + HUFFMAN_ONLY + SUB": [P.IMWRITE_PNG_COMPRESSION, 1, P.IMWRITE_PNG_STRATEGY, P.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY, P.IMWRITE_PNG_FILTER, P.IMWRITE_PNG_FILTER_SUB],
    "level 1 + RLE + UP": [P.IMWRITE_PNG_COMPRESSION, 1, P.IMWRITE_PNG_STRATEGY, P.IMWRITE_PNG_STRATEGY_RLE, P.IMWRITE_PNG_FILTER, P.IMWRITE_PNG_FILTER_UP],
    "level 1 + RLE + SUB (now)": [P.IMWRITE_PNG_COMPRESSION, 1, P.IMWRITE_PNG_STRATEGY, P.IMWRITE_PNG_STRATEGY_RLE, P.IMWRITE_PNG_FILTER, P.IMWRITE_PNG_FILTER_SUB],
    "level 0 (stored)": [P.IMWRITE_PNG_COMPRESSION, 0],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--photo", type=Path)
    args = ap.parse_args()
    images = {"noisy photo-like 12 Mpx (bench_export)": cv2.cvtColor(photo_like(3000, 4000, np.random.default_rng(0)), cv2.COLOR_RGB2BGR)}
    render = carworld.render(carworld.sample_params(np.random.default_rng(9_100_002)), 1024)
    images["car-world render 1024 → 4000×3000 (flat areas)"] = np.ascontiguousarray(cv2.resize(render, (4000, 3000), interpolation=cv2.INTER_CUBIC)[..., ::-1])
    if args.photo:
        images[f"{args.photo.name} → 4000×3000 (smooth)"] = cv2.resize(cv2.imread(str(args.photo)), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    print(f"cv2 {cv2.__version__}, {cv2.getNumThreads()} threads; CPU s of cv2.imencode (best of {args.repeat}), size; load {os.getloadavg()[0]:.1f}")
    for name, img in images.items():
        print(name)
        for label, params in VARIANTS.items():
            cpu = []
            for _ in range(args.repeat):
                c0 = time.process_time()
                ok, buf = cv2.imencode(".png", img, params)
                cpu.append(time.process_time() - c0)
            assert ok and np.array_equal(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), img), label
            print(f"  {label:<30} {min(cpu):6.3f} s CPU  {buf.size / 1e6:7.2f} MB", flush=True)


if __name__ == "__main__":
    main()
