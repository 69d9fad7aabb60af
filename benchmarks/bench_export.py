"""Full-resolution export: blend-back of an edit into a photo of 1, 12 and 24 megapixels, and
the PNG write (recipe text chunk included), on this machine's CPUs. Prints seconds per stage.

    .venv/bin/python benchmarks/bench_export.py [--frame 128] [--repeat 3] [--local] [--legacy]

The edit acts on the whole frame (the worst case: every photo pixel is blended); `--local`
limits it to a quarter of the frame, as an edit region on one car would. `--legacy` times the
bicubic blend-back from before issue 29 (the frozen copy in bench_blend_edges.py, which blends
the whole photo) instead of the edge-aware one. Target (issue 29): a 12-Mpx export under 2 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from sam_editor.edits.blend import blend_back
from sam_editor.imageio import Placement, encode_png, write_png

SIZES = {"1 Mpx (1155×866)": (866, 1155), "12 Mpx (4000×3000)": (3000, 4000), "24 Mpx (6000×4000)": (4000, 6000)}


def photo_like(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A photo-like test image: smooth colour gradients plus fine noise (PNG cannot squash it)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(xx / 300), 128 + 100 * np.cos(yy / 250), 128 + 60 * np.sin((xx + yy) / 400)], -1)
    noise = rng.normal(0, 12, (h, w, 3)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frame", type=int, default=128, help="square generator frame (demo 128, official 512)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--local", action="store_true", help="edit a quarter of the frame only")
    ap.add_argument("--legacy", action="store_true", help="time the bicubic blend-back from before issue 29")
    ap.add_argument("--threads", type=int, help="cv2 threads (default: OpenCV's choice)")
    args = ap.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    blend = blend_back
    if args.legacy:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_blend_edges import legacy_blend_back as blend
    rng = np.random.default_rng(0)
    frame = (args.frame, args.frame)
    rows = []
    for label, (h, w) in SIZES.items():
        photo = photo_like(h, w, rng)
        place = Placement.fit((h, w), frame)
        recon = rng.integers(0, 256, (*frame, 3), dtype=np.uint8)
        edited = np.clip(recon.astype(np.int16) + rng.integers(-30, 30, (*frame, 3)), 0, 255).astype(np.uint8)
        reach = np.ones(frame, bool)
        if args.local:
            reach[:] = False
            reach[frame[0] // 4 : 3 * frame[0] // 4, frame[1] // 4 : 3 * frame[1] // 4] = True
        text = {"sam-editor:recipe": json.dumps({"tau": 0.225, "edits": [{"kind": "ganspace"}] * 4})}
        t_blend, t_png, t_write = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                out = blend(photo, edited, recon, reach, place)
                t1 = time.perf_counter()
                encode_png(out, text)
                t2 = time.perf_counter()
                write_png(Path(tmp) / "out.png", out, text)
                t3 = time.perf_counter()
                t_blend.append(t1 - t0)
                t_png.append(t2 - t1)
                t_write.append(t3 - t2 + (t1 - t0))
        rows.append((label, min(t_blend), min(t_png), min(t_write)))
    print(f"{'bicubic (before #29)' if args.legacy else 'edge-aware'} blend-back, frame {args.frame}², edit on {'a quarter of' if args.local else 'the whole'} frame, best of {args.repeat}, cv2 threads {cv2.getNumThreads()}")
    print(f"{'photo':<22} {'blend s':>8} {'PNG encode s':>13} {'export total s':>15}")
    for label, b, p, t in rows:
        print(f"{label:<22} {b:8.3f} {p:13.3f} {t:15.3f}")


if __name__ == "__main__":
    main()
