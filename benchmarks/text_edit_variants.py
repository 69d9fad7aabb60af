"""Why is "a blue car" modest on SAM inversions? Loss and parametrisation variants, measured.

Run by hand; prints numbers. It reuses the inversions that `measure_text_edit.py` wrote (the φ
files, ground-truth car and clutter masks) and runs StyleCLIP's latent optimisation in-process with
one change at a time, so every variant sees the same 16 images:

* official      — `styleclip.text_edit` as shipped (D_CLIP + λ_L2 ‖δ‖²)
* directional   — StyleGAN-NADA's directional loss instead of D_CLIP: 1 − cos(E_I(edit) − E_I(orig),
                  E_T(prompt) − E_T(--neutral)); done by handing `text_edit` a CLIP wrapper whose
                  image and text embeddings are those differences
* tied          — one δ shared by all rows it may change (W instead of W+)
* pca20         — δ projected on the span of the top-20 GANSpace components
* blur2, blur4  — the CLIP sees the render average-pooled 2× / 4× (against pixel-pattern answers)
* wplus         — the Δf_i and masks of φ dropped: the same prompt on the W+ part alone, to show
                  what SAM's gating (§3.4) costs an edit and saves the clutter
* sample-direction — no optimisation: mean w of the --samples generator samples the CLIP rates most
                  "prompt vs neutral" (top 5 %) minus the mean w of all, added on --layers

The measure is the one of `measure_text_edit.py`: mean change of (B − R) over visible car pixels
(0–255, edited vs reconstruction), images that got bluer, the same (B − R) change over the
background (a blue cast over everything is not a blue car), and mean |ΔRGB| of clutter and background.

    .venv/bin/python benchmarks/measure_text_edit.py --n 8 --seed 7000 --out runs/text_edit_7000
    .venv/bin/python benchmarks/text_edit_variants.py official tied --runs runs/text_edit_7000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("official", "directional", "tied", "pca20", "blur2", "blur4", "wplus", "sample-direction")


class _DirectionalClip:
    """A ClipModel stand-in whose embeddings are differences, so D_CLIP becomes the directional loss."""

    def __init__(self, clip, base_image, neutral: str) -> None:
        import torch

        self.clip, self.neutral = clip, neutral
        with torch.no_grad():
            self.base = clip.encode_image(base_image)

    def encode_image(self, x):
        d = self.clip.encode_image(x) - self.base
        return d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def encode_text(self, texts):
        d = self.clip.encode_text(list(texts)) - self.clip.encode_text([self.neutral])
        return d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class _BlurredClip:
    def __init__(self, clip, k: int) -> None:
        self.clip, self.k = clip, k

    def encode_image(self, x):
        import torch.nn.functional as F

        y = F.interpolate(F.avg_pool2d(x, self.k), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.clip.encode_image(y)

    def encode_text(self, texts):
        return self.clip.encode_text(texts)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("variants", nargs="+", choices=VARIANTS)
    ap.add_argument("--runs", nargs="+", required=True, help="output folders of measure_text_edit.py")
    ap.add_argument("--text", default="a blue car")
    ap.add_argument("--neutral", default="a car", help="source text of the directional variants")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--strength", type=float, default=1.0, help="multiplier of δ before rendering")
    ap.add_argument("--layers", default=None, help="style rows δ may change, e.g. 4-11 (default all)")
    ap.add_argument("--samples", type=int, default=2000, help="generator samples for sample-direction")
    ap.add_argument("--generator", default=str(ROOT / "weights" / "demo" / "generator.pt"))
    ap.add_argument("--clip", default="demo")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from sam_editor.edits import ganspace, styleclip
    from sam_editor.edits.clip_models import load_clip
    from sam_editor.gan.checkpoints import load_generator_any
    from sam_editor.inversion.phi import Phi
    from sam_editor.runtime import init_torch

    init_torch()
    G, _ = load_generator_any(args.generator)
    clip = load_clip(args.clip)
    rows = None
    if args.layers:
        a, b = (int(v) for v in args.layers.split("-"))
        rows = list(range(a, b + 1))
    row_mask = torch.zeros(1, G.num_ws, 1)
    row_mask[:, rows if rows is not None else slice(None)] = 1
    pcs = ganspace.load_or_compute(G, args.generator)
    basis = pcs.components[:20] * pcs.stdev[:20, None]  # (20, w_dim)
    to_basis = torch.linalg.pinv(basis)

    def sample_direction() -> torch.Tensor:
        gen = torch.Generator().manual_seed(1)
        ws, scores = [], []
        text = clip.encode_text([args.text, args.neutral])
        with torch.no_grad():
            for _ in range(0, args.samples, 50):
                w = G.mapping(torch.randn(50, G.z_dim, generator=gen))
                e = clip.encode_image(G.synthesize(w.unsqueeze(1).repeat(1, G.num_ws, 1)))
                ws.append(w)
                scores.append((e @ text.T) @ torch.tensor([1.0, -1.0]))
        w, s = torch.cat(ws), torch.cat(scores)
        return (w[s >= torch.quantile(s, 0.95)].mean(0) - w.mean(0)).view(1, 1, -1) * row_mask

    for variant in args.variants:
        t0 = time.time()
        fixed = sample_direction() if variant == "sample-direction" else None
        results = []
        for run in map(Path, args.runs):
            for phi_path in sorted(run.glob("inv_*/img_*_phi.pt")):
                i = phi_path.parent.name[4:]
                phi = Phi.load(phi_path)
                w_plus = phi.w_plus[:1]
                delta_f, masks = ({}, {}) if variant == "wplus" else (phi.delta_f, phi.masks)
                with torch.no_grad():
                    rec = G.synthesize(w_plus, delta_f, masks)
                if fixed is not None:
                    delta = fixed
                else:
                    model, reparam = clip, None
                    if variant == "directional":
                        model = _DirectionalClip(clip, rec, args.neutral)
                    elif variant.startswith("blur"):
                        model = _BlurredClip(clip, int(variant[4:]))
                    elif variant == "tied":
                        reparam = lambda d: d.sum(1, keepdim=True) / row_mask.sum() * row_mask  # noqa: E731
                    elif variant == "pca20":
                        reparam = lambda d: (d @ to_basis) @ basis  # noqa: E731
                    if reparam is not None:  # text_edit renders through G.synthesize: wrap it once
                        G.synthesize = _reparametrised(type(G).synthesize.__get__(G), reparam)
                    try:
                        r = styleclip.text_edit(G, w_plus, delta_f, masks, args.text, model, steps=args.steps, layers=rows)
                    finally:
                        G.__dict__.pop("synthesize", None)
                    delta = r.delta_w if reparam is None else reparam(r.delta_w)
                with torch.no_grad():
                    edited = G.synthesize(w_plus, delta_f, masks, delta_w=delta * args.strength)
                d = _rgb(edited) - _rgb(rec)
                car = cv2.imread(str(run / "images" / f"car_{i}.png"), 0) > 127
                clutter = cv2.imread(str(run / "images" / f"clutter_{i}.png"), 0) > 127
                car &= ~clutter
                results.append({
                    "blue_minus_red": float((d[..., 2] - d[..., 0])[car].mean()),
                    "background_blue_minus_red": float((d[..., 2] - d[..., 0])[~car & ~clutter].mean()),
                    "clutter": float(np.abs(d)[clutter].mean()) if clutter.any() else np.nan,
                    "background": float(np.abs(d)[~car & ~clutter].mean()),
                })  # fmt: skip
        br = np.array([r["blue_minus_red"] for r in results])
        print(json.dumps({
            "variant": variant, "text": args.text, "images": len(br), "strength": args.strength, "layers": args.layers,
            "car_blue_minus_red_mean": round(float(br.mean()), 1), "median": round(float(np.median(br)), 1),
            "images_bluer": f"{int((br > 0).sum())}/{len(br)}",
            "background_blue_minus_red_mean": round(float(np.mean([r["background_blue_minus_red"] for r in results])), 1),
            "clutter_abs_change": round(float(np.nanmean([r["clutter"] for r in results])), 1),
            "background_abs_change": round(float(np.mean([r["background"] for r in results])), 1),
            "seconds": round(time.time() - t0),
        }), flush=True)  # fmt: skip
    return 0


def _reparametrised(synthesize, reparam):
    def wrapped(w_plus, delta_f=None, masks=None, delta_w=None, **kw):
        return synthesize(w_plus, delta_f, masks, delta_w=None if delta_w is None else reparam(delta_w), **kw)

    return wrapped


def _rgb(x) -> np.ndarray:
    return ((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).numpy()


if __name__ == "__main__":
    sys.exit(main())
