"""Fig. 4.1 on the demo bundle: reconstruction quality against wall time, optimisation vs encoder.

    python benchmarks/bench_fig41.py                        # 50 held-out cluttered renders, ~1 h on 2 cores
    python benchmarks/bench_fig41.py --n 8 --out /tmp/f41   # a quick look

Held-out set: `write_samples(seed=5000, clutter=True)` with patches cut from photos e–g of
../shared/photos/cars (the encoder and the predictor trained on seeds 20000/… with photos a–d),
each with its predicted latent map at the bundle's τ. Methods (the paper's two regimes):

- optimisation from the mean w: W+ (eq. 3.8 with one space), PTI (W phase then generator tuning),
  SAM (the predicted map);
- encoder: E(x, all-W+ map) (an e4e-like W+ encoder), E(x, predicted map) (SAM encoder), and the
  hybrid — the SAM encoder's φ̂ refined by a short optimisation.

Each optimisation is one run of its full length (the official lr schedule depends on it); its
curve is sampled at checkpoints from the *current* parameters, the last point is the run's result.
Time on the x axis is wall time per image at `--batch` images per run on this machine (the
encoder's forward included; the checkpoint evaluations excluded). Quality: PSNR and the bundle's
perceptual metric over the whole 128² frame. Writes fig41.json, fig41.md and fig41.png to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam_editor.runtime import init_torch  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "photos" / "cars"
HELDOUT_PHOTOS = ("e.png", "f.png", "g.png")


def heldout_set(n: int, seed: int, size: int, work: Path) -> list[Path]:
    from sam_editor.demo.clutter import write_samples

    photos = [str(PHOTOS / p) for p in HELDOUT_PHOTOS if (PHOTOS / p).is_file()]
    if not photos:
        print(f"note: no photos in {PHOTOS}; clutter without photo patches", file=sys.stderr)
    write_samples(work, n, seed, size=size, clutter=True, photo_paths=photos)
    return sorted(work.glob("img_*.png"))[:n]


def load_images(paths: list[Path]) -> tuple[torch.Tensor, list[np.ndarray]]:
    import cv2

    rgb = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    x = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in rgb]).float().div(127.5).sub(1.0)
    return x, rgb


class Curve:
    """Quality checkpoints of one method: (seconds per image, psnr, perceptual) per image batch."""

    def __init__(self, name: str, regime: str, steps: int) -> None:
        self.name, self.regime, self.steps = name, regime, steps
        self.points: dict[int, list[tuple[float, np.ndarray, np.ndarray]]] = {}

    def add(self, step: int, seconds: float, psnr: np.ndarray, perc: np.ndarray) -> None:
        self.points.setdefault(step, []).append((seconds, psnr, perc))

    def table(self) -> list[dict]:
        rows = []
        for step in sorted(self.points):
            pts = self.points[step]
            n = sum(len(p[1]) for p in pts)
            rows.append({
                "step": step,
                "seconds": float(sum(p[0] * len(p[1]) for p in pts) / n),
                "psnr": float(np.concatenate([p[1] for p in pts]).mean()),
                "perceptual": float(np.concatenate([p[2] for p in pts]).mean()),
                "images": n,
            })  # fmt: skip
        return rows


def score(perceptual, rec: torch.Tensor, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    from sam_editor.inversion.images import psnr

    with torch.no_grad():
        return psnr(rec.cpu(), x.cpu()).numpy(), perceptual.distance(rec.to(x.device), x).flatten().cpu().numpy()


def run_method(
    curve: Curve, method: str, G, x, lmaps, settings, perceptual, checkpoints, init_phi=None, t_init=0.0
) -> None:
    """One optimisation run over the batch, its curve sampled at `checkpoints` (steps done)."""
    from sam_editor.inversion import invert

    n = x.shape[0]
    clock = {"t0": time.perf_counter(), "paused": 0.0}

    def on_step(step, total, losses, preview) -> None:  # noqa: ANN001
        if step in checkpoints and step < total:
            t = time.perf_counter() - clock["t0"] - clock["paused"]
            p0 = time.perf_counter()
            curve.add(step, t_init + t / n, *score(perceptual, preview(), x))
            clock["paused"] += time.perf_counter() - p0

    res = invert(G, x, method, lmaps if method == "sam" else None, settings, on_step=on_step, seed=0,
                 perceptual=perceptual, init_phi=init_phi)  # fmt: skip
    t = time.perf_counter() - clock["t0"] - clock["paused"]
    total = settings.steps + (settings.tune_steps if method == "pti" else 0)
    curve.add(total, t_init + t / n, *score(perceptual, res.reconstruction, x))


def plot(curves: list[Curve], out: Path, title: str) -> None:
    import cv2

    # a small hand-drawn chart with OpenCV (no plotting dependency): two panels, log time axis
    W, H, m = 640, 420, 60
    colours = {"W+": (200, 120, 30), "PTI": (40, 160, 40), "SAM": (30, 30, 210), "E W+": (200, 120, 30),
               "E SAM": (30, 30, 210), "E SAM + opt": (160, 40, 160)}  # fmt: skip
    tables = {c.name: c.table() for c in curves}
    ts = [r["seconds"] for rows in tables.values() for r in rows]
    tmin, tmax = max(min(ts), 1e-3) / 1.5, max(ts) * 1.5
    panels = []
    for key, label in (
        ("psnr", "PSNR (dB, higher is better)"),
        ("perceptual", "perceptual distance (lower is better)"),
    ):
        img = np.full((H, W, 3), 255, np.uint8)
        vals = [r[key] for rows in tables.values() for r in rows]
        vmin, vmax = min(vals), max(vals)
        pad = (vmax - vmin) * 0.08 or 1.0
        vmin, vmax = vmin - pad, vmax + pad

        def xy(t: float, v: float, vmin=vmin, vmax=vmax) -> tuple[int, int]:
            fx = (np.log(t) - np.log(tmin)) / (np.log(tmax) - np.log(tmin))
            fy = (v - vmin) / (vmax - vmin)
            return int(m + fx * (W - 1.5 * m)), int(H - m - fy * (H - 1.7 * m))

        cv2.rectangle(img, xy(tmin, vmin), xy(tmax, vmax), (0, 0, 0), 1)
        for dec in range(int(np.floor(np.log10(tmin))), int(np.ceil(np.log10(tmax))) + 1):
            t = 10.0**dec
            if tmin <= t <= tmax:
                px, py = xy(t, vmin)
                cv2.line(img, (px, py), (px, py + 5), (0, 0, 0), 1)
                cv2.putText(img, f"{t:g}s", (px - 12, py + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        for k in range(5):
            v = vmin + (vmax - vmin) * k / 4
            px, py = xy(tmin, v)
            cv2.putText(img, f"{v:.3g}", (4, py + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
        for li, c in enumerate(curves):
            col = colours.get(c.name, (0, 0, 0))
            pts = [xy(r["seconds"], r[key]) for r in tables[c.name]]
            dashed = c.regime == "encoder"
            for a, b in zip(pts, pts[1:], strict=False):
                cv2.line(img, a, b, col, 1 if dashed else 2, cv2.LINE_AA)
            for p in pts:
                (cv2.drawMarker(img, p, col, cv2.MARKER_DIAMOND, 9, 2) if dashed else cv2.circle(img, p, 3, col, -1))
            ly = 40 + 16 * li
            cv2.putText(img, c.name, (W - 150, ly), cv2.FONT_HERSHEY_SIMPLEX, 0.42, col, 1, cv2.LINE_AA)
        cv2.putText(img, label, (m, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(
            img, "wall time per image (log)", (W // 2 - 80, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1
        )
        panels.append(img)
    fig = np.concatenate(panels, axis=1)
    head = np.full((30, fig.shape[1], 3), 255, np.uint8)
    cv2.putText(head, title, (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(out), np.concatenate([head, fig], axis=0))


def interpolate(rows: list[dict], t: float, key: str) -> float | None:
    """The curve's value at wall time t (linear between checkpoints; None outside it)."""
    ts = [r["seconds"] for r in rows]
    if t < ts[0] or t > ts[-1]:
        return None
    return float(np.interp(t, ts, [r[key] for r in rows]))


def main() -> int:
    init_torch()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="held-out images")
    ap.add_argument("--batch", type=int, default=10, help="images per optimisation run")
    ap.add_argument("--steps", type=int, default=200, help="steps of the mean-init optimisations (W+, SAM)")
    ap.add_argument("--pti-steps", type=int, default=100, help="PTI: W steps, then as many tuning steps")
    ap.add_argument("--hybrid-steps", type=int, default=50, help="optimisation steps after the SAM encoder")
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--out", default="benchmarks/out/fig41")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from sam_editor.inversion import InversionSettings
    from sam_editor.inversion.encoder import encode
    from sam_editor.invertibility.pipeline import latent_map_for_image
    from sam_editor.perceptual import default_perceptual
    from sam_editor.session.models import Bundle, load_bundle

    bundle = load_bundle(device="cpu")
    if not isinstance(bundle, Bundle) or bundle.encoder is None or bundle.predictor is None:
        print(f"error: needs the demo bundle with its encoder and predictor ({bundle})", file=sys.stderr)
        return 2
    G, enc = bundle.G, bundle.encoder
    perceptual = default_perceptual("cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = heldout_set(args.n, args.seed, G.cfg.resolution, Path(tmp))
        x_all, rgb = load_images(paths)
    t0 = time.perf_counter()
    maps = np.stack([latent_map_for_image(a, bundle.predictor, bundle.segmenter, bundle.tau).space_map() for a in rgb])
    map_s = (time.perf_counter() - t0) / len(rgb)
    frac = {name: float((maps == r).mean()) for r, name in enumerate(("W+", "F4", "F6", "F8", "F10"))}
    print(f"{len(paths)} held-out images, latent maps at τ={bundle.tau:g} ({map_s * 1000:.0f} ms each): "
          + ", ".join(f"{k} {v:.0%}" for k, v in frac.items()))  # fmt: skip
    print(f"perceptual metric: {perceptual.name}; torch threads {torch.get_num_threads()}; batch {args.batch}")

    opt = InversionSettings(steps=args.steps)
    pti = InversionSettings(steps=args.pti_steps, pti_tune_steps=args.pti_steps)
    hyb = InversionSettings(steps=args.hybrid_steps)
    ck = lambda s: {k for k in (1, 5, 10, 25, 50, 100, 150, 200, 300, 500) if k < s}  # noqa: E731
    curves = {
        "W+": Curve("W+", "optimisation", args.steps),
        "PTI": Curve("PTI", "optimisation", 2 * args.pti_steps),
        "SAM": Curve("SAM", "optimisation", args.steps),
        "E W+": Curve("E W+", "encoder", 0),
        "E SAM": Curve("E SAM", "encoder", 0),
        "E SAM + opt": Curve("E SAM + opt", "encoder", args.hybrid_steps),
    }
    for b0 in range(0, len(paths), args.batch):
        x = x_all[b0 : b0 + args.batch]
        lmaps = list(maps[b0 : b0 + args.batch])
        n = x.shape[0]
        tb = time.perf_counter()
        encode(enc, G, x, lmaps)  # warm-up (allocations at this batch size), not timed
        for name, lm_ in (("E W+", None), ("E SAM", lmaps)):
            t = time.perf_counter()
            phi = encode(enc, G, x, lm_)
            with torch.no_grad():
                rec = phi.render(G).clamp(-1, 1)
            curves[name].add(0, (time.perf_counter() - t) / n, *score(perceptual, rec, x))
        t = time.perf_counter()
        phi = encode(enc, G, x, lmaps)
        t_enc = (time.perf_counter() - t) / n
        with torch.no_grad():
            rec = phi.render(G).clamp(-1, 1)
        curves["E SAM + opt"].add(0, t_enc, *score(perceptual, rec, x))
        run_method(curves["E SAM + opt"], "sam", G, x, lmaps, hyb, perceptual, ck(args.hybrid_steps), phi, t_enc)
        run_method(curves["W+"], "wplus", G, x, lmaps, opt, perceptual, ck(args.steps))
        run_method(curves["SAM"], "sam", G, x, lmaps, opt, perceptual, ck(args.steps))
        # PTI's W phase runs batched; its tuning runs image by image (one copy of G each), so its
        # curve is sampled in the W phase and at the end
        run_method(curves["PTI"], "pti", G, x, lmaps, pti, perceptual, ck(args.pti_steps + 1))
        print(f"images {b0 + 1}–{b0 + n}: {time.perf_counter() - tb:.0f} s", flush=True)

    tables = {k: c.table() for k, c in curves.items()}
    lines = [
        f"| method | regime | steps | s / image | PSNR (dB) | {perceptual.name} |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for k, c in curves.items():
        for r in tables[k]:
            lines.append(
                f"| {k} | {c.regime} | {r['step']} | {r['seconds']:.3f} | {r['psnr']:.2f} | {r['perceptual']:.4f} |"
            )
    # the two questions
    e_sam = tables["E SAM"][0]
    wp_at = interpolate(tables["W+"], e_sam["seconds"], "psnr")
    wp_first = tables["W+"][0]
    hyb_end, sam_rows = tables["E SAM + opt"][-1], tables["SAM"]
    needed = next((r for r in sam_rows if r["psnr"] >= hyb_end["psnr"]), None)
    verdicts = [
        f"Encoder-only SAM: {e_sam['psnr']:.2f} dB / {e_sam['perceptual']:.4f} in {e_sam['seconds'] * 1000:.0f} ms per image; "
        + (
            f"W+ optimisation at that time: {wp_at:.2f} dB"
            if wp_at is not None
            else f"W+ optimisation has not finished one step by then (its first checkpoint, step {wp_first['step']}: "
            f"{wp_first['psnr']:.2f} dB at {wp_first['seconds'] * 1000:.0f} ms)"
        )
        + f"; W+ after all {args.steps} steps: {tables['W+'][-1]['psnr']:.2f} dB at {tables['W+'][-1]['seconds']:.1f} s.",
        f"Encoder + {args.hybrid_steps} steps: {hyb_end['psnr']:.2f} dB / {hyb_end['perceptual']:.4f} at "
        f"{hyb_end['seconds']:.2f} s; mean-init SAM reaches that PSNR "
        + (f"at step {needed['step']} ({needed['seconds']:.2f} s)" if needed else f"at none of its {args.steps} steps")
        + f"; mean-init SAM after {args.steps} steps: {sam_rows[-1]['psnr']:.2f} dB / {sam_rows[-1]['perceptual']:.4f}.",
    ]
    md = "\n".join(lines + [""] + verdicts) + "\n"
    print(md)
    meta = {"images": len(paths), "batch": args.batch, "tau": bundle.tau, "map_fractions": frac, "perceptual": perceptual.name,
            "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "encoder": bundle.encoder_name}  # fmt: skip
    (out / "fig41.json").write_text(json.dumps({"meta": meta, "curves": tables, "verdicts": verdicts}, indent=1))
    (out / "fig41.md").write_text(md)
    plot(list(curves.values()), out / "fig41.png",
         f"Fig. 4.1 on the demo bundle: {len(paths)} held-out cluttered renders, 2-core CPU, batch {args.batch}")  # fmt: skip
    print(f"wrote {out}/fig41.png, fig41.md, fig41.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
