"""Clutter the demo generator never sees: the paper's "hard regions" for test images.

The car world trains the GAN on clean scenes only, so fences, shrubs, street signs, text, poles and
patches of real photos are by construction outside its range: an inversion must fail there, and the
invertibility predictor must flag them. add_clutter returns the exact mask of what it touched, which
is the ground truth those checks compare against. Also here: write_samples, which builds clean or
cluttered test sets on disk.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from sam_editor.demo import carworld

KINDS: tuple[str, ...] = ("fence", "shrub", "sign", "text", "pole", "photo", "texture")
_WORDS = ("STOP", "SALE", "TAXI", "PARK", "OPEN", "EXIT", "2024", "AB-123", "CAFE", "HOTEL", "SLOW", "NO 7")
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)


class _Layer:
    """Draws anti-aliased into the image and hard-edged into a coverage mask, in pixel coordinates."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self.cov = np.zeros(img.shape[:2], np.uint8)
        self.h, self.w = img.shape[:2]

    def poly(self, pts, colour) -> None:
        p = np.round(np.asarray(pts, np.float64) * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(self.img, [p], _c(colour), cv2.LINE_AA, 4)
        cv2.fillPoly(self.cov, [p], 1, cv2.LINE_8, 4)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour)

    def circle(self, c, r: float, colour) -> None:
        ci, ri = (int(round(c[0] * 16)), int(round(c[1] * 16))), max(int(round(r * 16)), 8)
        cv2.circle(self.img, ci, ri, _c(colour), -1, cv2.LINE_AA, 4)
        cv2.circle(self.cov, ci, ri, 1, -1, cv2.LINE_8, 4)

    def paste(self, patch: np.ndarray, region: np.ndarray, x0: int, y0: int) -> None:
        """Copy patch where region (bool, patch-sized) is set, clipped to the image."""
        ph, pw = patch.shape[:2]
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + pw, self.w), min(y0 + ph, self.h)
        if xb <= xa or yb <= ya:
            return
        sub = region[ya - y0:yb - y0, xa - x0:xb - x0]
        self.img[ya:yb, xa:xb][sub] = patch[ya - y0:yb - y0, xa - x0:xb - x0][sub]
        self.cov[ya:yb, xa:xb][sub] = 1


def _c(colour) -> list[float]:
    return np.clip(np.asarray(colour, np.float64), 0, 255).tolist()


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _fence(lay: _Layer, rng: np.random.Generator) -> None:
    """Picket fence across part of the frame, usually in front of the car's lower half."""
    w, h = lay.w, lay.h
    colour = np.array([(236, 234, 226), (132, 92, 58), (150, 152, 156)][int(rng.integers(3))], np.float64)
    colour += rng.integers(-12, 13, 3)  # white, wooden or metal
    top, bottom = _u(rng, 0.5, 0.8) * h, _u(rng, 0.85, 1.05) * h
    x0 = _u(rng, -0.1, 0.5) * w
    x1 = min(x0 + _u(rng, 0.3, 0.75) * w, 1.1 * w)
    pw, gap = _u(rng, 0.02, 0.035) * w, _u(rng, 0.02, 0.04) * w
    for y in (top + 0.25 * (bottom - top), top + 0.65 * (bottom - top)):  # rails behind the pickets
        lay.rect(x0, y, x1, y + 0.025 * h, colour * 0.8)
    for x in np.arange(x0, x1, pw + gap):
        lay.poly([(x, bottom), (x, top + 0.6 * pw), (x + pw / 2, top), (x + pw, top + 0.6 * pw), (x + pw, bottom)],
                 colour)


def _shrub(lay: _Layer, rng: np.random.Generator) -> None:
    """A bush: a cloud of green discs, darker underneath, rising from the bottom part of the image."""
    w, h = lay.w, lay.h
    cx, cy, r = _u(rng, 0.0, 1.0) * w, _u(rng, 0.65, 1.0) * h, _u(rng, 0.08, 0.2) * h
    hue = np.array([(46, 104, 40), (70, 120, 36), (34, 82, 48)][int(rng.integers(3))], np.float64)
    for k in range(int(rng.integers(14, 28))):
        a, d = _u(rng, 0, 2 * np.pi), r * np.sqrt(_u(rng, 0, 1))
        light = 0.6 + 0.7 * k / 28 + _u(rng, -0.1, 0.1)  # later (upper) discs are lighter
        lay.circle((cx + d * np.cos(a), cy + 0.7 * d * np.sin(a) - 0.3 * r * k / 28), _u(rng, 0.3, 0.55) * r,
                   hue * light)


def _sign(lay: _Layer, rng: np.random.Generator) -> None:
    """Street sign on a post: round (prohibition), triangular (warning) or rectangular (information)."""
    w, h = lay.w, lay.h
    x, top, s = _u(rng, 0.05, 0.95) * w, _u(rng, 0.15, 0.45) * h, _u(rng, 0.08, 0.15) * w
    lay.rect(x - 0.012 * w, top, x + 0.012 * w, h + 1, (128, 130, 134))
    shape = int(rng.integers(3))
    if shape == 0:
        lay.circle((x, top), s / 2, (200, 24, 30))
        lay.circle((x, top), s * 0.36, (246, 246, 246) if rng.uniform() < 0.5 else (30, 70, 170))
        lay.rect(x - s * 0.26, top - s * 0.07, x + s * 0.26, top + s * 0.07, (200, 24, 30))
    elif shape == 1:
        tri = np.array([(0, -0.55), (0.5, 0.35), (-0.5, 0.35)])
        lay.poly(tri * s + (x, top), (205, 30, 34))
        lay.poly(tri * s * 0.66 + (x, top + 0.03 * s), (246, 244, 236))
        lay.rect(x - 0.035 * s, top - 0.12 * s, x + 0.035 * s, top + 0.12 * s, (20, 20, 20))
    else:
        bg = [(24, 88, 170), (20, 120, 60), (240, 200, 30)][int(rng.integers(3))]
        lay.rect(x - s * 0.8, top - s * 0.45, x + s * 0.8, top + s * 0.45, bg)
        _put_text(lay, _WORDS[int(rng.integers(len(_WORDS)))], (x, top), 1.3 * s, (250, 250, 250), 1,
                  _FONTS[0])


def _put_text(lay: _Layer, word: str, centre, width: float, colour, thick: int, font: int) -> None:
    (tw, th), _ = cv2.getTextSize(word, font, 1.0, thick)
    scale = width / max(tw, 1)
    org = (int(round(centre[0] - tw * scale / 2)), int(round(centre[1] + th * scale / 2)))
    cv2.putText(lay.img, word, org, font, scale, _c(colour), thick, cv2.LINE_AA)
    cv2.putText(lay.cov, word, org, font, scale, 1, thick, cv2.LINE_8)


def _text(lay: _Layer, rng: np.random.Generator) -> None:
    """Free-floating text (shop lettering, watermark, plate): thin strokes no GAN layer can fit."""
    w, h = lay.w, lay.h
    word = _WORDS[int(rng.integers(len(_WORDS)))]
    thick = int(rng.integers(1, 4))
    colour = rng.integers(0, 256, 3)
    centre, width = (_u(rng, 0.2, 0.8) * w, _u(rng, 0.15, 0.9) * h), _u(rng, 0.25, 0.7) * w
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    if rng.uniform() < 0.5:  # outlined lettering
        _put_text(lay, word, centre, width, 255 - colour, thick + 2, font)
    _put_text(lay, word, centre, width, colour, thick, font)


def _pole(lay: _Layer, rng: np.random.Generator) -> None:
    """Lamp post or wooden utility pole crossing the frame in front of everything."""
    w, h = lay.w, lay.h
    x, pw, top = _u(rng, 0.1, 0.9) * w, _u(rng, 0.02, 0.045) * w, _u(rng, -0.1, 0.3) * h
    colour = np.array([(54, 58, 62), (40, 70, 52), (112, 80, 52)][int(rng.integers(3))], np.float64)
    lay.poly([(x - pw / 2, h + 1), (x - pw * 0.35, top), (x + pw * 0.35, top), (x + pw / 2, h + 1)], colour)
    if rng.uniform() < 0.6:  # lamp arm and head
        side = 1 if rng.uniform() < 0.5 else -1
        arm = side * _u(rng, 0.08, 0.16) * w
        lay.rect(min(x, x + arm), top + 0.01 * h, max(x, x + arm), top + 0.01 * h + 0.3 * pw, colour)
        lay.rect(x + arm - 0.7 * pw, top + 0.005 * h, x + arm + 0.7 * pw, top + 0.045 * h, colour * 0.8)
        lay.rect(x + arm - 0.5 * pw, top + 0.045 * h, x + arm + 0.5 * pw, top + 0.06 * h, (250, 240, 190))
    else:  # cross-bar of a utility pole
        lay.rect(x - 3 * pw, top + 0.05 * h, x + 3 * pw, top + 0.05 * h + 0.5 * pw, colour)


@functools.lru_cache(maxsize=32)
def _load_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read photo {path!r}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img.setflags(write=False)  # cached: callers must not modify it
    return img


def photo_patch(photo_paths: Sequence[str | os.PathLike], rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """A (height, width, 3) uint8 RGB crop of a random photo: real texture the GAN never modelled."""
    src = _load_rgb(os.fspath(photo_paths[int(rng.integers(len(photo_paths)))]))
    sh, sw = src.shape[:2]
    ch, cw = int(sh * _u(rng, 0.25, 0.8)), int(sw * _u(rng, 0.25, 0.8))
    y, x = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
    return cv2.resize(src[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_AREA)


def texture_patch(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A (height, width, 3) uint8 procedural texture (noise, stripes or checks) for when no photo is given."""
    base = rng.uniform(30, 225, 3)  # one surface colour with coarse variation, like brick, bark or foliage
    shape = (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3)
    coarse = (base + rng.uniform(-1, 1, shape[:2] + (1,)) * _u(rng, 20, 70) + rng.uniform(-20, 20, shape))
    coarse = coarse.astype(np.float32)
    tex = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    tex += rng.normal(0, _u(rng, 10, 45), (height, width, 3)).astype(np.float32)  # grain
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    pattern = int(rng.integers(3))
    if pattern == 1:  # stripes
        f, a = _u(rng, 0.2, 0.8), _u(rng, 0, np.pi)
        tex *= (0.75 + 0.25 * np.sign(np.sin(f * (xx * np.cos(a) + yy * np.sin(a)))))[:, :, None]
    elif pattern == 2:  # checks
        c = int(rng.integers(2, 7))
        tex *= (0.7 + 0.3 * (((xx // c) + (yy // c)) % 2))[:, :, None]
    return np.clip(tex, 0, 255).astype(np.uint8)


def _patch(lay: _Layer, rng: np.random.Generator, photo_paths: Sequence[str | os.PathLike]) -> None:
    """Paste a photo crop (or a texture) as a rectangle, an ellipse or a blob."""
    ph, pw = max(int(_u(rng, 0.18, 0.45) * lay.h), 4), max(int(_u(rng, 0.18, 0.45) * lay.w), 4)
    patch = photo_patch(photo_paths, rng, ph, pw) if photo_paths else texture_patch(rng, ph, pw)
    region = np.zeros((ph, pw), np.uint8)
    shape = int(rng.integers(3))
    if shape == 0:
        region[:] = 1
    elif shape == 1:
        cv2.ellipse(region, (pw // 2, ph // 2), (max(pw // 2 - 1, 1), max(ph // 2 - 1, 1)), 0, 0, 360, 1, -1)
    else:
        ang = np.sort(rng.uniform(0, 2 * np.pi, 9))
        rad = rng.uniform(0.55, 1.0, 9)
        pts = np.stack([pw / 2 * (1 + rad * np.cos(ang)), ph / 2 * (1 + rad * np.sin(ang))], 1)
        cv2.fillPoly(region, [np.round(pts).astype(np.int32)], 1)
    x0, y0 = int(rng.integers(-pw // 4, lay.w - 3 * pw // 4)), int(rng.integers(-ph // 4, lay.h - 3 * ph // 4))
    lay.paste(patch, region.astype(bool), x0, y0)


_DRAW: dict[str, Callable[[_Layer, np.random.Generator], None]] = {
    "fence": _fence, "shrub": _shrub, "sign": _sign, "text": _text, "pole": _pole,
}


def add_clutter(image: np.ndarray, rng: np.random.Generator, kinds: Sequence[str] | None = None,
                count: tuple[int, int] = (1, 3), photo_paths: Sequence[str | os.PathLike] = ()
                ) -> tuple[np.ndarray, np.ndarray]:
    """Draw count[0]..count[1] (inclusive) random clutter items of the given kinds onto a copy of image.

    kinds: subset of KINDS; None = all of fence/shrub/sign/text/pole plus "photo" when photo_paths are
    given, else "texture". "photo" without paths falls back to a procedural texture.
    Returns (cluttered uint8 (H, W, 3), bool (H, W) mask): the mask covers every pixel the clutter drew
    or changed (anti-aliased fringes included), so pixels outside it equal the input exactly.
    """
    if kinds is None:
        kinds = [*_DRAW, "photo" if photo_paths else "texture"]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown clutter kinds {bad}; expected a non-empty subset of {KINDS}")
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    lay = _Layer(out)
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind in _DRAW:
            _DRAW[kind](lay, rng)
        else:
            _patch(lay, rng, photo_paths if kind == "photo" else ())
    mask = lay.cov.astype(bool) | np.any(out != image, axis=-1)
    return out, mask


def cluttered_scene(rng: np.random.Generator, size: int = 128, clutter: bool = True,
                    photo_paths: Sequence[str | os.PathLike] = (), count: tuple[int, int] = (1, 3),
                    params: carworld.SceneParams | None = None
                    ) -> tuple[np.ndarray, np.ndarray, carworld.SceneParams]:
    """One labelled scene: (uint8 (size, size, 3) image, uint8 (size, size) class map, params).
    The class map is carworld.render_with_classes' map with carworld.CLUTTER wherever add_clutter
    drew or changed a pixel, so every class describes what the pixel shows (clutter in front of the
    car is clutter, not car)."""
    params = carworld.sample_params(rng) if params is None else params
    img, classes = carworld.render_with_classes(params, size)
    if clutter:
        img, mask = add_clutter(img, rng, count=count, photo_paths=photo_paths)
        classes = classes.copy()
        classes[mask] = carworld.CLUTTER
    return img, classes, params


def write_samples(out_dir: str | os.PathLike, n: int, seed: int, size: int = 128, clutter: bool = False,
                  photo_paths: Sequence[str | os.PathLike] = (), masks: bool = False) -> list[dict]:
    """Write n car-world images (img_00000.png, ...) plus captions.json {file: caption} and params.json
    {file: SceneParams as dict}; with clutter, each image gets add_clutter(count=(1, 3)). masks=True
    also writes car_00000.png (car mask), classes_00000.png (carworld.CLASSES indices, clutter
    included) and, with clutter, clutter_00000.png (0/255 PNGs).
    Deterministic in seed. Returns one record per image (file, caption, params, clutter mask area)."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    records, captions, params_out = [], {}, {}
    for i in range(n):
        params = carworld.sample_params(rng)
        img, classes = carworld.render_with_classes(params, size)
        car = classes == carworld.CAR
        clutter_mask = np.zeros(car.shape, bool)
        if clutter:
            img, clutter_mask = add_clutter(img, rng, photo_paths=photo_paths)
            classes = np.where(clutter_mask, carworld.CLUTTER, classes).astype(np.uint8)
        name = f"img_{i:05d}.png"
        cv2.imwrite(os.path.join(out_dir, name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if masks:
            cv2.imwrite(os.path.join(out_dir, f"car_{i:05d}.png"), car.astype(np.uint8) * 255)
            cv2.imwrite(os.path.join(out_dir, f"classes_{i:05d}.png"), classes)
            if clutter:
                cv2.imwrite(os.path.join(out_dir, f"clutter_{i:05d}.png"), clutter_mask.astype(np.uint8) * 255)
        captions[name] = carworld.caption(params)
        params_out[name] = dataclasses.asdict(params)
        records.append({"file": name, "caption": captions[name], "params": params,
                        "clutter_fraction": float(clutter_mask.mean())})
    with open(os.path.join(out_dir, "captions.json"), "w") as f:
        json.dump(captions, f, indent=1)
    with open(os.path.join(out_dir, "params.json"), "w") as f:
        json.dump(params_out, f, indent=1)
    return records
