"""The session's state (Qt-free): one photo, its latent map, its inversion φ and its edits.

`Session` holds the state and announces changes through `Session.events`; mutators return the
value they replaced, so the window's undo commands can put it back.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..edits.spec import EditSpec, resolve_edits
from ..gan.layers import LayerSpace
from ..gan.networks import Generator
from ..invertibility.latent_map import SPACE_COLORS, LatentMap
from ..util import TAU_DEFAULT
from .files import (
    Placement,
    Problem,
    SourceImage,
    check_labels_header,
    encode_png,
    letterbox,
    read_image,
    read_project,
    write_png,
    write_project,
)
from .jobs import Inversion, RenderRequest
from .models import Bundle

SPACES: tuple[LayerSpace, ...] = tuple(LayerSpace)


class Events:
    """Qt-free change notifications (napari-style): listeners get the event name."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []
        self._blocked = 0

    def connect(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Callable[[str], None]) -> None:
        self._listeners.remove(listener)

    def emit(self, name: str) -> None:
        if not self._blocked:
            for listener in list(self._listeners):
                listener(name)

    @contextlib.contextmanager
    def blocker(self) -> Iterator[None]:
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1


OUTPUTS = ("source", "reconstruction", "edited")  # what can be shown or exported


@dataclasses.dataclass(frozen=True)
class SegmentInfo:
    """What the window shows when hovering or selecting a segment."""

    segment: int
    area: float  # fraction of the image
    errors: dict[LayerSpace, float]  # mean predicted invertibility error per space
    automatic: LayerSpace  # the τ rule's choice
    space: LayerSpace  # the space in use (override applied)
    overridden: bool


class Session:
    """The state of one editing session (see module docstring). Mutators return the value they
    replaced, so the window's undo commands can put it back."""

    def __init__(self, bundle: Bundle | None = None) -> None:
        self.events = Events()
        self.bundle: Bundle | None = bundle
        self.source: SourceImage | None = None
        self.work: np.ndarray | None = None  # (H, W, 3) uint8: the whole photo letterboxed into the frame
        self.placement: Placement | None = None  # where the photo sits in the frame
        self.latent_map: LatentMap | None = None
        self.inversion: Inversion | None = None
        self.edited: np.ndarray | None = None  # last render of the edits, (H, W, 3) uint8
        self.edits: list[EditSpec] = []
        self.directions: dict[int, torch.Tensor] = {}  # StyleCLIP δw+ by Edit.key
        self.ganspace: Any = None  # GanspaceComponents once computed
        self.edit_region: frozenset[int] = frozenset()  # latent-map segments edits may act on; empty: all
        self._limited_phi: tuple[Any, frozenset[int], Any] | None = None  # (φ, region, φ held outside it)
        self.project_path: Path | None = None
        self.preset_problem: str | None = None  # why a user preset file was not read, for the window
        self.dirty = False
        self._next_key = 1
        self.image_token = 0
        self.tau_preference: float | None = None  # a new photo's map uses it instead of the bundle's default

    # ---- models ------------------------------------------------------------------------------
    def set_bundle(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.ganspace = None
        if self.source is not None:
            self.set_image(self.source)
        self.events.emit("bundle")

    def available_spaces(self) -> list[LayerSpace]:
        """Latent spaces this generator has (a 64 px generator has no F10)."""
        if self.bundle is None:
            return list(SPACES)
        have = set(self.bundle.G.feature_indices())
        return [s for s in SPACES if not s.is_feature or s.index in have]

    @property
    def frame_size(self) -> tuple[int, int]:
        """(H, W) the generator makes."""
        if self.bundle is None:
            raise RuntimeError("no generator loaded")
        return tuple(self.bundle.G.cfg.output_size)  # type: ignore[return-value]

    # ---- image --------------------------------------------------------------------------------
    def open_image(self, path: str | Path) -> SourceImage | Problem:
        """Read `path` and make it the session's photo; a `Problem` leaves the session as it was."""
        image = read_image(path)
        if isinstance(image, Problem):
            return image
        self.set_image(image)
        return image

    def set_image(self, image: SourceImage) -> None:
        self.image_token += 1  # results of jobs started for the previous photo are stale now
        self.source = image
        self.work, self.placement = letterbox(image.rgb, self.frame_size)
        self.latent_map = None
        self.inversion = None
        self.edited = None
        self.edits = []
        self.directions = {}
        self.edit_region = frozenset()
        self.project_path = None
        self.dirty = True
        self.events.emit("image")

    # ---- latent map ---------------------------------------------------------------------------
    def apply_latent_map(self, latent_map: LatentMap) -> None:
        if self.work is not None and latent_map.shape != self.work.shape[:2]:
            raise ValueError(f"latent map {latent_map.shape} does not match the image {self.work.shape[:2]}")
        old = self.latent_map
        self.latent_map = latent_map
        if self.edit_region and (old is None or not np.array_equal(old.labels, latent_map.labels)):
            self.edit_region = frozenset()  # other segments: the old region means nothing now
            self.events.emit("edit_region")
        self.events.emit("latent_map")

    @property
    def tau(self) -> float:
        if self.latent_map is not None:
            return self.latent_map.tau
        if self.bundle is None:
            return TAU_DEFAULT
        if self.tau_preference is not None:  # the user's default, inside the bundle's τ range
            return self.bundle.tau_scale.clamp(self.tau_preference)
        return self.bundle.tau

    def set_tau(self, tau: float) -> float:
        """Re-threshold the map (§3.2) — no network call. → the previous τ."""
        if self.latent_map is None:
            return tau
        old = self.latent_map.tau
        self.latent_map = self.latent_map.with_tau(tau)
        self.dirty = True
        self.events.emit("latent_map")
        return old

    def set_overrides(self, changes: dict[int, LayerSpace | None]) -> dict[int, LayerSpace | None]:
        """Force segments into spaces (None: back to the τ rule). → the previous overrides."""
        if self.latent_map is None:
            return {}
        old = {k: self.latent_map.overrides.get(k) for k in changes}
        for k, space in changes.items():
            if space is None:
                self.latent_map.clear_override(k)
            else:
                self.latent_map.override(k, space)
        self.dirty = True
        self.events.emit("latent_map")
        return old

    def set_edit_region(self, segments: Iterator[int] | list[int] | frozenset[int]) -> frozenset[int]:
        """Let edits act only on these segments of the latent map (empty: everywhere; see
        `edits.region`). → the previous region."""
        old = self.edit_region
        region = frozenset(int(k) for k in segments)
        if region and (self.latent_map is None or max(region) >= self.latent_map.num_segments or min(region) < 0):
            raise ValueError(f"segments {sorted(region)} are not all in the latent map")
        self.edit_region = region
        self.dirty = True
        self.events.emit("edit_region")
        return old

    def region_mask(self) -> np.ndarray | None:
        """Where edits may act, (H, W) bool at the frame size, or None for everywhere."""
        if not self.edit_region or self.latent_map is None:
            return None
        return np.isin(self.latent_map.labels, sorted(self.edit_region))

    def edit_phi(self) -> Any:
        """φ as the edits see it: the inversion's, held unedited outside the edit region."""
        assert self.inversion is not None and self.bundle is not None
        phi, region = self.inversion.phi, self.region_mask()
        if region is None:
            return phi
        cached = self._limited_phi
        if cached is None or cached[0] is not phi or cached[1] != self.edit_region:
            from ..edits.region import limit_to_region

            delta_f, masks = limit_to_region(self.generator or self.bundle.G, phi.delta_f, phi.masks, region)
            cached = self._limited_phi = (phi, self.edit_region, dataclasses.replace(phi, delta_f=delta_f, masks=masks))
        return cached[2]

    def segment_at(self, y: float, x: float) -> int | None:
        if self.latent_map is None:
            return None
        h, w = self.latent_map.shape
        if not (0 <= y < h and 0 <= x < w):
            return None
        if self.placement is not None and not self.placement.mask()[int(y), int(x)]:
            return None  # the letterbox padding: not part of the photo
        return self.latent_map.segment_at(int(y), int(x))

    def segments_in(self, points: list[tuple[float, float]]) -> list[int]:
        """Segments under a brush stroke of (y, x) points, in stroke order."""
        seen: dict[int, None] = {}
        for y, x in points:
            k = self.segment_at(y, x)
            if k is not None:
                seen.setdefault(k)
        return list(seen)

    def segment_info(self, segment: int) -> SegmentInfo:
        lm = self.latent_map
        assert lm is not None
        errors = {s: float(lm.segment_errors[segment, s.rank]) for s in SPACES}
        area = float(lm.segment_areas()[segment]) / lm.labels.size
        return SegmentInfo(segment, area, errors, lm.automatic_space(segment), lm.space_of_segment(segment), segment in lm.overrides)

    def overlay_rgba(
        self, highlight: int | None = None, selection: list[int] | None = None, labels: np.ndarray | None = None, outline: int = 1
    ) -> np.ndarray | None:
        """The map as an RGBA layer (H, W, 4) uint8: space colours, darker segment borders,
        hatched overridden segments, white outlines (`outline` px) around `highlight` and the
        `selection`. `labels`: the map's segments at another resolution (the photo's part only,
        as `edits.blend.upsample_labels` gives them to the source view), drawn the same way."""
        lm = self.latent_map
        if lm is None:
            return None
        at_frame = labels is None
        labels = lm.labels if labels is None else labels
        palette = np.array([SPACE_COLORS[s] for s in SPACES], np.uint8)
        rgba = np.empty((*labels.shape, 4), np.uint8)
        rgba[..., :3] = palette[lm.segment_ranks()[labels]]
        rgba[..., 3] = 255
        edge = np.zeros(labels.shape, bool)
        edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        edge[1:, :] |= labels[1:, :] != labels[:-1, :]
        if lm.overrides:
            yy, xx = np.mgrid[: labels.shape[0], : labels.shape[1]]
            hatch = ((yy + xx) % 5 == 0) & np.isin(labels, list(lm.overrides))
            rgba[hatch, :3] = 255 - (255 - rgba[hatch, :3]) // 2  # thin light stripes mark overrides
        rgba[edge, :3] //= 3
        marked = set(selection or ()) | ({highlight} if highlight is not None else set())
        if marked:
            sel = np.isin(labels, list(marked))
            inner = sel
            for _ in range(max(1, outline)):
                inner = _eroded(inner)
            rgba[sel & ~inner] = (255, 255, 255, 255)
        photo = self.photo_mask()
        if at_frame and photo is not None and photo.shape == lm.shape:
            rgba[~photo, 3] = 0  # the letterbox padding belongs to no segment the user can see
        return rgba

    def photo_mask(self) -> np.ndarray | None:
        """(H, W) bool at the frame size: True where the frame shows the photo, False on the
        letterbox padding (no loss, no segment, no metric there)."""
        return None if self.placement is None else self.placement.mask()

    def display_source(self, max_side: int = 2048) -> np.ndarray | None:
        """The frame as the source panel shows it: the whole photo at (up to `max_side` px on the
        frame's long side) its own resolution, letterboxed like `work`, the padding mid-grey."""
        if self.source is None or self.placement is None:
            return None
        fh, fw = self.placement.frame
        ph, pw = self.placement.photo
        k = min(max(ph / self.placement.box[2], pw / self.placement.box[3], 1.0), max_side / max(fh, fw))
        dh, dw = max(1, round(fh * k)), max(1, round(fw * k))
        shown, _ = letterbox(self.source.rgb, (dh, dw))
        if not self.placement.full:
            inside = Placement.fit((ph, pw), (dh, dw)).mask()
            shown[~inside] = 96
        return shown

    @property
    def map_changed_since_inversion(self) -> bool:
        """True when the map now assigns some pixel another space than the SAM inversion used."""
        inv = self.inversion
        if inv is None or inv.method != "sam" or self.latent_map is None:
            return False
        return not np.array_equal(self.latent_map.space_map(), self.inversion_ranks())

    # ---- inversion ----------------------------------------------------------------------------
    def apply_inversion(self, inversion: Inversion) -> None:
        self.inversion = inversion
        self.edited = None
        self.dirty = True
        self.events.emit("inversion")

    def reconstruction_error(self, inversion: Inversion) -> float:
        """Mean squared pixel error of an inversion's reconstruction against the photo, on the
        photo's pixels only — the same measure for any two inversions of this photo, whatever
        their map, method or regularisers."""
        assert self.work is not None
        diff = inversion.reconstruction.astype(np.float32) - self.work.astype(np.float32)
        mask = self.photo_mask()
        sq = (diff**2).mean(axis=-1)
        return float(sq[mask].mean() if mask is not None and mask.any() else sq.mean())

    def better_of(self, partial: Inversion) -> tuple[Inversion, str]:
        """A cancelled inversion against the one the session holds: → (the one with the lower
        `reconstruction_error`, a sentence saying which was kept and why)."""
        previous = self.inversion
        if not partial.cancelled or previous is None or self.work is None:
            return partial, ""
        new, old = self.reconstruction_error(partial), self.reconstruction_error(previous)
        if new <= old:
            return partial, f"kept the partial result (error {new:.1f} vs {old:.1f} before)"
        return previous, f"kept the previous result: the partial one was worse (error {new:.1f} vs {old:.1f})"

    @property
    def generator(self) -> Generator | None:
        """The generator φ renders through (PTI's tuned copy after a PTI inversion)."""
        if self.inversion is not None and self.inversion.generator is not None:
            return self.inversion.generator
        return None if self.bundle is None else self.bundle.G

    # ---- edits --------------------------------------------------------------------------------
    @property
    def num_ws(self) -> int:
        return 0 if self.bundle is None else self.bundle.G.num_ws

    def new_key(self) -> int:
        self._next_key += 1
        return self._next_key

    def add_direction(self, delta_w: torch.Tensor) -> int:
        """Keep a StyleCLIP δw+ (1, num_ws, w_dim); → the key an `Edit` refers to it by."""
        key = self.new_key()
        self.directions[key] = delta_w.detach().cpu()
        return key

    def set_edits(self, edits: list[EditSpec]) -> list[EditSpec]:
        """Replace the list of active edits. → the previous list."""
        old = list(self.edits)
        self.edits = list(edits)
        self.dirty = True
        self.events.emit("edits")
        return old

    def edit_rows(self, edit: EditSpec) -> list[int]:
        """Style rows an edit changes."""
        if edit.kind in ("styleclip", "direction") and edit.key in self.directions:
            d = self.directions[edit.key][0].abs().sum(dim=1)
            rows = [int(r) for r in torch.nonzero(d > 0).flatten()]
            return [r for r in rows if edit.layers[0] <= r <= edit.layers[1]]
        return list(range(edit.layers[0], edit.layers[1] + 1))

    def edit_stack(self, edits: list[EditSpec] | None = None) -> Any:
        """The core `EditStack` of the edits (default: the active ones): δw+ = Σ s_j · d_j."""
        from ..edits.compose import EditStack

        if self.bundle is None:
            return EditStack()
        specs = self.edits if edits is None else edits
        return resolve_edits(self.bundle.G, specs, self.ganspace, self.directions, self.bundle.device)

    def presets(self) -> list[Any]:
        """Named edits for this generator: GANSpace presets whose component indices belong to it
        (`edits.presets.Preset`), then the official SAM directions found beside its weights
        (`edits.official.OfficialDirection`)."""
        from ..edits.official import directions_for_generator
        from ..edits.presets import GENERATOR_PRESETS_FILE, all_presets, load_preset_list

        if self.bundle is None:
            return []
        ids = {self.bundle.generator_path.stem, self.bundle.generator_id}
        try:  # presets measured for this generator, shipped beside it (the demo bundle has some)
            beside = load_preset_list(self.bundle.generator_path.parent / GENERATOR_PRESETS_FILE)
        except ValueError:
            beside = []  # a broken file only costs the named presets; the sliders still work
        try:
            everyone = all_presets(self.bundle.presets_dir)
        except ValueError as exc:  # a broken user preset file: the built-ins and the rest still work
            from ..edits.presets import builtin_presets

            self.preset_problem = str(exc)
            everyone = builtin_presets()
        named: list[Any] = [p for p in beside + everyone if p.generator is None or p.generator in ids]
        return named + list(directions_for_generator(self.bundle.G, self.bundle.generator_path).values())

    def preset_edit(self, preset: Any) -> EditSpec:
        """The `EditSpec` that adds a named edit from `presets()` to the list."""
        if hasattr(preset, "component"):
            return EditSpec("ganspace", preset.name, preset.strength, tuple(preset.layers), component=preset.component)
        key = self.add_direction(preset.delta_w)
        return EditSpec("direction", preset.name, 1.0, (0, self.num_ws - 1), key=key)

    def render_request(self, edits: list[EditSpec] | None = None) -> RenderRequest | None:
        G = self.generator
        if self.inversion is None or G is None:
            return None
        region = self.region_mask()
        area = 1.0 if region is None else max(float(region.mean()), 1e-6)
        return RenderRequest(G, self.edit_phi(), self.edit_stack(edits), area)

    def apply_render(self, image: np.ndarray) -> None:
        self.edited = image
        self.events.emit("render")

    def reach_map(self, edits: list[EditSpec] | None = None) -> np.ndarray | None:
        """Where the edits may act (§3.4 gating), (H, W) bool: a region inverted in F_i only
        feels the style rows after F_i (`edits.styleclip.rows_from_feature`), W+ feels all."""
        from ..edits.styleclip import rows_from_feature

        G = self.generator
        if self.inversion is None or G is None:
            return None
        rows = {r for e in (self.edits if edits is None else edits) if e.strength != 0 and e.enabled for r in self.edit_rows(e)}
        have = set(G.feature_indices())
        allowed = np.array(
            [
                bool(rows) if not space.is_feature else space.index in have and bool(rows & set(rows_from_feature(G, space.index)))
                for space in SPACES
            ]
        )
        reach = allowed[self.inversion_ranks()]
        region = self.region_mask()
        return reach if region is None else reach & region

    def reach_rgba(self, edits: list[EditSpec] | None = None) -> np.ndarray | None:
        """`reach_map` for display (H, W, 4) uint8: dark diagonal stripes where the edits
        cannot act, transparent where they can."""
        reach = self.reach_map(edits)
        if reach is None:
            return None
        yy, xx = np.mgrid[: reach.shape[0], : reach.shape[1]]
        stripes = (yy + xx) % 4 < 2
        rgba = np.zeros((*reach.shape, 4), np.uint8)
        rgba[~reach] = (16, 16, 20, 120)
        rgba[~reach & stripes] = (16, 16, 20, 200)
        return rgba

    def inversion_ranks(self) -> np.ndarray:
        """Rank (0 = W+ … 4 = F10) per pixel of the map φ was inverted with, (H, W) uint8."""
        inv = self.inversion
        assert inv is not None
        rank_map = getattr(inv.phi, "rank_map", None)
        if rank_map is None:
            return np.zeros(self.frame_size, np.uint8)
        return rank_map[0].cpu().numpy().astype(np.uint8)

    # ---- projects -----------------------------------------------------------------------------
    def save_project(self, path: str | Path) -> Path | Problem:
        """Photo, latent map with overrides, φ and edits in one file (see `files.write_project`)."""
        if self.source is None or self.bundle is None:
            return Problem("Nothing to save", "Open an image first.")
        inv = self.inversion
        state = {
            "source": {"name": self.source.name, "size": list(self.source.size), "notes": list(self.source.notes)},
            "generator": {"file": self.bundle.generator_path.name, "id": self.bundle.generator_id},
            "latent_map": None if self.latent_map is None else self.latent_map.to_json(),
            "inversion": None
            if inv is None
            else {k: getattr(inv, k) for k in ("method", "steps_run", "cancelled", "seconds", "losses", "map_json")},
            "edits": [e.to_json() for e in self.edits],
            "edit_region": sorted(self.edit_region),
        }
        tensors = {f"direction/{k}": v for k, v in self.directions.items()}
        if inv is not None:
            tensors["reconstruction"] = torch.from_numpy(inv.reconstruction)
            if inv.generator is not None:
                tensors.update({f"pti_generator/{k}": v for k, v in inv.generator.state_dict().items()})
        out = write_project(path, state, encode_png(self.source.rgb), None if inv is None else inv.phi, tensors)
        if not isinstance(out, Problem):
            self.project_path, self.dirty = out, False
            self.events.emit("project")
        return out

    def load_project(self, path: str | Path) -> list[str] | Problem:
        """Restore a saved project. → notes for the user (e.g. φ dropped: other generator).

        The whole file is read and checked first (`files.read_project`: typed schema, safe
        tensors; then the map, edits, φ and tensors against the loaded generator); only a fully
        valid project changes the session — a Problem leaves it exactly as it was."""
        if self.bundle is None:
            return Problem("No generator", "The models are still loading.")
        data = read_project(path)
        if isinstance(data, Problem):
            return data
        try:
            restored = self._restore(Path(path), *data)
        except (KeyError, ValueError, TypeError, IndexError, RuntimeError, cv2.error) as exc:
            return Problem("Damaged project", f"“{Path(path).name}” cannot be restored: {str(exc)[:300]}.")
        image, work, placement, lm, inversion, directions, edits, region, notes = restored
        with self.events.blocker():
            self.set_image(image)
        self.work, self.placement = work, placement
        self.latent_map = lm
        self.inversion = inversion
        self.directions = directions
        self._next_key = max(directions, default=1)
        self.edits = edits if inversion is not None else []
        self.edit_region = region
        self.project_path, self.dirty = Path(path), False
        self.events.emit("image")
        return notes

    def _restore(self, path: Path, state: Any, rgb: np.ndarray, phi: Any, tensors: dict[str, torch.Tensor]) -> tuple:
        """Everything a project restores, built and checked without touching the session."""
        assert self.bundle is not None
        G, notes = self.bundle.G, []
        src = state.source
        image = SourceImage(rgb, path.with_name(src.name), tuple(src.size), tuple(src.notes))
        work, placement = letterbox(rgb, self.frame_size)
        lm = None
        if state.latent_map is not None:
            check_labels_header(state.latent_map.labels_png, state.latent_map.width, state.latent_map.height)
            lm = LatentMap.from_json(state.latent_map.model_dump())
            if lm.shape != work.shape[:2]:
                notes.append("The latent map was made for another generator size and was dropped.")
                lm = None
        edits = [EditSpec.from_json(e.model_dump()) for e in state.edits]
        directions: dict[int, torch.Tensor] = {}
        for k, v in tensors.items():
            if k.startswith("direction/"):
                key = k.split("/", 1)[1]
                if not key.isdigit() or tuple(v.shape) != (1, G.num_ws, G.w_dim) or not v.is_floating_point() or not torch.isfinite(v).all():
                    raise ValueError(f"direction {key!r} is not a δw+ of this generator")
                directions[int(key)] = v.float()
        inversion = None
        inv = state.inversion
        same_generator = state.generator.id == self.bundle.generator_id
        if phi is not None and inv is not None and not same_generator:
            notes.append(f"φ was inverted with {state.generator.file}, not the loaded generator; invert again.")
        elif phi is not None and inv is not None:
            if tuple(phi.w_plus.shape) != (1, G.num_ws, G.w_dim) or not set(phi.delta_f) <= set(G.feature_indices()):
                raise ValueError(f"φ (w+ {tuple(phi.w_plus.shape)}) does not fit the loaded generator")
            for k, d in phi.delta_f.items():
                if tuple(d.shape[1:]) != tuple(G.feature_shape(k)):
                    raise ValueError(f"φ's Δf_{k} {tuple(d.shape)} does not fit the loaded generator")
            rec = tensors.get("reconstruction")
            if rec is None or rec.dtype != torch.uint8 or tuple(rec.shape) != work.shape:
                raise ValueError("its reconstruction is missing or of the wrong size")
            tuned = None
            pti = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("pti_generator/")}
            if pti:
                tuned = copy.deepcopy(G)
                tuned.load_state_dict(pti)  # RuntimeError on missing/unexpected keys or shapes
            inversion = Inversion(
                phi=phi.to(self.bundle.device),
                reconstruction=rec.numpy(),
                generator=tuned,
                method=inv.method,
                steps_run=inv.steps_run,
                cancelled=inv.cancelled,
                seconds=inv.seconds,
                losses=dict(inv.losses),
                map_json=None if inv.map_json is None else inv.map_json.model_dump(),
            )
        missing = [e.name for e in edits if e.kind in ("styleclip", "direction") and e.key not in directions]
        if missing:
            notes.append(f"The direction of {', '.join(missing[:3])} is not in the project; that edit does nothing.")
        region = list(state.edit_region)
        if region and (lm is None or not all(0 <= k < lm.num_segments for k in region)):
            notes.append("The edit region did not fit the latent map and was dropped; edits act everywhere.")
            region = []
        return image, work, placement, lm, inversion, directions, edits, frozenset(region), notes

    # ---- output -------------------------------------------------------------------------------
    def result_image(self, which: str) -> np.ndarray | None:
        """'source' | 'reconstruction' | 'edited' at the generator's size, (H, W, 3) uint8."""
        if which not in OUTPUTS:
            raise ValueError(f"which must be one of {OUTPUTS}, got {which!r}")
        if which == "source":
            return self.work
        if self.inversion is None:
            return None
        if which == "reconstruction":
            return self.inversion.reconstruction
        return self.edited if self.edited is not None else self.inversion.reconstruction

    def output_image(self, which: str = "edited", full_size: bool = True) -> np.ndarray | None:
        """What an export writes for `which`, (H, W, 3) uint8, always just the photo (never the
        letterbox padding). `full_size`: at the photo's own resolution — the edit blended back
        into the photo (`edits.blend`), the reconstruction scaled up; else the generator's
        image only, at the generator's resolution."""
        from ..edits.blend import photo_output

        image = self.result_image(which)
        if image is None or self.placement is None or self.source is None:
            return None
        inversion = self.inversion
        return photo_output(which, image, self.source.rgb, lambda: inversion.reconstruction,
                            self.reach_map, self.placement, full_size)  # fmt: skip

    def export_png(self, path: str | Path, which: str = "edited", side_by_side: bool = False, full_size: bool = True) -> Path | Problem:
        """Write the edited image or the reconstruction (or source | reconstruction | edited side
        by side) as PNG — at the photo's own size by default (see `output_image`) — with the
        edit recipe in its text chunks (`session.recipe`)."""
        from .recipe import png_text_for

        names = ["source", "reconstruction", "edited"] if side_by_side else [which]
        if self.inversion is None:
            return Problem("Nothing to export", "Invert the image first: there is no reconstruction yet.")
        images = [self.output_image(n, full_size) for n in names]
        if any(im is None for im in images):
            return Problem("Nothing to export", "Open an image and invert it first.")
        out = images[0] if len(images) == 1 else side_by_side_image(images)  # type: ignore[arg-type]
        return write_png(path, out, png_text_for(self, full_size=full_size))


def side_by_side_image(images: list[np.ndarray]) -> np.ndarray:
    """Images of one height left to right with white gaps."""
    gap = np.full((images[0].shape[0], max(4, images[0].shape[1] // 64), 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for im in images:
        parts += [im, gap]
    return np.concatenate(parts[:-1], axis=1)


def _eroded(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:, :] &= mask[:-1, :]
    out[:-1, :] &= mask[1:, :]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    return out
