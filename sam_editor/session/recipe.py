"""Edit recipes (Qt-free): what turned a photo into its exported edit, as JSON that travels in
the exported PNG's text chunk and can be re-run on other photos (`sam-editor apply`).

A recipe holds τ, the inversion method and steps, the per-segment overrides and the edit
region, the edit stack (GANSpace components and strengths; StyleCLIP / official directions as
their δw+ itself, so a batch applies *the same* edit rather than re-optimising a prompt per
photo), the export mode, the generator's and predictor's SHA-256 and the app version.

Segments belong to one photo, so overrides and the region are stored as *points*: a pixel deep
inside each chosen segment, as fractions of the photo's height and width. On the same photo they
pick the same segments again; on another photo, the segments under the same points.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .. import __version__
from ..gan.layers import LayerSpace
from ..imageio import SourceImage
from .files import Problem

RECIPE_FORMAT = "sam-editor-recipe"
RECIPE_VERSION = 1
RECIPE_KEY = "sam-editor:recipe"  # the PNG iTXt keyword


class RecipeError(ValueError):
    """A recipe file that cannot be read or does not fit the loaded models."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A parsed recipe (see module docstring); `data` is the JSON as written."""

    data: dict[str, Any]

    @property
    def tau(self) -> float:
        return float(self.data["tau"])

    @property
    def method(self) -> str:
        return str((self.data.get("inversion") or {}).get("method", "sam"))

    @property
    def steps(self) -> int:
        return int((self.data.get("inversion") or {}).get("steps", 300))

    @property
    def full_size(self) -> bool:
        return bool((self.data.get("export") or {}).get("full_size", True))

    def overrides(self) -> list[tuple[tuple[float, float], LayerSpace]]:
        return [((float(o["point"][0]), float(o["point"][1])), LayerSpace.parse(o["space"])) for o in self.data.get("overrides", [])]

    def region_points(self) -> list[tuple[float, float]]:
        return [(float(p[0]), float(p[1])) for p in self.data.get("region", [])]

    def edits(self) -> list[dict[str, Any]]:
        return list(self.data.get("edits", []))

    def generator_sha256(self) -> str | None:
        return (self.data.get("generator") or {}).get("sha256")


# ----------------------------------------------------------------------------------- writing
def segment_point(labels: np.ndarray, segment: int, placement: Any) -> tuple[float, float]:
    """The pixel of `segment` farthest from its border, inside the photo, as (y, x) fractions
    of the photo (a point that picks the segment again, even for a ring-shaped one)."""
    inside = (labels == segment) & placement.mask()
    if not inside.any():
        raise ValueError(f"segment {segment} has no pixel on the photo")
    dist = cv2.distanceTransform(np.pad(inside, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    fy, fx = placement.frame_to_photo(y + 0.5, x + 0.5)
    return round(fy, 5), round(fx, 5)


def session_recipe(session: Any, full_size: bool = True) -> dict[str, Any]:
    """The recipe of a session's current state, as JSON-ready data."""
    bundle, lm, inv = session.bundle, session.latent_map, session.inversion
    data: dict[str, Any] = {
        "format": RECIPE_FORMAT,
        "version": RECIPE_VERSION,
        "app_version": __version__,
        "photo": None if session.source is None else {"name": session.source.name, "size": list(session.source.size)},
        "generator": None if bundle is None else {"file": bundle.generator_path.name, "sha256": bundle.file_sha256("generator")},
        "predictor": None
        if bundle is None or bundle.predictor_path is None
        else {"file": bundle.predictor_path.name, "sha256": bundle.file_sha256("predictor")},
        "tau": float(session.tau),
        "inversion": None if inv is None else {"method": inv.method, "steps": int(inv.steps_run)},
        "overrides": [],
        "region": [],
        "edits": [],
        "export": {"full_size": bool(full_size)},
    }
    if lm is not None and session.placement is not None:
        data["overrides"] = [
            {"point": list(segment_point(lm.labels, k, session.placement)), "space": str(space)} for k, space in sorted(lm.overrides.items())
        ]
        data["region"] = [list(segment_point(lm.labels, k, session.placement)) for k in sorted(session.edit_region)]
    for e in session.edits:
        d = e.to_json()
        d.pop("key", None)
        if e.kind in ("styleclip", "direction") and e.key in session.directions:
            d["delta_w"] = encode_tensor(session.directions[e.key])
        data["edits"].append(d)
    return data


def png_text_for(session: Any, full_size: bool = True) -> dict[str, str]:
    """The PNG text chunks of an export: the recipe (JSON) and the software that wrote it."""
    return {RECIPE_KEY: json.dumps(session_recipe(session, full_size), separators=(",", ":")), "Software": f"SAM Editor {__version__}"}


def encode_tensor(t: torch.Tensor) -> dict[str, Any]:
    a = t.detach().cpu().float().numpy()
    return {"shape": list(a.shape), "float32": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")}


def decode_tensor(d: dict[str, Any]) -> torch.Tensor:
    a = np.frombuffer(base64.b64decode(d["float32"]), np.float32)
    return torch.from_numpy(a.copy().reshape([int(v) for v in d["shape"]]))


# ----------------------------------------------------------------------------------- reading
def read_recipe(path: str | Path) -> Recipe:
    """A recipe from an exported PNG (its text chunk) or a `.json` file, checked against the
    typed schema (`schema.RecipeModel`: strict types, finite numbers, points inside the photo,
    nesting and size limits) before anything uses it; RecipeError otherwise."""
    from ..imageio import png_text_entries
    from ..schema import MAX_JSON_BYTES, FileFormatError, RecipeModel, check_format, load_json, parse

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file")
    name = path.name
    try:
        if path.suffix.lower() == ".json":
            if path.stat().st_size > MAX_JSON_BYTES:
                raise RecipeError(f"{name}: {path.stat().st_size / 1e6:.0f} MB is too large for a recipe")
            text = path.read_bytes()
        else:
            found = [t for _k, t in png_text_entries(path, keys=(RECIPE_KEY,))]
            if not found:
                raise RecipeError(f"{name} holds no SAM Editor recipe (export it from SAM Editor, or give a .json)")
            if len(found) > 1:
                raise RecipeError(f"{name} carries {len(found)} recipes; SAM Editor writes one, so this file was altered")
            text = found[0]
        data = load_json(text, name)
        check_format(data, RECIPE_FORMAT, RECIPE_VERSION, name, "recipe")
        parse(RecipeModel, text, name)
    except RecipeError:
        raise
    except (OSError, ValueError) as exc:  # FileFormatError is a ValueError
        raise RecipeError(str(exc) if isinstance(exc, FileFormatError) else f"{name}: not a readable recipe ({exc})") from exc
    return Recipe(data)


# ----------------------------------------------------------------------------------- applying
Report = Callable[[str], None]


def apply_recipe(
    bundle: Any,
    recipe: Recipe,
    image: SourceImage,
    steps: int | None = None,
    status: Report | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Any:
    """Run `recipe` on one photo through a fresh `Session` — the same jobs the window runs:
    latent map at the recipe's τ (§3.1–3.2), overrides and region by point, inversion (§3.3),
    edits (§3.4) and their render. → the session, ready for `Session.export_png`."""
    from .jobs import compute_ganspace, predict_latent_map, render, run_inversion
    from .state import EditSpec, Session

    say = status or (lambda _msg: None)
    stop = should_stop or (lambda: False)
    quiet = lambda *_a: None  # noqa: E731
    session = Session(bundle)
    session.set_image(image)
    assert session.work is not None and session.placement is not None
    say("latent map")
    session.apply_latent_map(predict_latent_map(bundle, session.work, recipe.tau, quiet, stop, box=session.placement.box))
    changes: dict[int, LayerSpace | None] = {}
    available = set(session.available_spaces())
    for (fy, fx), space in recipe.overrides():
        k = session.segment_at(*session.placement.photo_to_frame(fy, fx))
        if k is not None and space in available:
            changes[k] = space
    if changes:
        session.set_overrides(changes)
    n = recipe.steps if steps is None else int(steps)
    say(f"inversion ({recipe.method}, {n} steps)")
    session.apply_inversion(
        run_inversion(bundle, session.work, session.latent_map, recipe.method, n, quiet, stop, valid=session.photo_mask())
    )
    region = [session.segment_at(*session.placement.photo_to_frame(fy, fx)) for fy, fx in recipe.region_points()]
    if recipe.region_points():
        session.set_edit_region([k for k in region if k is not None])
    edits: list[EditSpec] = []
    for d in recipe.edits():
        spec = EditSpec.from_json({**d, "key": 0})
        if spec.kind == "ganspace":
            if session.ganspace is None:
                say("GANSpace components")
                session.ganspace = compute_ganspace(bundle, quiet, stop)
        elif "delta_w" in d:
            delta = decode_tensor(d["delta_w"])
            if tuple(delta.shape[1:]) != (bundle.G.num_ws, bundle.G.w_dim):
                raise RecipeError(f"edit {spec.name!r} is for another generator (δw+ {tuple(delta.shape)})")
            spec = dataclasses.replace(spec, key=session.add_direction(delta))
        else:
            raise RecipeError(f"edit {spec.name!r} has no direction stored")
        edits.append(spec)
    session.set_edits(edits)
    request = session.render_request()
    assert request is not None
    say("render")
    session.apply_render(render(request))
    return session


def check_generator(recipe: Recipe, bundle: Any) -> Problem | None:
    """A Problem when the recipe was made with another generator than the loaded one (its
    GANSpace components and directions would mean something else)."""
    want = recipe.generator_sha256()
    have = bundle.file_sha256("generator")
    if want and have and want != have:
        name = (recipe.data.get("generator") or {}).get("file", "?")
        return Problem("Other generator", f"the recipe was made with {name} (sha256 {want[:12]}…), the loaded generator is {bundle.generator_path.name} ({have[:12]}…)")
    return None
