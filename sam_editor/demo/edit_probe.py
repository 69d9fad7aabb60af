"""What does each GANSpace component of the demo generator do? Measured, not eyeballed.

For a component k we render n random cars at −s·σ_k and +s·σ_k (all style rows) and compare
simple read-outs of the car world: the car's horizontal centre and area, its mean colour, and
the sky's colour. The car is found without a network: in a car-world frame the background of
each row is nearly uniform (vertical sky gradient, flat ground and road), so pixels far from the
colour of their row's left/right borders are foreground; the largest blob, holes filled, is the
car. On rendered scenes that proxy has IoU ≈ 0.75 with the true car mask (see the tests).
"""

from __future__ import annotations

import numpy as np
import torch

BORDER = 10  # columns at each side that give a row's background colour
THRESHOLD = 50.0  # |RGB − background| summed over channels, 0–765


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 car-world frame → (H, W) bool mask of the largest foreground object."""
    import cv2

    x = cv2.GaussianBlur(image.astype(np.float32), (3, 3), 0)
    background = np.median(np.concatenate([x[:, :BORDER], x[:, -BORDER:]], axis=1), axis=1, keepdims=True)
    fg = (np.abs(x - background).sum(-1) > THRESHOLD).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n <= 1:
        return np.zeros(fg.shape, bool)
    fg = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(fg)
    cv2.drawContours(filled, contours, -1, 1, -1)
    return filled.astype(bool)


def read_out(image: np.ndarray) -> dict[str, np.ndarray | float]:
    """Car centre x and area (fractions of the frame), car and sky mean RGB (0–255)."""
    h, w = image.shape[:2]
    m = foreground_mask(image)
    sky = image[: max(1, h // 6)].reshape(-1, 3).mean(0)
    if m.sum() == 0:
        return {"cx": 0.5, "area": 0.0, "car_rgb": sky, "sky_rgb": sky}
    ys, xs = np.nonzero(m)
    return {"cx": float(xs.mean() / w), "area": float(m.mean()), "car_rgb": image[m].mean(0), "sky_rgb": sky}


@torch.no_grad()
def probe_components(G, comps, ks: list[int], strength: float = 2.0, n: int = 32, seed: int = 0,  # noqa: ANN001
                     layers: tuple[int, int] | None = None) -> list[dict]:
    """Per component: mean change (+s σ minus −s σ) of the read-outs over n samples, with the
    edit on style rows `layers` (inclusive; None: every row)."""
    from ..edits.ganspace import direction_to_delta_w

    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    w = G.map(z)

    def render(delta: torch.Tensor) -> np.ndarray:
        img = G.synthesize(w + delta).clamp(-1, 1)
        return ((img + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()

    rows = []
    for k in ks:
        d = direction_to_delta_w(G, comps, k, layers, strength)
        lo, hi = render(-d), render(d)
        a = [read_out(im) for im in lo]
        b = [read_out(im) for im in hi]
        dx = np.mean([q["cx"] - p["cx"] for p, q in zip(a, b, strict=True)])
        darea = np.mean([q["area"] - p["area"] for p, q in zip(a, b, strict=True)])
        dcar = np.mean([q["car_rgb"] - p["car_rgb"] for p, q in zip(a, b, strict=True)], axis=0)
        dsky = np.mean([q["sky_rgb"] - p["sky_rgb"] for p, q in zip(a, b, strict=True)], axis=0)
        pixel = float(np.abs(hi.astype(np.float32) - lo.astype(np.float32)).mean())
        rows.append({
            "component": k,
            "layers": list(layers) if layers is not None else [0, G.num_ws - 1],
            "explained_variance": round(float(comps.explained_variance_ratio[k]), 4),
            "mean_abs_pixel_change": round(pixel, 1),
            "car_centre_dx_px": round(float(dx) * G.cfg.output_size[1], 1),
            "car_area_change_pct": round(float(darea) * 100, 1),
            "car_rgb_change": [round(float(v), 1) for v in dcar],
            "sky_rgb_change": [round(float(v), 1) for v in dsky],
        })  # fmt: skip
    return rows


# What counts as a clear effect of ±strength σ (the read-outs' units).
CLEAR = {"colour": 20.0, "area_pct": 3.0, "dx_px": 4.0}
_CHANNEL_WORDS = ("redder", "greener", "bluer")
# Two channels moving together (the second ≥ 80 % of the first, same sign) name their mix:
# a car gaining G and B alike is turning cyan, not "bluer".
_PAIR_WORDS = {(0, 1): "yellower", (1, 2): "more cyan", (0, 2): "more magenta"}


def _colour_effect(delta: list[float]) -> tuple[float, str, float]:
    """(size in CLEAR units, word, sign of the change) for an RGB change."""
    d = np.asarray(delta, np.float64)
    big = np.abs(d).max()
    if big == 0:
        return 0.0, "", 1.0
    if np.all(np.sign(d) == np.sign(d[0])) and np.abs(d).min() > 0.6 * big:  # all channels together
        return float(np.abs(d).mean() / CLEAR["colour"]), "brighter", float(np.sign(d[0]))
    c = int(np.argmax(np.abs(d)))
    second = max((i for i in range(3) if i != c), key=lambda i: abs(d[i]))
    if np.sign(d[second]) == np.sign(d[c]) and abs(d[second]) >= 0.8 * big:
        return float(big / CLEAR["colour"]), _PAIR_WORDS[tuple(sorted((c, second)))], float(np.sign(d[c]))
    return float(big / CLEAR["colour"]), _CHANNEL_WORDS[c], float(np.sign(d[c]))


def layer_ranges(num_ws: int) -> list[tuple[int, int]]:
    """Style-row ranges tried for every component — GANSpace's layer-wise edits E(v_k, start–end):
    every row, the coarsest rows (where an object's placement is decided), rows 1–2 (the 4→8 px
    step, where its scale is), the coarse block, the middle rows (scene layout and lighting) and
    the rows after the coarse block (where colour lives). One component often means different
    things in each: on the 202-kimg demo generator PC 0 moved the car on rows 0–1, turned the sky
    blue on rows 2–5, and did both at once on every row. On the 408-kimg one PC 7 changes the
    car's size cleanly on rows 1–2 only (−4.5 % of the frame, 2.7× the next effect), while on
    rows 0–1 it also moves the car and on 1–3 it also darkens the sky."""
    ranges = [(0, num_ws - 1), (0, 1), (1, 2), (0, 3), (2, 5), (4, num_ws - 1)]
    return [r for r in dict.fromkeys(ranges) if 0 <= r[0] <= r[1] < num_ws]


# A preset's named effect must be at least this many times the next-largest one (a clean edit).
DOMINANCE = 2.0


def _effects(r: dict) -> list[tuple[float, str, float]]:
    """(size in CLEAR units, name, sign for the named change) of every read-out, largest first."""
    effects = []
    size, word, sign = _colour_effect(r["sky_rgb_change"])
    effects.append((size, f"Sky {word}", sign))
    size, word, sign = _colour_effect(r["car_rgb_change"])
    effects.append((size, f"Car {word}", sign))
    area, dx = r["car_area_change_pct"], r["car_centre_dx_px"]
    effects.append((abs(area) / CLEAR["area_pct"], "Car bigger", float(np.sign(area) or 1)))
    effects.append((abs(dx) / CLEAR["dx_px"], "Car moves right", float(np.sign(dx) or 1)))
    return sorted(effects, key=lambda e: -e[0])


def name_presets(rows: list[dict], generator_id: str, num_ws: int, strength: float = 2.0) -> list:
    """Named GANSpace presets from `probe_components` rows (one or several layer ranges per
    component). A row is a candidate when its largest measured effect is clear (≥ the CLEAR
    threshold) and clean (≥ DOMINANCE × the next effect); it is signed so that a positive preset
    strength gives the named change. Of candidates with the same name the largest effect wins,
    so the panel offers one slider per distinct change. Rows without a clean effect give nothing."""
    from ..edits.presets import Preset

    best: dict[str, tuple[float, float, float, dict]] = {}
    for r in rows:
        (size, name, sign), (second, _, _) = _effects(r)[:2]
        if size < 1.0 or size < DOMINANCE * second:
            continue
        if name not in best or size > best[name][0]:
            best[name] = (size, size / max(second, 1e-6), sign, r)
    presets = []
    for name, (size, clean, sign, r) in sorted(best.items(), key=lambda kv: (kv[1][3]["component"], kv[0])):
        k = r["component"]
        layers = tuple(r.get("layers", (0, num_ws - 1)))
        where = "" if layers == (0, num_ws - 1) else f", layers {layers[0]}-{layers[1]}"
        ratio = f"{clean:.1f}×" if clean < 100 else "≫"
        presets.append(Preset(name=f"Demo - {name} (PC {k}{where})", component=k, layers=layers,
                              strength=round(sign * strength, 2), generator=generator_id,
                              source=f"measured by `sam-editor demo presets` (effect {size:.1f}× the threshold, "
                                     f"{ratio} the next effect)"))  # fmt: skip
    return presets
