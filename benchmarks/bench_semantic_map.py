"""Issue 35 / paper Fig. 3.3 and 4.6 on the demo bundle: is the car the editable part?

    python benchmarks/bench_semantic_map.py                       # 40 renders, 200 steps
    python benchmarks/bench_semantic_map.py --n 8 --steps 50 --out /tmp/sm   # a quick look

Held-out set: `write_samples(seed=7_300_000, clutter=True, masks=True)` with photo patches from
photos e–g of ../shared/photos/cars when present (the predictor trained on seed 1000 with photos
a–d, the segmenter on its own seed streams with procedural clutter, τ was calibrated on seed
8 300 000 with procedural clutter). The renderer's class maps give the car and the clutter.

Two configurations of the map (everything else equal — the bundle's predictor, generator and
encoder):
- **before**: the over-segmentation at τ = 0.225 (the paper's LPIPS-VGG τ, used on the l2+SSIM
  predictor until issue 35), with `--before-predictor` the predictor shipped before issue 35;
- **after**: the bundle's semantic segmenter at the bundle's calibrated τ (tau.json).

Map figures (pixels over all images): car pixels in W+, clutter pixels in F4–F10, the car in a
single space (per image: one space holds ≥ 95 % of the car's interior — its mask eroded by 2 px,
so that a segment boundary a pixel off is not a split; cars with < 50 interior pixels, hidden behind
clutter, are not counted), spaces per car (spaces that hold ≥ 5 % of its interior), and the same without refinement (per-pixel selection, Fig. 4.6).
Reconstruction: the app's inversion (encoder start, then `--steps` optimisation steps) of W+
alone and of SAM with each map; PSNR and the perceptual distance over the whole frame, and PSNR on
the car's pixels. The curve car-in-W+ / clutter-in-F against τ is drawn for both segmenters.
Colour preset (issue 35's criterion): the bundle's colour preset (presets.json beside the generator,
"Car redder") applied at its strength to each inverted φ, W+ alone and SAM: the shift of the car's
mean colour (|Δ mean RGB| over the renderer's car mask, 0–255) and the mean |Δ| of the pixels
outside the car; the criterion wants SAM's car shift ≥ 70 % of W+'s and less change outside.
--save-phi DIR keeps every inverted φ (bench_ablations.py reuses them instead of inverting again).
Writes semantic_map.{json,md,png} to --out.
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
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam_editor.runtime import init_torch  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "photos" / "cars"
HELDOUT_PHOTOS = ("e.png", "f.png", "g.png")
CAR, CLUTTER = 4, 5  # carworld.CAR, carworld.CLUTTER
SPACE_NAMES = ("W+", "F4", "F6", "F8", "F10")


def heldout(n: int, seed: int, size: int, work: Path) -> tuple[list[np.ndarray], np.ndarray]:
    from sam_editor.demo.clutter import write_samples

    photos = [str(PHOTOS / p) for p in HELDOUT_PHOTOS if (PHOTOS / p).is_file()]
    if not photos:
        print(f"note: no photos in {PHOTOS}; clutter without photo patches", file=sys.stderr)
    write_samples(work, n, seed, size=size, clutter=True, photo_paths=photos, masks=True)
    rgb = [cv2.cvtColor(cv2.imread(str(work / f"img_{i:05d}.png")), cv2.COLOR_BGR2RGB) for i in range(n)]
    classes = np.stack([cv2.imread(str(work / f"classes_{i:05d}.png"), cv2.IMREAD_UNCHANGED) for i in range(n)])
    return rgb, classes


def map_figures(space_maps: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    car, clutter = classes == CAR, classes == CLUTTER
    single, spaces = [], []
    kernel = np.ones((5, 5), np.uint8)
    for sm, c in zip(space_maps, car, strict=True):
        interior = cv2.erode(c.astype(np.uint8), kernel) > 0  # a boundary 1–2 px off is not a split
        if interior.sum() < 50:  # car hidden behind clutter: not counted
            continue
        share = np.bincount(sm[interior], minlength=5) / int(interior.sum())
        single.append(share.max() >= 0.95)
        spaces.append(int((share >= 0.05).sum()))
    return {
        "car_in_wplus": float((space_maps[car] == 0).mean()),
        "clutter_in_f": float((space_maps[clutter] > 0).mean()),
        "car_single_space": float(np.mean(single)),
        "cars_counted": len(single),
        "spaces_per_car": float(np.mean(spaces)),
        "share": {s: float((space_maps == r).mean()) for r, s in enumerate(SPACE_NAMES)},
    }


def colour_preset(bundle):  # noqa: ANN001, ANN201
    """The bundle's colour preset (the one that makes the car redder) as δw+ (1, num_ws, w_dim)."""
    from sam_editor.edits.compose import ganspace_edit
    from sam_editor.edits.ganspace import load_or_compute
    from sam_editor.edits.presets import GENERATOR_PRESETS_FILE, load_preset_list

    presets = load_preset_list(bundle.generator_path.parent / GENERATOR_PRESETS_FILE)
    preset = next((p for p in presets if "redder" in p.name.lower()), None)
    if preset is None:
        return None, None
    comps = load_or_compute(bundle.G, weights_path=bundle.generator_path, key=bundle.generator_id,
                            cache_dir=bundle.cache_dir, n_samples=bundle.ganspace_samples)
    return preset, ganspace_edit(bundle.G, comps, preset.component, preset.layers, preset.strength).delta_w()


@torch.no_grad()
def edit_effect(G, phi, delta_w: torch.Tensor, car: torch.Tensor) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Per image: the car's mean-colour shift |Δ mean RGB| (0–255), the mean |Δ| on the car's
    pixels and on the pixels outside it (0–255, channel mean) between φ rendered with and
    without the edit δw+. car: (N, H, W) bool."""
    n = phi.w_plus.shape[0]
    plain = phi.render(G).clamp(-1, 1).add(1).mul(127.5)
    edited = phi.render(G, delta_w=delta_w.expand(n, -1, -1)).clamp(-1, 1).add(1).mul(127.5)
    diff = (edited - plain).abs().mean(1)  # (N, H, W)
    shift, on_car, off_car = [], [], []
    for i in range(n):
        c = car[i]
        shift.append(float((edited[i][:, c].mean(1) - plain[i][:, c].mean(1)).norm()) if c.any() else 0.0)
        on_car.append(float(diff[i][c].mean()) if c.any() else 0.0)
        off_car.append(float(diff[i][~c].mean()))
    return {"car_shift": np.array(shift), "car_change": np.array(on_car), "outside_change": np.array(off_car)}


def unrefined(errors: np.ndarray, tau: float) -> np.ndarray:
    """Fig. 4.6's ablation: the selection rule per pixel, no segments."""
    from sam_editor.invertibility.latent_map import select_spaces

    return select_spaces(errors.reshape(5, -1).T, tau).reshape(errors.shape[1:])


def plot_curves(curves: dict[str, dict], taus: dict[str, float], out: Path, title: str) -> None:
    W, H, m = 560, 380, 56
    img = np.full((H, W, 3), 255, np.uint8)
    tmax = 1.5

    def xy(t: float, v: float) -> tuple[int, int]:
        return int(m + t / tmax * (W - 1.6 * m)), int(H - m - v * (H - 1.8 * m))

    cv2.rectangle(img, xy(0, 0), xy(tmax, 1), (0, 0, 0), 1)
    for t in np.arange(0, tmax + 1e-9, 0.25):
        px, py = xy(t, 0)
        cv2.line(img, (px, py), (px, py + 4), (0, 0, 0), 1)
        cv2.putText(img, f"{t:g}", (px - 10, py + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
    for v in np.arange(0, 1.01, 0.2):
        px, py = xy(0, v)
        cv2.putText(img, f"{v * 100:.0f}%", (6, py + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
        cv2.line(img, (px, py), xy(tmax, v), (225, 225, 225), 1)
    px, py = xy(0, 0.8)
    cv2.line(img, (px, py), xy(tmax, 0.8), (150, 150, 150), 1)
    styles = {"before": (120, 120, 120), "after": (30, 30, 200)}
    for li, (name, c) in enumerate(curves.items()):
        col = styles[name]
        for key, thick in (("car_in_wplus", 2), ("clutter_in_f", 1)):
            pts = [xy(t, v) for t, v in zip(c["tau"], c[key], strict=True) if t <= tmax]
            cv2.polylines(img, [np.array(pts, np.int32)], False, col, thick, cv2.LINE_AA)
        tx, ty = xy(taus[name], 0)
        cv2.line(img, (tx, ty), xy(taus[name], 1), col, 1, cv2.LINE_4)
        cv2.putText(img, f"{name}: tau {taus[name]:g}", (tx + 3, ty - 8 - 14 * li), cv2.FONT_HERSHEY_SIMPLEX, 0.38, col, 1)
    cv2.putText(img, "thick: car pixels in W+   thin: clutter pixels in F", (m, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1)
    cv2.putText(img, "grey: over-segmentation   red: semantic segmenter", (m, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1)
    cv2.putText(img, "tau (threshold on predicted error)", (W // 2 - 100, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1)
    head = np.full((26, W, 3), 255, np.uint8)
    cv2.putText(head, title, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(out), np.concatenate([head, img]))


def main() -> int:
    init_torch()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--n-invert", type=int, default=None, help="invert only the first N images (default: all)")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7_300_000)
    ap.add_argument("--init", choices=("encoder", "mean"), default="encoder", help="start point (the app: encoder)")
    ap.add_argument("--no-inversion", action="store_true", help="map figures and curves only")
    ap.add_argument("--out", default="docs/benchmarks")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save-phi", default=None, help="folder to keep every inverted φ in (bench_ablations.py reads it)")
    ap.add_argument("--before-predictor", default=None,
                    help="predictor of the 'before' column (default: the bundle's; e.g. the predictor before issue 35)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from sam_editor.demo.calibrate_tau import curves as tau_curves
    from sam_editor.demo.calibrate_tau import segment_tables
    from sam_editor.inversion import InversionSettings, invert
    from sam_editor.inversion.encoder import encode
    from sam_editor.inversion.images import psnr
    from sam_editor.invertibility.latent_map import select_spaces
    from sam_editor.invertibility.segmenters import OversegSegmenter
    from sam_editor.perceptual import default_perceptual
    from sam_editor.session.models import Bundle, load_bundle

    bundle = load_bundle(device="cpu")
    if not isinstance(bundle, Bundle) or bundle.predictor is None:
        print(f"error: needs the demo bundle with its predictor ({bundle})", file=sys.stderr)
        return 2
    G = bundle.G
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        rgb, classes = heldout(args.n, args.seed, G.cfg.resolution, Path(tmp))
    before_pred = bundle.predictor
    if args.before_predictor:
        from sam_editor.invertibility.predictor import load_predictor

        before_pred = load_predictor(args.before_predictor)
    configs = {"before": (OversegSegmenter(), 0.225, before_pred), "after": (bundle.segmenter, bundle.tau, bundle.predictor)}
    print(f"{args.n} held-out renders (seed {args.seed}); after = {bundle.segmenter_label} at τ {bundle.tau:g} "
          f"on {bundle.tau_scale.metric}", flush=True)
    results: dict[str, dict] = {}
    curves, maps = {}, {}
    for name, (seg, tau, pred) in configs.items():
        t0 = time.perf_counter()
        tables = segment_tables(rgb, pred, seg)
        maps[name] = np.stack([select_spaces(means, tau)[labels] for labels, means, _ in tables])
        curves[name] = tau_curves(tables, classes)
        results[name] = {"segmenter": getattr(seg, "label", type(seg).__name__), "tau": tau,
                         "predictor": args.before_predictor if name == "before" and args.before_predictor else "bundle",
                         "segments_per_image": float(np.mean([t[1].shape[0] for t in tables])),
                         "map_ms": 1000 * (time.perf_counter() - t0) / len(rgb), **map_figures(maps[name], classes)}
        results[name]["unrefined"] = map_figures(np.stack([unrefined(e, tau) for _, _, e in tables]), classes)
        print(name, json.dumps({k: v for k, v in results[name].items() if k != "share"}), flush=True)

    if not args.no_inversion:
        perceptual = default_perceptual("cpu")
        settings = InversionSettings(steps=args.steps)
        n_inv = min(args.n_invert or args.n, args.n)
        x_all = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in rgb[:n_inv]]).float().div(127.5).sub(1.0)
        car_all = torch.from_numpy(classes[:n_inv] == CAR)
        rec_scores: dict[str, list] = {"W+": [], "before": [], "after": []}
        preset, preset_dw = colour_preset(bundle)
        effects: dict[str, list] = {name: [] for name in rec_scores}
        if args.save_phi:
            Path(args.save_phi).mkdir(parents=True, exist_ok=True)
        t_start = time.perf_counter()
        for b0 in range(0, n_inv, args.batch):
            x = x_all[b0 : b0 + args.batch]
            car = car_all[b0 : b0 + args.batch]
            for name in rec_scores:
                lmaps = None if name == "W+" else list(maps[name][b0 : b0 + args.batch])
                init = None
                if args.init == "encoder" and bundle.encoder is not None:
                    init = encode(bundle.encoder, G, x, lmaps if lmaps is not None else None)
                res = invert(G, x, "wplus" if name == "W+" else "sam", lmaps, settings, seed=0, perceptual=perceptual,
                             init_phi=init)
                rec = res.reconstruction.clamp(-1, 1)
                with torch.no_grad():
                    d = perceptual.distance(rec, x).flatten().numpy()
                mse_car = (((rec - x) / 2) ** 2).mean(1)  # (N, H, W), images in [0, 1]
                car_psnr = [float(10 * np.log10(1.0 / max(float(mse_car[i][car[i]].mean()), 1e-10))) for i in range(len(x))]
                rec_scores[name].append((psnr(rec, x).numpy(), d, np.array(car_psnr)))
                if preset_dw is not None:
                    effects[name].append(edit_effect(G, res.phi, preset_dw, car))
                if args.save_phi:
                    res.phi.save(Path(args.save_phi) / f"{'wplus' if name == 'W+' else name}_{b0:03d}.pt")
            print(f"images {b0 + 1}–{b0 + len(x)}: {time.perf_counter() - t_start:.0f} s", flush=True)
        for name, parts in rec_scores.items():
            p, d, c = (np.concatenate([q[i] for q in parts]) for i in range(3))
            results.setdefault(name, {})["reconstruction"] = {"psnr": float(p.mean()), "perceptual": float(d.mean()),
                                                               "car_psnr": float(c.mean())}
        wplus = np.concatenate([q[0] for q in rec_scores["W+"]])
        for name in ("before", "after"):
            sam = np.concatenate([q[0] for q in rec_scores[name]])
            results[name]["reconstruction"]["gain_over_wplus_db"] = float((sam - wplus).mean())
            results[name]["reconstruction"]["beats_wplus"] = f"{int((sam > wplus).sum())}/{len(sam)}"
        if preset is not None:
            for name, parts in effects.items():
                results[name]["colour_preset"] = {k: [round(float(v), 3) for v in np.concatenate([q[k] for q in parts])]
                                                  for k in parts[0]}
            w_eff = results["W+"]["colour_preset"]
            for name in ("before", "after"):
                e = results[name]["colour_preset"]
                ratio = np.array(e["car_shift"]) / np.maximum(np.array(w_eff["car_shift"]), 1e-6)
                e["summary"] = {"preset": preset.name, "strength": preset.strength,
                                "car_shift_ratio": float(np.sum(e["car_shift"]) / max(np.sum(w_eff["car_shift"]), 1e-6)),
                                "car_shift_ratio_median": float(np.median(ratio)),
                                "images_ratio_ge_70": f"{int((ratio >= 0.7).sum())}/{len(ratio)}",
                                "outside_less_than_wplus": f"{int((np.array(e['outside_change']) < np.array(w_eff['outside_change'])).sum())}/{len(ratio)}"}
        if args.save_phi:
            (Path(args.save_phi) / "meta.json").write_text(json.dumps(
                {"seed": args.seed, "n": n_inv, "steps": args.steps, "init": args.init, "batch": args.batch,
                 "tau": bundle.tau, "segmenter": bundle.segmenter_label}, indent=1))
        results["meta"] = {"perceptual": perceptual.name, "steps": args.steps, "inverted_images": n_inv, "init": args.init, "batch": args.batch,
                           "threads": torch.get_num_threads(), "seconds": round(time.perf_counter() - t_start)}

    b, a = results["before"], results["after"]

    def pct(v: float) -> str:
        return f"{100 * v:.1f} %"

    rows = [
        ("segments", results["before"]["segmenter"], results["after"]["segmenter"]),
        ("τ", f"{b['tau']:g} (paper, LPIPS-VGG)", f"{a['tau']:g} (calibrated, {bundle.tau_scale.metric})"),
        ("segments per image", f"{b['segments_per_image']:.1f}", f"{a['segments_per_image']:.1f}"),
        ("car pixels in W+", pct(b["car_in_wplus"]), pct(a["car_in_wplus"])),
        ("clutter pixels in F4–F10", pct(b["clutter_in_f"]), pct(a["clutter_in_f"])),
        ("car in a single space (≥ 95 % of its interior)", pct(b["car_single_space"]), pct(a["car_single_space"])),
        ("spaces per car (≥ 5 % of its interior)", f"{b['spaces_per_car']:.2f}", f"{a['spaces_per_car']:.2f}"),
        ("spaces per car without refinement (Fig. 4.6)", f"{b['unrefined']['spaces_per_car']:.2f}",
         f"{a['unrefined']['spaces_per_car']:.2f}"),
    ]
    if "reconstruction" in a:
        w = results["W+"]["reconstruction"]
        rows += [
            ("PSNR SAM (dB), W+ alone " + f"{w['psnr']:.2f}", f"{b['reconstruction']['psnr']:.2f}", f"{a['reconstruction']['psnr']:.2f}"),
            ("SAM − W+ (dB), images where SAM wins", f"{b['reconstruction']['gain_over_wplus_db']:+.2f}, {b['reconstruction']['beats_wplus']}",
             f"{a['reconstruction']['gain_over_wplus_db']:+.2f}, {a['reconstruction']['beats_wplus']}"),
            (f"{results['meta']['perceptual']} (W+ alone {w['perceptual']:.4f})", f"{b['reconstruction']['perceptual']:.4f}",
             f"{a['reconstruction']['perceptual']:.4f}"),
            (f"PSNR on the car (dB), W+ alone {w['car_psnr']:.2f}", f"{b['reconstruction']['car_psnr']:.2f}",
             f"{a['reconstruction']['car_psnr']:.2f}"),
        ]
    if "colour_preset" in a:
        wc, bc, ac = (results[k]["colour_preset"] for k in ("W+", "before", "after"))

        def mean(e: dict, k: str) -> float:
            return float(np.mean(e[k]))

        rows += [
            (f"colour preset “{ac['summary']['preset']}” ×{ac['summary']['strength']:g}: car's mean-colour shift "
             f"(0–255), W+ alone {mean(wc, 'car_shift'):.1f}", f"{mean(bc, 'car_shift'):.1f}", f"{mean(ac, 'car_shift'):.1f}"),
            ("  SAM / W+ (all images pooled; median per image; images ≥ 70 %)",
             f"{100 * bc['summary']['car_shift_ratio']:.0f} %; {100 * bc['summary']['car_shift_ratio_median']:.0f} %; {bc['summary']['images_ratio_ge_70']}",
             f"{100 * ac['summary']['car_shift_ratio']:.0f} %; {100 * ac['summary']['car_shift_ratio_median']:.0f} %; {ac['summary']['images_ratio_ge_70']}"),
            (f"  mean change on the car's pixels (0–255), W+ alone {mean(wc, 'car_change'):.1f}",
             f"{mean(bc, 'car_change'):.1f}", f"{mean(ac, 'car_change'):.1f}"),
            (f"  mean change outside the car (0–255), W+ alone {mean(wc, 'outside_change'):.1f}; images below W+",
             f"{mean(bc, 'outside_change'):.1f}; {bc['summary']['outside_less_than_wplus']}",
             f"{mean(ac, 'outside_change'):.1f}; {ac['summary']['outside_less_than_wplus']}"),
        ]
    md = ["| held-out cluttered renders: " + f"{args.n} (seed {args.seed}) | before | after |", "|---|---|---|"]
    md += [f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows]
    if "meta" in results:
        m = results["meta"]
        md.append(f"\nInversion (reconstruction rows): the first {m['inverted_images']} of the {args.n} images, "
                  f"{m['init']} start, {m['steps']} steps, batch {m['batch']}, {m['threads']} torch thread(s), "
                  f"{m['seconds']} s in all (3 runs per image).")
    curve_rows = ["\n| τ | car in W+ (before) | clutter in F (before) | car in W+ (after) | clutter in F (after) |", "|---:|---:|---:|---:|---:|"]
    for i, t in enumerate(curves["after"]["tau"]):
        if round(t * 1000) % 100 == 0 or abs(t - a["tau"]) < 1e-9 or abs(t - 0.225) < 1e-9:
            curve_rows.append(f"| {t:g} | {pct(curves['before']['car_in_wplus'][i])} | {pct(curves['before']['clutter_in_f'][i])} | "
                              f"{pct(curves['after']['car_in_wplus'][i])} | {pct(curves['after']['clutter_in_f'][i])} |")
    text = "\n".join(md + curve_rows) + "\n"
    print(text)
    (out / "semantic_map.md").write_text(text)
    results["curves"] = {k: {kk: [round(float(v), 4) for v in vv] for kk, vv in c.items()} for k, c in curves.items()}
    (out / "semantic_map.json").write_text(json.dumps(results, indent=1))
    plot_curves(curves, {"before": 0.225, "after": bundle.tau}, out / "semantic_map.png",
                f"{args.n} held-out cluttered renders: car in W+ and clutter in F against tau (demo bundle)")
    print(f"wrote {out}/semantic_map.md, .json, .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
