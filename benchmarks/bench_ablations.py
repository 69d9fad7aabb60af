"""The paper's ablations (Fig. 4.5 and 4.7) on the demo bundle, on held-out renders, and the
generator's W+ figure on clean renders (issue 35).

    # after bench_semantic_map.py --save-phi /tmp/phi (same --seed/--steps/--batch): reuses its φ
    python benchmarks/bench_ablations.py --n 20 --phi-cache /tmp/phi --out docs/benchmarks
    python benchmarks/bench_ablations.py --n 4 --steps 20 --clean-n 4 --out /tmp/abl   # a quick look

Held-out set: the first --n of bench_semantic_map's cluttered renders (write_samples seed 7 300 000,
photo clutter from photos e–g; no training or calibration set uses them). Every inversion is the
one the app runs: the encoder's φ̂ for the map, then --steps optimisation steps (InversionSettings
defaults otherwise: λ_F = 5, L_rec = ℓ2 + the perceptual term).

- **Fig. 4.5, without L_F (eq. 3.7)**: SAM with the bundle's map (semantic segments, calibrated τ)
  inverted with λ_F = 5 and with λ_F = 0; the bundle's colour preset ("Car redder") and its sky
  preset applied at their strengths. Read-outs: the car's mean-colour shift |Δ mean RGB| (0–255),
  mean |Δ| on the car's pixels that the map puts in W+ and on those it puts in F4–F10, mean |Δ|
  on the background in F, mean ‖Δf‖² per element, PSNR. With --before-predictor the same on the
  map of before issue 35 (over-segmentation, τ 0.225, that predictor), which puts the car in F4/F6:
  there L_F decides whether the colour edit reaches the car.
- **Fig. 4.7, a car segmenter as the invertibility map**: the paper's recipe — the segmenter's car
  class in W+, everything else in F6 — against SAM's map: PSNR of the car's pixels and of the
  frame, the perceptual distance, and the colour preset's effect; also on the images where SAM's
  map keeps part of the car out of W+ (the predictor's "W+ cannot draw this car").
- **W+ on clean renders**: --clean-n renders without clutter (seed --clean-seed, 7 100 000 as in the
  issue's diagnosis), W+ alone, encoder start, --steps steps: PSNR on the car's pixels.

Writes ablations.{json,md} and ablation_fig45.png, ablation_fig47.png to --out.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from sam_editor.runtime import init_torch  # noqa: E402

F6 = 2  # rank of F6 in a latent map (W+, F4, F6, F8, F10)


def car_psnr(rec: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """PSNR (dB) over each image's masked pixels, images in [-1, 1]; mask (N, H, W) bool."""
    mse = (((rec - x) / 2) ** 2).mean(1)
    return np.array([10 * np.log10(1.0 / max(float(mse[i][mask[i]].mean()), 1e-10)) if mask[i].any() else np.nan
                     for i in range(len(x))])


@torch.no_grad()
def edit_readout(G, phi, delta_w: torch.Tensor, car: torch.Tensor, lmap: torch.Tensor) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Per image: car's mean-colour shift, mean |Δ| (0–255) on car∩W+, car∩F, background∩F,
    and the pixel counts of those regions. lmap: (N, H, W) rank per pixel (0 = W+)."""
    n = phi.w_plus.shape[0]
    plain = phi.render(G).clamp(-1, 1).add(1).mul(127.5)
    edited = phi.render(G, delta_w=delta_w.expand(n, -1, -1)).clamp(-1, 1).add(1).mul(127.5)
    diff = (edited - plain).abs().mean(1)
    out: dict[str, list] = {k: [] for k in ("car_shift", "car_wplus", "car_f", "bg_f", "n_car_wplus", "n_car_f", "n_bg_f")}
    for i in range(n):
        c, f = car[i], lmap[i] > 0
        out["car_shift"].append(float((edited[i][:, c].mean(1) - plain[i][:, c].mean(1)).norm()) if c.any() else np.nan)
        for key, region in (("car_wplus", c & ~f), ("car_f", c & f), ("bg_f", ~c & f)):
            out[key].append(float(diff[i][region].sum()))  # summed: pooled over images below
            out["n_" + key].append(int(region.sum()))
    return {k: np.array(v, float) for k, v in out.items()}


def pooled(r: dict[str, np.ndarray], key: str) -> float:
    n = r["n_" + key].sum()
    return float(r[key].sum() / n) if n else float("nan")


def df_energy(phi) -> float:  # noqa: ANN001
    """Mean ‖Δf‖² per element over the feature spaces in use (what L_F penalises)."""
    vals = [float(v.pow(2).mean()) for v in phi.delta_f.values()]
    return float(np.mean(vals)) if vals else 0.0


def cat_phi(parts: list):  # noqa: ANN201
    from sam_editor.inversion.phi import Phi

    keys = sorted(parts[0].delta_f)
    return Phi(torch.cat([p.w_plus for p in parts]), {k: torch.cat([p.delta_f[k] for p in parts]) for k in keys},
               {k: torch.cat([p.masks[k].expand(p.n, -1, -1, -1) for p in parts]) for k in keys})


def tile(img: np.ndarray, label: str, h: int) -> np.ndarray:
    img = cv2.resize(img, (int(img.shape[1] * h / img.shape[0]), h), interpolation=cv2.INTER_NEAREST)
    head = np.full((16, img.shape[1], 3), 255, np.uint8)
    cv2.putText(head, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([head, img])


def to_u8(t: torch.Tensor) -> np.ndarray:
    return t.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy()


def map_rgb(lmap: np.ndarray) -> np.ndarray:
    from sam_editor.invertibility.latent_map import SPACE_COLORS, SPACES

    return np.array([SPACE_COLORS[s] for s in SPACES], np.uint8)[lmap]


def main() -> int:  # noqa: C901, PLR0915
    init_torch()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7_300_000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--phi-cache", default=None, help="bench_semantic_map.py --save-phi folder (W+ and 'after' φ)")
    ap.add_argument("--before-predictor", default=None, help="predictor before issue 35: Fig. 4.5 on its map as well")
    ap.add_argument("--wait-cache", type=float, default=0, help="seconds to wait for --phi-cache to be written (a run in progress)")
    ap.add_argument("--clean-n", type=int, default=16)
    ap.add_argument("--clean-seed", type=int, default=7_100_000)
    ap.add_argument("--figure-images", type=int, default=3)
    ap.add_argument("--out", default="docs/benchmarks")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from bench_semantic_map import CAR, colour_preset, heldout

    from sam_editor.demo.calibrate_tau import segment_tables
    from sam_editor.demo.clutter import write_samples
    from sam_editor.edits.compose import ganspace_edit
    from sam_editor.edits.ganspace import load_or_compute
    from sam_editor.edits.presets import GENERATOR_PRESETS_FILE, load_preset_list
    from sam_editor.inversion import InversionSettings, invert
    from sam_editor.inversion.encoder import encode
    from sam_editor.inversion.images import psnr
    from sam_editor.inversion.phi import Phi
    from sam_editor.invertibility.latent_map import select_spaces
    from sam_editor.perceptual import default_perceptual
    from sam_editor.session.models import Bundle, load_bundle

    bundle = load_bundle(device="cpu")
    if not isinstance(bundle, Bundle) or bundle.predictor is None or bundle.encoder is None:
        print(f"error: needs the demo bundle with its predictor and encoder ({bundle})", file=sys.stderr)
        return 2
    G = bundle.G
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    perceptual = default_perceptual("cpu")
    t_all = time.perf_counter()

    def run(x: torch.Tensor, maps: list | None, lambda_f: float = 5.0) -> tuple[Phi, torch.Tensor]:
        """The app's inversion of x, in batches: encoder start + steps (W+ alone when maps is None)."""
        phis, recs = [], []
        for b0 in range(0, len(x), args.batch):
            xb = x[b0 : b0 + args.batch]
            mb = None if maps is None else list(maps[b0 : b0 + args.batch])
            res = invert(G, xb, "wplus" if maps is None else "sam", mb, InversionSettings(steps=args.steps, lambda_f=lambda_f),
                         seed=0, perceptual=perceptual, init_phi=encode(bundle.encoder, G, xb, mb))
            phis.append(res.phi)
            recs.append(res.reconstruction.clamp(-1, 1))
        return cat_phi(phis) if maps is not None else Phi(torch.cat([p.w_plus for p in phis])), torch.cat(recs)

    def cached(name: str, n: int) -> Phi | None:
        if not args.phi_cache:
            return None
        folder = Path(args.phi_cache)
        waited = 0.0
        while not (folder / "meta.json").is_file() and waited < args.wait_cache:
            time.sleep(30)
            waited += 30
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        if (meta.get("seed"), meta.get("steps"), meta.get("init"), meta.get("batch")) != (args.seed, args.steps, "encoder", args.batch) \
                or meta.get("n", 0) < n or abs(float(meta.get("tau", -1)) - bundle.tau) > 1e-9:
            print(f"note: {folder} was made with other settings ({meta}); inverting again", file=sys.stderr)
            return None
        parts = [Phi.load(folder / f"{name}_{b0:03d}.pt") for b0 in range(0, n, args.batch)]
        phi = cat_phi(parts) if parts[0].delta_f else Phi(torch.cat([p.w_plus for p in parts]))
        return Phi(phi.w_plus[:n], {k: v[:n] for k, v in phi.delta_f.items()}, {k: v[:n] for k, v in phi.masks.items()})

    with tempfile.TemporaryDirectory() as tmp:
        rgb, classes = heldout(args.n, args.seed, G.cfg.resolution, Path(tmp))
    x = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in rgb]).float().div(127.5).sub(1.0)
    car = torch.from_numpy(classes == CAR)
    tables = segment_tables(rgb, bundle.predictor, bundle.segmenter)
    sam_maps = np.stack([select_spaces(means, bundle.tau)[labels] for labels, means, _ in tables])
    car_class = bundle.segmenter.class_names.index("car")
    runs = [("W+", "wplus", None, 5.0), ("SAM", "after", sam_maps, 5.0), ("SAM, λ_F = 0", None, sam_maps, 0.0)]
    lmaps = {"W+": np.zeros_like(sam_maps), "SAM": sam_maps, "SAM, λ_F = 0": sam_maps}
    if args.before_predictor:
        from sam_editor.invertibility.predictor import load_predictor
        from sam_editor.invertibility.segmenters import OversegSegmenter

        old = segment_tables(rgb, load_predictor(args.before_predictor), OversegSegmenter())
        old_maps = np.stack([select_spaces(means, 0.225)[labels] for labels, means, _ in old])
        runs += [("old map", "before", old_maps, 5.0), ("old map, λ_F = 0", None, old_maps, 0.0)]
        lmaps.update({"old map": old_maps, "old map, λ_F = 0": old_maps})
    seg_maps = np.stack([np.where(bundle.segmenter.class_map(a) == car_class, 0, F6) for a in rgb]).astype(np.uint8)

    presets = {p.name: p for p in load_preset_list(bundle.generator_path.parent / GENERATOR_PRESETS_FILE)}
    colour, colour_dw = colour_preset(bundle)
    sky = next((p for p in presets.values() if "sky" in p.name.lower()), None)
    comps = load_or_compute(G, weights_path=bundle.generator_path, key=bundle.generator_id,
                            cache_dir=bundle.cache_dir, n_samples=bundle.ganspace_samples)
    edits = {"colour": (colour, colour_dw)}
    if sky is not None:
        edits["sky"] = (sky, ganspace_edit(G, comps, sky.component, sky.layers, sky.strength).delta_w())

    clean = None
    if args.clean_n > 0:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_samples(tmp, args.clean_n, args.clean_seed, size=G.cfg.resolution, clutter=False, masks=True)
            crgb = [cv2.cvtColor(cv2.imread(f"{tmp}/img_{i:05d}.png"), cv2.COLOR_BGR2RGB) for i in range(args.clean_n)]
            ccar = np.stack([cv2.imread(f"{tmp}/car_{i:05d}.png", cv2.IMREAD_GRAYSCALE) > 127 for i in range(args.clean_n)])
        cx = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in crgb]).float().div(127.5).sub(1.0)
        _, crec = run(cx, None)
        cp = car_psnr(crec, cx, torch.from_numpy(ccar))
        clean = {"n": args.clean_n, "seed": args.clean_seed, "car_psnr": float(np.mean(cp)), "car_psnr_min": float(cp.min()),
                 "car_psnr_max": float(cp.max()), "psnr": float(psnr(crec, cx).mean()), "seconds": round(time.perf_counter() - t0)}
        print("clean W+:", json.dumps(clean), flush=True)

    phis: dict[str, Phi] = {}
    recs: dict[str, torch.Tensor] = {}
    timing: dict[str, float] = {}
    runs.append(("car segmenter (car W+, rest F6)", None, seg_maps, 5.0))
    lmaps["car segmenter (car W+, rest F6)"] = seg_maps
    runs.sort(key=lambda r: r[1] is not None)  # inversions first, φ from the cache last (it may still be being written)
    for name, cache_name, maps, lam in runs:
        t0 = time.perf_counter()
        phi = cached(cache_name, args.n) if cache_name else None
        if phi is not None:
            with torch.no_grad():
                rec = phi.render(G).clamp(-1, 1)
            timing[name] = 0.0
            print(f"{name}: φ from {args.phi_cache}", flush=True)
        else:
            phi, rec = run(x, None if maps is None else list(maps), lam)
            timing[name] = time.perf_counter() - t0
            print(f"{name}: inverted {args.n} images in {timing[name]:.0f} s", flush=True)
        phis[name], recs[name] = phi, rec

    results: dict[str, dict] = {}
    kernel = np.ones((5, 5), np.uint8)
    interior = np.stack([cv2.erode(c.astype(np.uint8), kernel) > 0 for c in (classes == CAR)])
    sam_splits = np.array([(sam_maps[i][interior[i]] == 0).mean() < 0.95 if interior[i].sum() >= 50 else False
                           for i in range(args.n)])
    for name, phi in phis.items():
        rec = recs[name]
        with torch.no_grad():
            d = perceptual.distance(rec, x).flatten().numpy()
        r = {"psnr": psnr(rec, x).numpy().tolist(), "car_psnr": car_psnr(rec, x, car).tolist(), "perceptual": d.tolist(),
             "df_energy": df_energy(phi), "seconds": round(timing[name])}
        lm = torch.from_numpy(lmaps[name])
        for key, (_preset, dw) in edits.items():
            ro = edit_readout(G, phi, dw, car, lm)
            r[key] = {"car_shift": float(np.nanmean(ro["car_shift"])), "car_shift_per_image": ro["car_shift"].round(3).tolist(),
                      **{k: pooled(ro, k) for k in ("car_wplus", "car_f", "bg_f")},
                      **{"pixels_" + k: int(ro["n_" + k].sum()) for k in ("car_wplus", "car_f", "bg_f")}}
        results[name] = r
    if clean:
        results["clean_wplus"] = clean
    results["meta"] = {"n": args.n, "seed": args.seed, "steps": args.steps, "batch": args.batch, "perceptual": perceptual.name,
                       "tau": bundle.tau, "segmenter": bundle.segmenter_label, "threads": torch.get_num_threads(),
                       "images_sam_keeps_part_of_car_out_of_wplus": int(sam_splits.sum()),
                       "presets": {k: v[0].name for k, v in edits.items()}}

    # ---- table ----
    def m(v: list) -> float:
        return float(np.nanmean(v))

    order_of = ["W+", "SAM", "SAM, λ_F = 0", "old map", "old map, λ_F = 0", "car segmenter (car W+, rest F6)"]
    names = [nm for nm in order_of if nm in phis]
    md = [f"| {args.n} held-out cluttered renders (seed {args.seed}), encoder start + {args.steps} steps | " + " | ".join(names) + " |",
          "|---|" + "---:|" * len(names)]

    def row(label: str, fn) -> None:  # noqa: ANN001
        md.append(f"| {label} | " + " | ".join(fn(results[nm]) for nm in names) + " |")

    row("PSNR, frame (dB)", lambda r: f"{m(r['psnr']):.2f}")
    row("PSNR, car pixels (dB)", lambda r: f"{m(r['car_psnr']):.2f}")
    if sam_splits.any():
        idx = np.flatnonzero(sam_splits)
        row(f"PSNR, car pixels, the {len(idx)} images where SAM keeps > 5 % of the car out of W+",
            lambda r: f"{np.nanmean(np.array(r['car_psnr'])[idx]):.2f}")
    row(f"{perceptual.name} (lower is better)", lambda r: f"{m(r['perceptual']):.4f}")
    row("mean ‖Δf‖² per element (L_F)", lambda r: f"{r['df_energy']:.4f}")
    for key, (preset, _dw) in edits.items():
        row(f"“{preset.name}” ×{preset.strength:g}: car's mean-colour shift (0–255)", lambda r, k=key: f"{r[k]['car_shift']:.1f}")
        row("  mean change (0–255): car pixels in W+ / car pixels in F / background in F",
            lambda r, k=key: " / ".join("–" if np.isnan(r[k][z]) else f"{r[k][z]:.1f}" for z in ("car_wplus", "car_f", "bg_f")))
    row("  pixels: car in W+ / car in F / background in F (all images)",
        lambda r: f"{r['colour']['pixels_car_wplus']} / {r['colour']['pixels_car_f']} / {r['colour']['pixels_bg_f']}")
    row("seconds to invert (0: φ reused from bench_semantic_map)", lambda r: f"{r['seconds']}")
    text = "\n".join(md) + "\n"
    if clean:
        text += (f"\nW+ alone on {clean['n']} clean renders (no clutter, seed {clean['seed']}), encoder start + {args.steps} steps: "
                 f"car pixels {clean['car_psnr']:.2f} dB (min {clean['car_psnr_min']:.2f}, max {clean['car_psnr_max']:.2f}), "
                 f"frame {clean['psnr']:.2f} dB; {clean['seconds']} s.\n")
    print(text)
    (out / "ablations.md").write_text(text)
    (out / "ablations.json").write_text(json.dumps(results, indent=1))

    # ---- figures: Fig. 4.5 (λ_F 5 / 0: reconstruction and colour edit), Fig. 4.7 (car segmenter vs SAM) ----
    k = min(args.figure_images, args.n)
    order = (list(np.flatnonzero(sam_splits)[:1]) + [i for i in range(args.n) if not sam_splits[i]])[:k]
    h = 2 * G.cfg.resolution if G.cfg.resolution <= 96 else G.cfg.resolution

    def one(p: Phi, i: int) -> Phi:
        return Phi(p.w_plus[i : i + 1], {kk: v[i : i + 1] for kk, v in p.delta_f.items()},
                   {kk: v[i : i + 1] for kk, v in p.masks.items()})

    def grid(rows: list[list[np.ndarray]], path: Path) -> None:
        def hcat(ts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate([np.concatenate([t, np.full((t.shape[0], 4, 3), 255, np.uint8)], 1) for t in ts], 1)

        fig = np.concatenate([np.concatenate([hcat(r), np.full((4, hcat(r).shape[1], 3), 255, np.uint8)]) for r in rows])
        cv2.imwrite(str(path), cv2.cvtColor(fig, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])

    base = "old map" if "old map" in phis else "SAM"
    rows45, rows47 = [], []
    with torch.no_grad():
        for i in order:
            r = [tile(rgb[i], "input", h), tile(map_rgb(lmaps[base][i]), f"{'old ' if base == 'old map' else 'SAM '}map", h)]
            for name, short in ((base, "with L_F"), (f"{base}, λ_F = 0", "no L_F")):
                r.append(tile(to_u8(one(phis[name], i).render(G)[0]), f"{short} rec.", h))
                r.append(tile(to_u8(one(phis[name], i).render(G, delta_w=colour_dw)[0]), f"{short}, redder", h))
            rows45.append(r)
            r = [tile(rgb[i], "input", h)]
            for name, short in (("car segmenter (car W+, rest F6)", "car-seg"), ("SAM", "SAM")):
                r.append(tile(map_rgb(lmaps[name][i]), f"{short} map", h))
                r.append(tile(to_u8(recs[name][i]), f"{short} rec.", h))
                r.append(tile(to_u8(one(phis[name], i).render(G, delta_w=colour_dw)[0]), f"{short} redder", h))
            rows47.append(r)
    grid(rows45, out / "ablation_fig45.png")
    grid(rows47, out / "ablation_fig47.png")
    print(f"wrote {out}/ablations.md, .json, ablation_fig45.png, ablation_fig47.png ({time.perf_counter() - t_all:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
