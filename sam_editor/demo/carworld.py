"""Procedural "car world": the training distribution of the demo StyleGAN2.

Why procedural: the demo generator (~0.5 M parameters) must train in minutes, so its data must be
coherent (one car on a clean road scene), endless (a fresh image every step, no overfitting) and come
with exact ground truth for free: a caption for the tiny text-image model and a pixel mask of the car
for segmentation checks. Everything is drawn with OpenCV at 2x and reduced with INTER_AREA, which is
our anti-aliasing. The car is an extruded side profile seen through a small orthographic camera
(yaw for the three-quarter view, a little pitch so the roof shows), which is cheap and reads as 3-D.
"""

from __future__ import annotations

import dataclasses
import math
import re

import cv2
import numpy as np
import torch

Rgb = tuple[int, int, int]

COLOURS: dict[str, Rgb] = {
    "red": (196, 28, 32), "blue": (32, 78, 190), "white": (236, 236, 232), "black": (26, 27, 30),
    "silver": (176, 181, 188), "grey": (106, 108, 114), "yellow": (238, 196, 28), "green": (34, 128, 58),
    "orange": (236, 112, 22), "brown": (112, 70, 38),
}
BODY_TYPES: tuple[str, ...] = ("sedan", "hatchback", "suv", "van", "pickup", "sports")
VIEWS: tuple[str, ...] = ("side-left", "side-right", "three-quarter")
SKIES: dict[str, tuple[Rgb, Rgb]] = {  # name -> (zenith, horizon)
    "blue": ((48, 108, 202), (170, 206, 238)),
    "grey": ((116, 122, 132), (190, 192, 196)),
    "orange": ((82, 94, 158), (248, 160, 82)),
    "purple": ((38, 34, 88), (176, 110, 152)),
}
ROADS: dict[str, Rgb] = {"grey": (122, 122, 124), "dark": (56, 56, 60), "brown": (140, 108, 76)}
GROUNDS: dict[str, Rgb] = {"green": (78, 136, 58), "olive": (104, 118, 50), "dry": (170, 156, 92),
                           "sand": (198, 180, 138)}

# pixel labels of the internal label map (0 = background)
PAINT, GLASS, WHEEL, LIGHT, TRIM = 1, 2, 3, 4, 5
MASK_PARTS: dict[str, tuple[int, ...]] = {"car": (PAINT, GLASS, WHEEL, LIGHT, TRIM), "paint": (PAINT,),
                                          "glass": (GLASS,), "wheels": (WHEEL,)}
_E_BODY, _E_GLASS, _E_BED = 0, 1, 2  # labels of profile edges

# Semantic classes of the scene (class_map / render_with_classes): what a semantic segmenter for
# the demo bundle learns. "clutter" is set by demo.clutter where it pasted something the GAN never saw.
CLASSES: tuple[str, ...] = ("sky", "vegetation", "ground", "road", "car", "clutter")
SKY, VEGETATION, GROUND, ROAD, CAR, CLUTTER = range(len(CLASSES))


@dataclasses.dataclass(frozen=True)
class SceneParams:
    """Everything that decides one image; frozen so a scene is a value (hashable, comparable, cacheable).
    Positions are fractions of the image side; car sizes are fractions of the car length."""

    body_type: str
    colour_name: str
    colour_rgb: Rgb
    view: str  # one of VIEWS
    yaw_deg: float  # 0 for side views, ~25-40 for the three-quarter view (front to the right)
    pitch_deg: float  # camera looks slightly down so roof and bonnet show
    center_x: float  # centre of the car footprint, fraction of width
    ground_y: float  # ground line under the footprint centre, fraction of height
    scale: float  # car length / image width
    wheel_size: float  # wheel radius / car length
    window_tint: float  # 0 = clear glass, 1 = almost black
    lights_on: bool  # head and tail lights glowing
    sky_name: str
    sky_top_rgb: Rgb
    sky_horizon_rgb: Rgb
    horizon_y: float
    hills_rgb: Rgb
    hills_height: float  # 0 = no hills
    hills_phase: tuple[float, float, float]
    road_name: str
    road_rgb: Rgb
    road_top: float
    road_bottom: float
    ground_name: str
    ground_rgb: Rgb
    lane_marks: bool
    lane_phase: float


@dataclasses.dataclass(frozen=True)
class _Body:
    """Side profile of one body type, facing +x, x in [-0.5, 0.5], y up from the ground (car lengths)."""

    length: float  # relative length, so a hatchback is shorter than a pickup
    width: float
    yb: float  # underside
    nose: float  # top of the front face
    hood: tuple[float, float]  # windscreen base
    roof_front: tuple[float, float]
    roof_rear: tuple[float, float]
    rear_glass: tuple[float, float]  # base of the rear window (pickup: back of the cab)
    tail: float  # top of the rear face
    wheels: tuple[float, float]  # x of front and rear axle
    wheel_r: float
    pillars: tuple[float, ...]  # B/C pillars as fractions along the side window
    doors: tuple[float, ...]  # x of door shut lines
    roof_r: float = 0.05  # corner rounding of the roof


_BODIES: dict[str, _Body] = {
    "sedan": _Body(1.0, 0.40, 0.075, 0.185, (0.20, 0.215), (0.05, 0.33), (-0.17, 0.33),
                   (-0.33, 0.225), 0.212, (0.31, -0.31), 0.085, (0.52,), (0.19, -0.03, -0.2)),
    "hatchback": _Body(0.86, 0.44, 0.08, 0.21, (0.25, 0.245), (0.08, 0.40), (-0.38, 0.395),
                       (-0.48, 0.30), 0.25, (0.32, -0.33), 0.10, (0.5,), (0.18, -0.08, -0.21)),
    "suv": _Body(1.0, 0.44, 0.115, 0.27, (0.28, 0.30), (0.15, 0.45), (-0.43, 0.45),
                 (-0.485, 0.35), 0.30, (0.32, -0.32), 0.112, (0.42, 0.8), (0.17, -0.06, -0.27)),
    "van": _Body(1.0, 0.44, 0.085, 0.245, (0.40, 0.29), (0.26, 0.50), (-0.47, 0.50),
                 (-0.495, 0.44), 0.28, (0.34, -0.33), 0.092, (0.3, 0.64), (0.22, 0.03), 0.06),
    "pickup": _Body(1.08, 0.42, 0.10, 0.25, (0.22, 0.28), (0.11, 0.405), (-0.10, 0.405),
                    (-0.125, 0.29), 0.29, (0.33, -0.31), 0.10, (0.5,), (0.18, 0.0, -0.125)),
    "sports": _Body(0.95, 0.45, 0.06, 0.14, (0.11, 0.175), (-0.05, 0.265), (-0.18, 0.265),
                    (-0.40, 0.20), 0.19, (0.32, -0.31), 0.085, (), (0.19, -0.15), 0.06),
}


def _round_corners(pts: np.ndarray, labels: list[int], radii: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Replace each polygon corner by a short quadratic arc; edge i (pts[i] -> pts[i+1]) keeps labels[i]."""
    n = len(pts)
    out, out_lab = [], []
    for i in range(n):
        v, p, q = pts[i], pts[i - 1], pts[(i + 1) % n]
        da, db = np.linalg.norm(p - v), np.linalg.norm(q - v)
        d = min(radii[i], 0.45 * da, 0.45 * db)
        a, b = v + (p - v) * d / da, v + (q - v) * d / db
        corner_lab = labels[i] if labels[i] == labels[i - 1] else _E_BODY
        for t in (0.0, 0.33, 0.67):
            out.append((1 - t) ** 2 * a + 2 * t * (1 - t) * v + t * t * b)
            out_lab.append(corner_lab)
        out.append(b)
        out_lab.append(labels[i])  # edge from b towards the next corner
    return np.array(out, np.float32), np.array(out_lab, np.int32)


def _pts(*pts: tuple[float, float]) -> np.ndarray:
    return np.array(pts, np.float32)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return _pts((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _clip_below(poly: np.ndarray, y_max: float) -> np.ndarray:
    """Part of a polygon with y <= y_max (one Sutherland-Hodgman pass): the shaded lower flank."""
    out = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        if a[1] <= y_max:
            out.append(a)
        if (a[1] - y_max) * (b[1] - y_max) < 0:
            t = (y_max - a[1]) / (b[1] - a[1])
            out.append(a + t * (b - a))
    return np.array(out, np.float32)


class _Shape:
    """Precomputed 2-D geometry of a body type (profile, edge normals, windows, details)."""

    def __init__(self, b: _Body, name: str) -> None:
        yb = b.yb
        raw = np.array([(-0.5, yb + 0.045), (-0.475, yb), (0.475, yb), (0.5, yb + 0.045), (0.5, b.nose),
                        b.hood, b.roof_front, b.roof_rear, b.rear_glass, (-0.5, b.tail)], np.float32)
        rear_lab = _E_BODY if name == "pickup" else _E_GLASS
        deck_lab = _E_BED if name == "pickup" else _E_BODY
        labels = [_E_BODY, _E_BODY, _E_BODY, _E_BODY, _E_BODY, _E_GLASS, _E_BODY, rear_lab, deck_lab, _E_BODY]
        radii = [0.03, 0.03, 0.03, 0.03, 0.04, 0.03, b.roof_r, b.roof_r, 0.02, 0.03]
        self.profile, self.edge_labels = _round_corners(raw, labels, radii)
        self.lower = _clip_below(self.profile, b.hood[1] - 0.03)
        d = np.roll(self.profile, -1, axis=0) - self.profile
        nrm = np.stack([d[:, 1], -d[:, 0]], 1)  # outward normal of a counter-clockwise polygon
        self.normals = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
        self.mid = 0.5 * (self.profile + np.roll(self.profile, -1, axis=0))
        (xf, hb), (xrf, hr), (xrr, _), (xr, hbr) = b.hood, b.roof_front, b.roof_rear, b.rear_glass
        y0, y1 = hb + 0.014, hr - 0.022

        def front(y: float) -> float:
            return xf + (xrf - xf) * (y - hb) / (hr - hb) - 0.028

        def rear(y: float) -> float:
            x = xrr + (xr - xrr) * (hr - y) / (hr - hbr) if y >= hbr else xr
            return x + 0.028

        win = [(front(y0), y0), (front(y1), y1), (rear(y1), y1)] + \
            ([(rear(hbr), hbr)] if y0 < hbr < y1 else []) + [(rear(y0), y0)]
        self.window, _ = _round_corners(np.array(win, np.float32), [0] * len(win), [0.012] * len(win))
        ym, fx, n = 0.5 * (y0 + y1), front(y0), b.nose
        xs = [front(ym) + f * (rear(ym) - front(ym)) for f in b.pillars]  # B/C/D pillars lean back
        self.pillars = [_pts((x - 0.006, y0 - 0.003), (x + 0.018, y0 - 0.003), (x + 0.006, y1 + 0.003),
                             (x - 0.018, y1 + 0.003)) for x in xs]
        self.mirror = _pts((fx - 0.005, y0 + 0.004), (fx - 0.04, y0 + 0.004), (fx - 0.045, y0 + 0.032),
                           (fx - 0.015, y0 + 0.032))
        self.door_lines = [_pts((x, y0), (x - 0.004, yb + 0.03)) for x in b.doors]
        self.handles = [_rect(x - 0.055, hb - 0.03, x - 0.02, hb - 0.038) for x in b.doors[1:]]
        self.rocker = _rect(b.wheels[1] + 1.25 * b.wheel_r, yb, b.wheels[0] - 1.25 * b.wheel_r, yb + 0.028)
        self.headlight = _pts((0.497, n - 0.012), (0.43, n - 0.006), (0.435, n - 0.034), (0.494, n - 0.045))
        self.taillight = _rect(-0.497, b.tail - 0.012, -0.45, b.tail - 0.05)
        self.body = b


_SHAPES: dict[str, _Shape] = {k: _Shape(v, k) for k, v in _BODIES.items()}


class _Camera:
    """Orthographic camera: yaw turns the front (+x) towards the viewer, pitch lifts far points."""

    def __init__(self, p: SceneParams, s: int) -> None:
        th, ph = math.radians(p.yaw_deg), math.radians(p.pitch_deg)
        self.ct, self.st, self.cp, self.sp = math.cos(th), math.sin(th), math.cos(ph), math.sin(ph)
        self.w = _BODIES[p.body_type].width
        self.lpx = p.scale * s
        self.ox, self.oy = p.center_x * s, p.ground_y * s
        self.sign = -1.0 if p.view == "side-left" else 1.0
        self.toward = np.array([self.st * self.cp, self.sp], np.float32)  # xy part of the view vector
        # the projection is affine in (x, y) for a fixed depth z: pixel = xy @ m + offset(z)
        self.m = np.array([[self.sign * self.ct * self.lpx, self.st * self.sp * self.lpx],
                           [0.0, -self.cp * self.lpx]], np.float32)

    def project(self, xy: np.ndarray, z: float) -> np.ndarray:
        """(N, 2) profile points at depth z (0 = near side) -> (N, 2) pixel coordinates."""
        zc = z - 0.5 * self.w
        off = np.array([self.ox + self.sign * zc * self.st * self.lpx,
                        self.oy - zc * self.ct * self.sp * self.lpx], np.float32)
        return xy @ self.m + off


class _Canvas:
    """Draws into the RGB image (anti-aliased) and, when asked, into a label map (hard edges)."""

    def __init__(self, img: np.ndarray, lab: np.ndarray | None) -> None:
        self.img, self.lab = img, lab

    def poly(self, pts: np.ndarray, colour, label: int | None = None) -> None:
        p = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(self.img, [p], _c(colour), cv2.LINE_AA, 4)
        if self.lab is not None and label is not None:
            cv2.fillPoly(self.lab, [p], label, cv2.LINE_8, 4)

    def ellipse(self, c, axes, colour, label: int | None, start: float = 0, end: float = 360) -> None:
        ci = (int(round(c[0] * 16)), int(round(c[1] * 16)))
        ai = (max(int(round(axes[0] * 16)), 1), max(int(round(axes[1] * 16)), 1))
        cv2.ellipse(self.img, ci, ai, 0, start, end, _c(colour), -1, cv2.LINE_AA, 4)
        if self.lab is not None and label is not None:
            cv2.ellipse(self.lab, ci, ai, 0, start, end, label, -1, cv2.LINE_8, 4)

    def line(self, pts: np.ndarray, colour, thick: float) -> None:
        p = np.round(pts * 16).astype(np.int32)  # thick is in whole pixels: cv2 does not shift it
        cv2.line(self.img, tuple(p[0]), tuple(p[1]), _c(colour), max(int(round(thick)), 1), cv2.LINE_AA, 4)


def _c(colour) -> list[float]:
    return np.minimum(np.maximum(colour, 0.0), 255.0).tolist()


def _lerp(a, b, t):
    return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t


def _background(p: SceneParams, s: int) -> np.ndarray:
    """Sky gradient, hills, ground and road: built as one column broadcast across, then a few polygons."""
    rows = (np.arange(s, dtype=np.float32) + 0.5) / s
    col = np.empty((s, 3), np.float32)
    sky = rows < p.horizon_y
    t = (rows[sky] / p.horizon_y)[:, None] ** 0.8
    col[sky] = _lerp(p.sky_top_rgb, p.sky_horizon_rgb, t)
    g = ~sky
    tg = ((rows[g] - p.horizon_y) / max(1.0 - p.horizon_y, 1e-3))[:, None]
    col[g] = _lerp(_lerp(p.ground_rgb, p.sky_horizon_rgb, 0.3), np.asarray(p.ground_rgb) * 0.92, np.sqrt(tg))
    road = (rows >= p.road_top) & (rows < p.road_bottom)
    tr = ((rows[road] - p.road_top) / max(p.road_bottom - p.road_top, 1e-3))[:, None]
    col[road] = _lerp(np.asarray(p.road_rgb, np.float32) * 0.94, np.asarray(p.road_rgb, np.float32) * 1.04, tr)
    img = cv2.resize(col.astype(np.uint8)[:, None, :], (s, s), interpolation=cv2.INTER_NEAREST)  # fast fill
    cv = _Canvas(img, None)
    if p.hills_height > 0:
        pts = _hills_polygon(p, s)
        cv.poly(pts.astype(np.float32), _lerp(p.hills_rgb, p.sky_horizon_rgb, 0.35))
    kerb = np.asarray(p.road_rgb, np.float32) * 0.6 + 90
    for y in (p.road_top, p.road_bottom):
        if y < 1.0:
            cv.line(_pts((0, y * s), (s, y * s)), kerb, 0.008 * s)
    if p.lane_marks:
        y = (p.road_top + 0.3 * (p.road_bottom - p.road_top)) * s
        for x0 in np.arange(-p.lane_phase * 0.15 * s, s, 0.15 * s):  # dashes 0.08 long, period 0.15
            cv.poly(_rect(x0, y - 0.005 * s, x0 + 0.08 * s, y + 0.005 * s), (232, 232, 220))
    return img


def _hills_polygon(p: SceneParams, s: int) -> np.ndarray:
    """(43, 2) x, y of the distant hills' outline in an s-px frame: the one shape both the image
    and its class map draw, so the labels cannot drift from the pixels."""
    xs = np.linspace(0.0, 1.0, 41, dtype=np.float32)
    a, b, c = p.hills_phase
    h = 0.55 + 0.25 * np.sin(2 * np.pi * 1.1 * xs + a) + 0.13 * np.sin(2 * np.pi * 2.7 * xs + b) \
        + 0.07 * np.sin(2 * np.pi * 6.3 * xs + c)
    top = (p.horizon_y - p.hills_height * h) * s
    return np.concatenate([np.stack([xs * s, top], 1), [[s, p.horizon_y * s + 1], [0, p.horizon_y * s + 1]]])


def _background_classes(p: SceneParams, s: int) -> np.ndarray:
    """(s, s) uint8 classes of _background at the same resolution: the same rows and polygons,
    drawn hard-edged (kerb lines and lane marks belong to the road or ground they lie on)."""
    rows = (np.arange(s, dtype=np.float32) + 0.5) / s
    col = np.where(rows < p.horizon_y, SKY, GROUND).astype(np.uint8)
    col[(rows >= p.road_top) & (rows < p.road_bottom)] = ROAD
    lab = np.ascontiguousarray(np.broadcast_to(col[:, None], (s, s)))
    if p.hills_height > 0:  # distant hills, greenish: vegetation
        pts = _hills_polygon(p, s)
        hill = np.zeros((s, s), np.uint8)
        cv2.fillPoly(hill, [np.round(pts.astype(np.float32) * 16).astype(np.int32).reshape(-1, 1, 2)], 1,
                     cv2.LINE_8, 4)
        lab[(hill > 0) & (lab == SKY)] = VEGETATION
    return lab


def _shadow(img: np.ndarray, cam: _Camera) -> None:
    """Soft contact shadow: the blurred footprint darkens the ground (only the ROI is blurred)."""
    foot = np.array([(-0.52, 0.0), (0.52, 0.0)], np.float32)
    pts = np.concatenate([cam.project(foot, -0.03), cam.project(foot[::-1], cam.w + 0.03)])
    sigma = 0.04 * cam.lpx
    pad = int(3 * sigma) + 2
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + pad, img.shape[1::-1])
    if x1 <= x0 or y1 <= y0:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillConvexPoly(m, np.round((pts - (x0, y0)) * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
    m = 1.0 - 0.55 * cv2.GaussianBlur(m, (0, 0), sigma)
    img[y0:y1, x0:x1] = (img[y0:y1, x0:x1].astype(np.float32) * m[:, :, None]).astype(np.uint8)


def _shade(base: np.ndarray, normal: np.ndarray, spec: float = 36.0) -> np.ndarray:
    """Lambert + a little specular, so even black cars show a lit roof."""
    d = max(0.0, float(normal[0] * 0.35 + normal[1] * 0.94))
    return base * (0.62 + 0.4 * d) + spec * d ** 8


def _wheel(cv: _Canvas, cam: _Camera, x: float, r: float, z: float, near: bool) -> None:
    c = cam.project(_pts((x, r)), z)[0]
    ax = np.array([r * cam.ct * cam.lpx, r * cam.cp * cam.lpx])
    if near and cam.st > 0.05:  # tread seen from the front quarter
        cv.ellipse(cam.project(_pts((x, r)), z + 0.07)[0], ax, (20, 20, 22), WHEEL)
    cv.ellipse(c, ax, (30, 30, 33) if near else (22, 22, 24), WHEEL)
    for k, colour in ((0.62, (186, 188, 194)), (0.45, (150, 152, 158)), (0.17, (70, 70, 76))) if near else ():
        cv.ellipse(c, ax * k, colour, WHEEL)  # rim, dish, hub


def _draw_car(cv: _Canvas, p: SceneParams, cam: _Camera) -> None:
    shp = _SHAPES[p.body_type]
    b = shp.body
    base = np.asarray(p.colour_rgb, np.float32)
    glass = _lerp((150, 176, 192), (30, 34, 42), p.window_tint)
    glass_sky = _lerp(glass, p.sky_horizon_rgb, 0.25 * (1 - p.window_tint))
    r = p.wheel_size
    for x in b.wheels:
        _wheel(cv, cam, x, r, cam.w - 0.04, near=False)
    # visible strips of the extruded profile, far to near
    vis = np.nonzero(shp.normals @ cam.toward > 1e-3)[0]
    depth = -shp.mid[vis, 0] * cam.st * cam.cp - shp.mid[vis, 1] * cam.sp
    near, far = cam.project(shp.profile, 0.0), cam.project(shp.profile, cam.w)
    quads = np.stack([near, np.roll(near, -1, 0), np.roll(far, -1, 0), far], 1)  # (N, 4, 2)
    for i in vis[np.argsort(-depth, kind="stable")]:
        if shp.edge_labels[i] == _E_GLASS:
            cv.poly(quads[i], _shade(glass_sky, shp.normals[i], 25.0), GLASS)
        elif shp.edge_labels[i] == _E_BED:
            cv.poly(quads[i], base * 0.35 + 20, TRIM)
        else:
            cv.poly(quads[i], _shade(base, shp.normals[i]), PAINT)
    if cam.st > 0.05:  # front face details
        w, n, yb = cam.w, b.nose, b.yb
        head = (255, 250, 215) if p.lights_on else (206, 210, 208)

        def face(z0: float, z1: float, y0: float, y1: float) -> np.ndarray:
            return np.concatenate([cam.project(np.array([(0.5, y0), (0.5, y1)], np.float32), z0),
                                   cam.project(np.array([(0.5, y1), (0.5, y0)], np.float32), z1)])
        cv.poly(face(0.27 * w, 0.73 * w, yb + 0.05, n - 0.035), (34, 34, 38), TRIM)
        cv.poly(face(0.03 * w, 0.24 * w, n - 0.045, n - 0.012), head, LIGHT)
        cv.poly(face(0.76 * w, 0.97 * w, n - 0.045, n - 0.012), head, LIGHT)
        cv.poly(face(0.02 * w, 0.98 * w, yb + 0.008, yb + 0.032), base * 0.45 + 10, TRIM)
    # near side
    cv.poly(near, base * 0.86 + 6, PAINT)
    cv.poly(cam.project(shp.lower, 0.0), base * 0.76 + 4, PAINT)
    cv.poly(cam.project(shp.rocker, 0.0), base * 0.55 + 6, PAINT)
    shoulder = _pts((b.hood[0] - 0.02, b.hood[1] - 0.022), (-0.46, b.hood[1] - 0.018))
    cv.line(cam.project(shoulder, 0.0), base * 1.06 + 18, 0.006 * cam.lpx)
    cv.poly(cam.project(shp.window, 0.0), glass, GLASS)
    dark = base * 0.62
    for pil in shp.pillars:
        cv.poly(cam.project(pil, 0.0), dark, PAINT)
    for dl in shp.door_lines:
        cv.line(cam.project(dl, 0.0), base * 0.68, 0.004 * cam.lpx)
    for h in shp.handles:
        cv.poly(cam.project(h, 0.0), base * 0.45 + 15, TRIM)
    cv.poly(cam.project(shp.mirror, 0.0), dark, PAINT)
    cv.poly(cam.project(shp.headlight, 0.0), (255, 250, 215) if p.lights_on else (206, 210, 208), LIGHT)
    cv.poly(cam.project(shp.taillight, 0.0), (255, 46, 36) if p.lights_on else (150, 24, 26), LIGHT)
    for x in b.wheels:  # wheel arches: dark half-ellipse behind the tyre
        axes = (1.16 * r * cam.ct * cam.lpx, 1.16 * r * cam.cp * cam.lpx)
        cv.ellipse(cam.project(_pts((x, r)), 0.0)[0], axes, (18, 18, 20), TRIM, 180, 360)
    for x in b.wheels:
        _wheel(cv, cam, x, r, 0.0, near=True)


def _draw(p: SceneParams, s: int, labels: bool, car: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    img = _background(p, s)
    lab = np.zeros((s, s), np.uint8) if labels else None
    if car:
        cam = _Camera(p, s)
        _shadow(img, cam)
        _draw_car(_Canvas(img, lab), p, cam)
    return img, lab


def _pick(rng: np.random.Generator, names) -> str:
    return list(names)[int(rng.integers(len(names)))]


def _jitter(rng: np.random.Generator, rgb: Rgb, amount: int) -> Rgb:
    return tuple(int(v) for v in np.clip(np.asarray(rgb) + rng.integers(-amount, amount + 1, 3), 0, 255))


def sample_params(rng: np.random.Generator) -> SceneParams:
    """Draw one scene. Uniform over type/colour/view/sky/road so every caption word is well represented."""
    body_type = _pick(rng, BODY_TYPES)
    body = _BODIES[body_type]
    colour = _pick(rng, COLOURS)
    view = _pick(rng, VIEWS)
    yaw = float(rng.uniform(24.0, 40.0)) if view == "three-quarter" else 0.0
    pitch = float(rng.uniform(3.0, 12.0))
    th = math.radians(yaw)
    half = 0.5 * math.cos(th) + 0.5 * body.width * math.sin(th)
    scale = float(rng.uniform(0.50, 0.72)) * body.length / (2 * half)  # car spans 42-78 % of the width
    margin = 0.03 + scale * half
    # Position: uniform over where the whole car fits, within the central 60 % (a smaller car
    # roams further). Wide enough that the GAN learns a real left-right factor of variation,
    # which is what GANSpace needs to find a "move the car" component.
    lo, hi = max(0.2, margin), min(0.8, 1 - margin)
    center_x = float(lo + (hi - lo) * rng.uniform())
    sky = _pick(rng, SKIES)
    horizon = float(rng.uniform(0.38, 0.52))
    ground_y = float(rng.uniform(0.68, 0.84))
    road_top = max(ground_y - float(rng.uniform(0.08, 0.16)), horizon + 0.03)
    road_bottom = min(ground_y + float(rng.uniform(0.05, 0.14)), 1.0)
    dusk = sky in ("orange", "purple")
    ground = _pick(rng, GROUNDS)
    road = _pick(rng, ROADS)
    hills_grey = _lerp((96, 110, 122), (70, 100, 70), float(rng.uniform()))
    return SceneParams(
        body_type=body_type, colour_name=colour, colour_rgb=_jitter(rng, COLOURS[colour], 10),
        view=view, yaw_deg=yaw, pitch_deg=pitch, center_x=center_x, ground_y=ground_y, scale=scale,
        wheel_size=body.wheel_r * float(rng.uniform(0.92, 1.12)), window_tint=float(rng.uniform()),
        lights_on=bool(rng.uniform() < (0.7 if dusk else 0.15)),
        sky_name=sky, sky_top_rgb=_jitter(rng, SKIES[sky][0], 12),
        sky_horizon_rgb=_jitter(rng, SKIES[sky][1], 12), horizon_y=horizon,
        hills_rgb=tuple(int(v) for v in hills_grey),
        hills_height=float(rng.uniform(0.03, 0.11)) if rng.uniform() < 0.8 else 0.0,
        hills_phase=tuple(float(v) for v in rng.uniform(0, 2 * np.pi, 3)),
        road_name=road, road_rgb=_jitter(rng, ROADS[road], 8), road_top=road_top, road_bottom=road_bottom,
        ground_name=ground, ground_rgb=_jitter(rng, GROUNDS[ground], 14),
        lane_marks=bool(rng.uniform() < 0.5), lane_phase=float(rng.uniform()),
    )


def render(params: SceneParams, size: int = 128, car: bool = True) -> np.ndarray:
    """Scene -> (size, size, 3) uint8 RGB; drawn at 2x then INTER_AREA-reduced for anti-aliasing.
    car=False gives the same scene without the car or its shadow (a clean plate)."""
    return _reduce(_draw(params, 2 * size, labels=False, car=car)[0], size)


def render_with_mask(params: SceneParams, size: int = 128, part: str = "car") -> tuple[np.ndarray, np.ndarray]:
    """Image and car_mask from one drawing pass (cheaper than calling both)."""
    if part not in MASK_PARTS:
        raise ValueError(f"unknown mask part {part!r}; expected one of {sorted(MASK_PARTS)}")
    img, lab = _draw(params, 2 * size, labels=True)
    return _reduce(img, size), _reduce(np.isin(lab, MASK_PARTS[part]).astype(np.float32), size) > 0.5


def render_with_classes(params: SceneParams, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Image and its per-pixel semantic class map ((size, size) uint8 indices into CLASSES) from
    one drawing pass. Classes are drawn at 2x like the image and reduced by coverage: a pixel takes
    the class covering most of its 2x2 block; the car class equals car_mask (over half covered)."""
    img, lab = _draw(params, 2 * size, labels=True)
    classes = _background_classes(params, 2 * size)
    onehot = (classes[..., None] == np.arange(len(CLASSES), dtype=np.uint8)).astype(np.float32)
    cover = _reduce(onehot, size)  # (size, size, C) coverage fractions
    out = cover[..., :CAR].argmax(-1).astype(np.uint8)  # background class under the car, if any
    car = _reduce((lab > 0).astype(np.float32), size) > 0.5
    out[car] = CAR
    return _reduce(img, size), out


def car_mask(params: SceneParams, size: int = 128, part: str = "car") -> np.ndarray:
    """(size, size) bool ground truth. part: "car" (whole vehicle incl. glass, wheels, lights),
    "paint" (painted panels only), "glass" or "wheels". A pixel counts when over half covered at 2x,
    so the parts are disjoint and each lies inside "car"."""
    return render_with_mask(params, size, part)[1]


def _reduce(img: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(params: SceneParams) -> str:
    """"a red hatchback on a grey road under a blue sky": one fixed template, small vocabulary."""
    c, r, s = params.colour_name, params.road_name, params.sky_name
    return f"{_article(c)} {c} {params.body_type} on {_article(r)} {r} road under {_article(s)} {s} sky"


_CAPTION_RE = re.compile(r"^an? (\w+) (\w+) on an? (\w+) road under an? (\w+) sky$")


def parse_caption(text: str) -> dict[str, str]:
    """Inverse of caption(): {"colour", "body_type", "road", "sky"}; ValueError if it doesn't fit."""
    m = _CAPTION_RE.match(text.strip())
    if not m or m[1] not in COLOURS or m[2] not in BODY_TYPES or m[3] not in ROADS or m[4] not in SKIES:
        raise ValueError(f"not a car-world caption: {text!r}")
    return {"colour": m[1], "body_type": m[2], "road": m[3], "sky": m[4]}


def caption_vocab() -> list[str]:
    """Every word a caption can contain (sorted), for the tiny text encoder's tokenizer."""
    words = {"a", "an", "on", "road", "under", "sky", *COLOURS, *BODY_TYPES, *ROADS, *SKIES}
    return sorted(words)


def batch(rng: np.random.Generator, n: int, size: int = 128) -> tuple[np.ndarray, list[SceneParams]]:
    """n fresh scenes: ((n, size, size, 3) uint8, their params)."""
    params = [sample_params(rng) for _ in range(n)]
    return np.array([render(p, size) for p in params], np.uint8).reshape(n, size, size, 3), params


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) or (H, W, 3) -> float32 (N, 3, H, W) in [-1, 1], the generator's range."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(0)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def real_images(rng: np.random.Generator, n: int, size: int = 128) -> torch.Tensor:
    """n fresh scenes as the generator's training batch: (n, 3, size, size) in [-1, 1]."""
    return to_tensor(batch(rng, n, size)[0])
