"""One photo in a generator *family* other than the bundle's StyleGAN2 (today: BigGAN-deep), Qt-free.

The window's family workspace (`gui/family_panel.py`) holds one `FamilySession`: the generator
opened from a weights folder (or a registry name), the photo letterboxed into its frame, the
latent map of its feature spaces, φ from `inversion.family.invert_family`, and the edit the
family's panel asks for. Everything family-specific is asked of the generator (`gan.family`):
its spaces Φ and their legend lines, its methods (`methods_of`), which edit panel it wants
(`edit_panel_kind`), and a class edit's δ (`class_delta`). Mistakes (a folder without weights,
a registry generator not downloaded, an unreadable photo) come back as `Problem`s with the
CLI's wording, never as exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..imageio import Placement, Problem, SourceImage, letterbox, read_image, write_png
from .jobs import Cancelled, InversionProgress

PREVIEW_EVERY = 5  # steps between the inversion's preview renders (one forward each)


@dataclass
class FamilyEdit:
    """The edit of a class-conditional family, what `sam-editor edit PHI` takes: the class edit
    (target class, interpolation strength s, the conditioning stages that take it, None: all),
    GANSpace on z (`--ganspace K:S@A-B`: component → (s, (A, B)) inclusive) and a text edit on z
    (`--text`: its δz at strength 1, optimised for this photo's φ, scaled by `text_strength`)."""

    to_class: int | None = None
    strength: float = 1.0
    stages: tuple[int, int] | None = None
    ganspace: dict[int, tuple[float, tuple[int, int]]] = field(default_factory=dict)
    text: str = ""
    text_strength: float = 1.0
    text_delta: torch.Tensor | None = None  # (1, num_ws, z_dim)

    def ganspace_args(self) -> list[str]:
        """The GANSpace edits as the CLI writes them ('K:S@A-B'), the zero ones left out."""
        return [f"{k}:{s:g}@{a}-{b}" for k, (s, (a, b)) in sorted(self.ganspace.items()) if s]

    def to_json(self) -> dict[str, Any]:
        return {
            "to_class": self.to_class,
            "strength": self.strength,
            "stages": list(self.stages) if self.stages else None,
            "ganspace": self.ganspace_args(),
            "text": {"prompt": self.text, "strength": self.text_strength} if self.text_delta is not None else None,
        }


@dataclass
class FamilyInversion:
    method: str
    reconstruction: np.ndarray  # (H, W, 3) uint8 at the frame size
    phi: Any
    seconds: float
    steps_run: int
    cancelled: bool
    map_note: str = ""
    losses: dict[str, float] = field(default_factory=dict)


def load_family_generator(spec: str | Path, class_spec: int | str | None = None, truncation: float = 1.0,
                          device: str = "cpu") -> tuple[Any, dict] | Problem:  # fmt: skip
    """A family generator from a weights folder / registry name, or the Problem the CLI would print."""
    from ..gan.biggan.checkpoint import BigGANCheckpointError, is_biggan_spec
    from ..gan.biggan.generator import load_conditioned
    from ..weights import WeightsError

    name = Path(str(spec)).name or str(spec)
    if not is_biggan_spec(spec):
        return Problem("Not a generator folder", f"“{name}” holds no config.json + pytorch_model.bin (the BigGAN-deep "
                       "format) and is not a registry name such as biggan-deep-256.")  # fmt: skip
    try:
        return load_conditioned(spec, class_spec, truncation, device)
    except WeightsError as exc:
        return Problem("Generator weights missing", str(exc))
    except (BigGANCheckpointError, ValueError, OSError) as exc:
        return Problem("Could not open the generator", str(exc))


class FamilySession:
    """See the module docstring."""

    def __init__(self, G: Any, meta: dict) -> None:
        self.G = G
        self.meta = meta
        self.source: SourceImage | None = None
        self.placement: Placement | None = None
        self.work: np.ndarray | None = None  # (H, W, 3) uint8 letterboxed photo
        self.latent_map: dict[str, np.ndarray] = {}  # feature space name → (H, W) bool
        self.inversion: FamilyInversion | None = None
        self.edit = FamilyEdit()
        self.edited: np.ndarray | None = None
        self.labels: np.ndarray | None = None  # (H, W) over-segmentation of the frame, on first use
        self.edit_region: frozenset[int] = frozenset()  # segments the edit may act on (empty: everywhere)
        self.z_components: Any = None  # edits.ganspace_z.ZComponents of the bound class, once computed
        self.clip_which = "auto"  # CLIP for text edits, as `edit --clip`: auto, vit-b-32, demo or a folder
        self.weights_dirs: list[Path] | None = None  # where CLIP weights are looked for (None: the registry's)

    # ---- what the family offers -------------------------------------------------------------
    @property
    def frame_size(self) -> tuple[int, int]:
        return tuple(self.G.cfg.output_size)  # type: ignore[return-value]

    def legend(self) -> list[tuple[str, str]]:
        from ..gan.family import legend_entries

        return legend_entries(self.G)

    def edit_panel(self) -> str:
        from ..gan.family import edit_panel_kind

        return edit_panel_kind(self.G)

    def methods(self) -> tuple[str, ...]:
        from ..inversion.family import methods_of

        return methods_of(self.G)

    def stage_choices(self) -> list[tuple[str, tuple[int, int] | None]]:
        """Stage ranges a class edit can take: all, and for each feature space F_k the stages up to
        k (what a segment in F_k does not see) and after k (what it does)."""
        last = self.G.num_ws - 1
        out: list[tuple[str, tuple[int, int] | None]] = [(f"all stages (0–{last})", None)]
        for s in self.G.spaces:
            if s.feature_index is not None and s.feature_index < last:
                k = s.feature_index
                out.append((f"0–{k} (up to {s.name})", (0, k)))
                out.append((f"{k + 1}–{last} (after {s.name})", (k + 1, last)))
        return out

    def class_index(self) -> int:
        return int(self.meta.get("class_index", 0))

    def num_classes(self) -> int:
        return int(self.G.cfg.num_classes)

    def describe(self) -> str:
        from ..gan.biggan.classes import class_name

        r = self.G.cfg.output_size
        name = class_name(self.class_index(), self.num_classes())
        label = name if name.startswith("class ") else f"class {name}"  # small generators name classes 'class 3'
        return f"{self.G.family} {r[0]} px · {Path(str(self.meta.get('generator', ''))).name} · {label} · ψ {self.G.truncation:g}"

    # ---- photo --------------------------------------------------------------------------------
    def open_image(self, path: str | Path) -> SourceImage | Problem:
        image = read_image(path)
        if isinstance(image, Problem):
            return image
        self.source = image
        self.work, self.placement = letterbox(image.rgb, self.frame_size)
        self.latent_map = {}
        self.inversion = None
        self.edited = None
        self.labels = None
        self.edit_region = frozenset()
        self.clear_text_edit()  # optimised for the previous photo's φ
        return image

    # ---- segments: the map by hand, the edit region -----------------------------------------------
    def segments(self) -> np.ndarray:
        """(H, W) int segment ids of the frame (the weight-free over-segmentation the measured map uses)."""
        if self.labels is None:
            from ..invertibility.segmenters import OversegSegmenter

            assert self.work is not None
            self.labels = OversegSegmenter().segment(self.work)
        return self.labels

    def segment_at(self, y: float, x: float) -> int | None:
        if self.work is None:
            return None
        h, w = self.frame_size
        if not (0 <= y < h and 0 <= x < w):
            return None
        return int(self.segments()[int(y), int(x)])

    def space_of(self, segment: int) -> str:
        """The space of Φ holding most of `segment`'s pixels."""
        m = self.segments() == segment
        best = max(self.latent_map.items(), key=lambda kv: int((kv[1] & m).sum()), default=None)
        if best is not None and int((best[1] & m).sum()) * 2 > int(m.sum()):
            return best[0]
        return self.G.spaces[0].name

    def put_in_space(self, segments: list[int] | frozenset[int], name: str) -> None:
        """Put these segments in space `name` (the map by hand; the next SAM inversion uses it)."""
        from ..gan.family import space_named

        space = space_named(self.G, name)
        m = np.isin(self.segments(), list(segments))
        for key in list(self.latent_map):
            self.latent_map[key] = self.latent_map[key] & ~m
        if space.is_feature:
            self.latent_map[space.name] = self.latent_map.get(space.name, np.zeros(self.frame_size, bool)) | m
        self.latent_map = {k: v for k, v in self.latent_map.items() if v.any()}

    def set_edit_region(self, segments: list[int] | frozenset[int]) -> None:
        """The edit acts only on these segments (`class_edit.hold_outside`); empty: everywhere."""
        self.edit_region = frozenset(int(k) for k in segments)

    def region_mask(self) -> np.ndarray | None:
        if not self.edit_region:
            return None
        return np.isin(self.segments(), list(self.edit_region))

    def target(self) -> torch.Tensor:
        from ..inversion.images import rgb_to_tensor

        assert self.work is not None
        return rgb_to_tensor(self.work)[None]

    def valid(self) -> torch.Tensor | None:
        if self.placement is None or self.placement.full:
            return None
        return torch.from_numpy(self.placement.mask()).float()[None, None]

    def set_feature_mask(self, name: str, mask: np.ndarray | None) -> None:
        """Put the pixels of `mask` ((H, W) bool) in feature space `name` (None: none of them)."""
        from ..gan.family import space_named

        space = space_named(self.G, name)
        if not space.is_feature:
            raise ValueError(f"{space.name} is the rows space: every pixel outside a feature space is in it")
        if mask is None:
            self.latent_map.pop(space.name, None)
        else:
            mask = np.asarray(mask, bool)
            if mask.shape != self.frame_size:
                raise ValueError(f"a latent-map mask must be {self.frame_size}, got {mask.shape}")
            self.latent_map[space.name] = mask

    def coverage(self) -> dict[str, float]:
        """Share of the photo's pixels in each space of Φ (the rows space: the rest)."""
        valid = self.placement.mask() if self.placement is not None else np.ones(self.frame_size, bool)
        n = max(int(valid.sum()), 1)
        shares = {name: float((m & valid).sum()) / n for name, m in self.latent_map.items()}
        rows = self.G.spaces[0].name
        return {rows: max(0.0, 1.0 - sum(shares.values())), **shares}

    def map_rgba(self, colors: dict[str, tuple[int, int, int]]) -> np.ndarray | None:
        """(H, W, 4) uint8: every pixel in the colour of its space (the rows space where no feature
        space holds it), as StyleGAN2's map overlay; None before there is a map."""
        if not self.latent_map:
            return None
        out = np.zeros((*self.frame_size, 4), np.uint8)
        out[:] = (*colors.get(self.G.spaces[0].name, (0, 98, 155)), 255)
        for name, m in self.latent_map.items():
            out[m] = (*colors.get(name, (255, 205, 0)), 255)
        return out

    # ---- inversion (a job: runs on a worker thread) ------------------------------------------------
    def invert_job(self, method: str, steps: int, tau: float, progress: Any, should_stop: Any) -> FamilyInversion:
        """invert_family in `method` (one of `methods()`); 'sam' without a drawn map makes one first,
        as `sam-editor invert --method sam` does (`family_invertibility.family_latent_map`): predicted
        (§3.1–3.2) when the generator has an invertibility predictor beside its weights, else
        measured — a rows-space inversion of a quarter of the steps, its per-segment error above τ
        goes to the first feature space."""
        import time

        from ..inversion.family import invert_family
        from ..inversion.images import tensor_to_rgb8
        from ..inversion.settings import InversionSettings
        from .family_invertibility import family_latent_map, find_predictor

        if self.work is None:
            raise ValueError("Open a photo first")
        x, valid = self.target(), self.valid()
        settings = InversionSettings(steps=max(1, int(steps)), lambda_lpips=0.0)
        t0 = time.perf_counter()
        latent_map = None
        note = ""
        offset = 0  # steps of the prelude already run (for the ETA only)
        make_map = method == "sam" and not self.latent_map
        predictor, why = find_predictor(self.G, self.meta) if make_map else (None, "")
        pre = max(1, steps // 4) if make_map and predictor is None else 0
        # The prelude (the measured map's rows-space inversion) is a phase of its own, counted 1…pre;
        # the inversion then counts 1…steps, the length the user asked for.
        phase = "measuring the map" if pre else ""

        last_preview = {"step": -PREVIEW_EVERY}

        def on_step(step: int, total: int, losses: dict[str, float], preview_fn: Any = None) -> None:
            elapsed = time.perf_counter() - t0
            done = offset + step
            left = total - step + (steps if phase else 0)  # after the prelude the whole inversion is still to run
            eta = elapsed / done * left if done else None
            preview = None
            if preview_fn is not None and (step - last_preview["step"] >= PREVIEW_EVERY or step == total):
                preview = tensor_to_rgb8(preview_fn()[0])  # the current φ's reconstruction, as StyleGAN2's window shows
                last_preview["step"] = step
            losses = {k: float(v) for k, v in losses.items()}
            progress(step, total, InversionProgress(step, total, losses, preview, elapsed, eta, phase=phase))

        if method == "sam":
            if self.latent_map:
                latent_map = {k: torch.from_numpy(v) for k, v in self.latent_map.items()}
                note = "the map shown (measured before or set by hand)"
            else:
                fmap = family_latent_map(self.G, x, self.segments()[None], tau, settings, predictor=predictor,
                                         why_not=why, valid=valid, on_step=on_step, should_stop=should_stop)  # fmt: skip
                if should_stop():
                    raise Cancelled()
                latent_map = fmap.masks
                self.latent_map = {k: v[0, 0].numpy().astype(bool) for k, v in fmap.masks.items()}
                note = fmap.note
                offset = pre
        phase, last_preview["step"] = "", -PREVIEW_EVERY
        res = invert_family(
            self.G, x, method, latent_map, settings, on_step=on_step, should_stop=should_stop, valid=valid
        )
        last = {k: float(v) for k, v in res.losses[-1].items()} if res.losses else {}
        return FamilyInversion(method, tensor_to_rgb8(res.reconstruction[0]), res.phi, time.perf_counter() - t0,
                               len(res.losses), bool(res.cancelled), note, last)  # fmt: skip

    def apply_inversion(self, inversion: FamilyInversion) -> None:
        self.inversion = inversion
        self.edited = None

    # ---- edits ----------------------------------------------------------------------------------
    def set_class_edit(self, to_class: int | None = None, strength: float | None = None,
                       stages: tuple[int, int] | None | str = "keep") -> FamilyEdit:  # fmt: skip
        if to_class is not None:
            if not 0 <= int(to_class) < self.num_classes():
                raise ValueError(f"class {to_class} is not one of this generator's {self.num_classes()} classes")
            self.edit.to_class = int(to_class)
        if strength is not None:
            self.edit.strength = float(strength)
        if stages != "keep":
            self.edit.stages = stages  # type: ignore[assignment]
        return self.edit

    def edit_delta(self) -> torch.Tensor | None:
        """δ (1, num_ws, 2·z_dim) of the whole edit through `class_edit.family_edit_delta`, as the CLI
        composes it: the class edit plus GANSpace's Σ s·u_k and the text's δz on z; None: no edit."""
        from ..edits.class_edit import family_edit_delta

        e = self.edit
        z_edits = []
        ganspace = dict(e.ganspace)  # a snapshot: a render runs on a worker while sliders move
        if self.z_components is not None and any(s for s, _ in ganspace.values()):
            z_edits.append(self.z_components.total(
                [(k, s, range(a, b + 1)) for k, (s, (a, b)) in ganspace.items()], self.G.num_ws))  # fmt: skip
        if e.text_delta is not None and e.text_strength:
            z_edits.append(e.text_strength * e.text_delta)
        if e.to_class is None and not z_edits:
            return None
        rows = None if e.stages is None else range(e.stages[0], e.stages[1] + 1)
        to = self.class_index() if e.to_class is None else e.to_class  # the bound class: no class change
        return family_edit_delta(self.G, to, e.strength, rows, z_edits)

    def gated_phi(self) -> tuple[torch.Tensor, dict, dict]:
        """(rows, Δf, masks) of φ with the edit region held (`class_edit.hold_outside`, as `--region`)."""
        assert self.inversion is not None
        phi = self.inversion.phi
        delta_f, masks = phi.delta_f, phi.masks
        region = self.region_mask()
        if region is not None:  # outside the region only the class-free layers after F_B act
            from ..edits.class_edit import hold_outside

            delta_f, masks = hold_outside(self.G, delta_f, masks, region)
        return phi.w_plus, delta_f, masks

    # ---- z edits: GANSpace on z, text (jobs run on a worker thread) ---------------------------------
    def ganspace_job(self, progress: Any, should_stop: Any) -> Any:
        """GANSpace's directions in z for the bound class (`ganspace_z.z_components` with the CLI's
        defaults: 2048 samples, 20 components, seed 0) → ZComponents; a stop raises Cancelled."""
        from ..edits.ganspace_z import DEFAULT_COMPONENTS, DEFAULT_SAMPLES, z_components

        comps = z_components(self.G, DEFAULT_SAMPLES, DEFAULT_COMPONENTS, seed=0,
                             on_step=lambda done, total, _losses, _preview: progress(done, total, None),
                             should_stop=should_stop)  # fmt: skip
        if comps is None:
            raise Cancelled()
        return comps

    def set_ganspace(self, k: int, strength: float, stages: tuple[int, int]) -> None:
        """Move z along component k by s of its standard deviations on stages A…B (inclusive)."""
        if self.z_components is None:
            raise ValueError("the GANSpace directions are not computed yet")
        a, b = int(stages[0]), int(stages[1])
        self.z_components.delta(k, strength, range(a, b + 1), self.G.num_ws)  # refuses a bad component or range
        self.edit.ganspace[int(k)] = (float(strength), (a, b))

    def clip_status(self) -> tuple[bool, str]:
        """(available, what to tell the user) for `clip_which`, as `edit --clip` resolves it; cheap."""
        from ..edits.clip_models import DEMO_CLIP_DIR, FETCH_HINT, clip_status, find_vit_b_32

        which, demo_dir = self.clip_which, DEMO_CLIP_DIR
        if which not in ("auto", "vit-b-32", "demo"):
            which, demo_dir = "demo", Path(which)  # a folder with a tiny model of the demo's format
        if which == "auto":
            if find_vit_b_32(self.weights_dirs) is not None:
                which = "vit-b-32"
            elif clip_status("demo", demo_dir=demo_dir).available:  # what `--clip auto` falls back to
                st = clip_status("demo", demo_dir=demo_dir)
                return True, f"{st.message}; for other words: {FETCH_HINT.split(' — ')[-1]}"
            else:
                return False, FETCH_HINT
        st = clip_status(which, self.weights_dirs, demo_dir)
        return st.available, st.message

    def text_job(self, prompt: str, steps: int, progress: Any, should_stop: Any) -> torch.Tensor:
        """StyleCLIP on z (`styleclip.text_edit`, as `edit --text`): δz (1, num_ws, z_dim) at strength 1,
        optimised through the gated pass with the edit region held and λ_L2 scaled by its area. A stop
        keeps the best δ so far; a stop before the first step raises Cancelled."""
        from ..edits import clip_models, styleclip

        if self.inversion is None:
            raise ValueError("Invert the photo first: a text edit starts from its φ")
        if not prompt.strip():
            raise ValueError("Type what the picture should show, e.g. “a red car”")
        rows, delta_f, masks = self.gated_phi()
        region = self.region_mask()
        area = 1.0 if region is None else float(region.mean())
        clip = clip_models.load_clip(self.clip_which, self.weights_dirs)  # ClipWeightsMissing: its message
        result = styleclip.text_edit(
            self.G, rows[:1], delta_f, masks, prompt.strip(), clip, steps=max(1, int(steps)),
            l2_lambda=styleclip.l2_lambda_for_region(area), should_stop=should_stop,
            on_step=lambda step, total, losses, _preview: progress(step, total, losses),
        )  # fmt: skip
        if result.best_step == 0:
            raise Cancelled()
        return result.delta_w.detach()

    def set_text_edit(self, prompt: str, delta: torch.Tensor, strength: float = 1.0) -> None:
        self.edit.text, self.edit.text_delta, self.edit.text_strength = prompt, delta, float(strength)

    def clear_text_edit(self) -> None:
        self.edit.text, self.edit.text_delta = "", None

    def render_edit(self) -> np.ndarray | None:
        """The gated pass of §3.4 with the current edit, (H, W, 3) uint8 (the reconstruction when
        there is no edit); None before an inversion. Safe on a worker thread (reads, no writes)."""
        from ..inversion.images import tensor_to_rgb8

        if self.inversion is None:
            return None
        delta = self.edit_delta()
        if delta is None:
            return self.inversion.reconstruction
        rows, delta_f, masks = self.gated_phi()
        with torch.no_grad():
            image = self.G.synthesize(rows, delta_f, masks, delta_w=delta).clamp(-1, 1)
        return tensor_to_rgb8(image[0])

    def apply_render(self, image: np.ndarray | None) -> None:
        self.edited = image

    # ---- export -------------------------------------------------------------------------------
    def output_image(self, which: str = "edited", full_size: bool = True) -> np.ndarray | None:
        """What an export writes, only the photo (never the letterbox padding): at the photo's own
        size the edit blended back into the photo (`edits.blend.photo_output`, as StyleGAN2's export)
        and the reconstruction scaled up; else the generator's pixels at its resolution."""
        from ..edits.blend import photo_output

        if self.inversion is None or self.placement is None or self.source is None or self.work is None:
            return None
        if which == "source":
            image = self.work
        elif which == "reconstruction":
            image = self.inversion.reconstruction
        else:
            image = self.edited if self.edited is not None else self.render_edit()
        assert image is not None
        inversion = self.inversion
        return photo_output(which, image, self.source.rgb, lambda: inversion.reconstruction, lambda: None,
                            self.placement, full_size)  # fmt: skip

    def export_png(self, path: str | Path, which: str = "edited", side_by_side: bool = False,
                   full_size: bool = True) -> Path | Problem:  # fmt: skip
        """Write the edited image or the reconstruction (or source | reconstruction | edited) as a
        PNG, with the family, generator, classes and the edit in its text."""
        import json

        from ..gan.biggan.classes import class_name
        from .state import side_by_side_image

        if self.inversion is None or self.placement is None:
            return Problem("Nothing to export", "Invert the image first: there is no reconstruction yet.")
        names = ["source", "reconstruction", "edited"] if side_by_side else [which]
        images = [self.output_image(n, full_size) for n in names]
        if any(im is None for im in images):
            return Problem("Nothing to export", "Open an image and invert it first.")
        out = images[0] if len(images) == 1 else side_by_side_image(images)  # type: ignore[arg-type]
        recipe = {
            "family": self.G.family,
            "generator": str(self.meta.get("generator", "")),
            "method": self.inversion.method,
            "class": class_name(self.class_index(), self.num_classes()),
            "truncation": self.G.truncation,
            "edit": self.edit.to_json() if "edited" in names else None,
            "full_size": full_size,
            "ganspace_samples": self.z_components.samples if self.z_components is not None else None,  # --n-samples
        }
        return write_png(path, out, {"sam_editor.family_recipe": json.dumps(recipe)})  # type: ignore[arg-type]
