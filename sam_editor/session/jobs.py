"""Long jobs of the session as plain functions (Qt-free): each takes a snapshot of what it needs
plus `progress(step, total, payload)` and `should_stop()`, and returns a value. The window runs
them on worker threads; the CLI could run them in a loop."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..gan.layers import LayerSpace
from ..gan.networks import Generator, RenderCache
from ..invertibility.latent_map import LatentMap
from ..util import ShouldStop
from .files import to_uint8
from .models import Bundle

# The core's jobs take util.OnStep / util.ShouldStop; these adapt them to what a window's worker
# emits: one payload per step (InversionProgress, a label, the losses).
Progress = Callable[[int, int, Any], None]  # (step, total, payload for the window)
SPACES: tuple[LayerSpace, ...] = tuple(LayerSpace)

METHODS: dict[str, str] = {  # inversion method → menu label
    "sam": "SAM (spatially adaptive)",
    "wplus": "W+ only",
    "w": "W only",
    "f4": "F4 only",
    "f6": "F6 only",
    "f8": "F8 only",
    "f10": "F10 only",
    "pti": "PTI (pivotal tuning)",
}


class Cancelled(Exception):
    """A job stopped because `should_stop()` said so and has nothing worth keeping."""


@dataclasses.dataclass(frozen=True)
class InversionProgress:
    step: int
    total: int
    losses: dict[str, float]
    preview: np.ndarray | None  # (H, W, 3) uint8 current reconstruction, every few steps
    elapsed: float
    eta: float | None
    edited: np.ndarray | None = None  # with the preview: the edits (`edit_delta`) on the current φ
    phase: str = ""  # a prelude's own name (a BigGAN SAM's measured map), counted apart; "": the inversion


@dataclasses.dataclass
class Inversion:
    """A finished (or cancelled) inversion: φ, its reconstruction and what produced it."""

    phi: Any  # sam_editor.inversion.phi.Phi
    reconstruction: np.ndarray  # (H, W, 3) uint8
    method: str
    steps_run: int
    cancelled: bool
    seconds: float
    losses: dict[str, float]
    map_json: dict[str, Any] | None  # the latent map φ was inverted with (sam)
    generator: Generator | None = None  # PTI's tuned copy of G, else None (the bundle's G)


@dataclasses.dataclass(frozen=True)
class RenderRequest:
    """Everything one render needs, frozen at request time (renders run on a worker)."""

    G: Generator
    phi: Any  # Phi on G's device (held outside the edit region, if there is one)
    stack: Any  # sam_editor.edits.compose.EditStack, built for this request only
    edit_area: float = 1.0  # fraction of the frame the edits may act on


def predict_latent_map(
    bundle: Bundle,
    image: np.ndarray,
    tau: float,
    progress: Progress,
    should_stop: ShouldStop,
    box: tuple[int, int, int, int] | None = None,
) -> LatentMap:
    """Predicted invertibility (eq. 3.2) refined per segment (§3.1) → latent map at `tau` (§3.2).
    `box`: the photo's part of a letterboxed frame (segments and means come from it alone)."""
    from ..invertibility.pipeline import latent_map_for_image, restrict_labels

    progress(0, 2, "segmenting")
    labels = bundle.segmenter.segment(image)
    if should_stop():
        raise Cancelled()
    progress(1, 2, "predicting invertibility")
    if bundle.predictor is None:  # no predictor: segments known, invertibility unknown → all W+
        labels = restrict_labels(labels, box)
        lm = LatentMap(labels, np.zeros((int(labels.max()) + 1, len(SPACES))), tau)
    else:
        lm = latent_map_for_image(image, bundle.predictor, bundle.segmenter, tau, labels=labels, box=box)
    progress(2, 2, "done")
    return lm


def run_inversion(
    bundle: Bundle,
    image: np.ndarray,  # (H, W, 3) uint8 at the generator's output size
    latent_map: LatentMap | None,
    method: str,
    steps: int,
    progress: Progress,
    should_stop: ShouldStop,
    preview_every: int = 5,
    valid: np.ndarray | None = None,  # (H, W) bool: the photo's pixels of a letterboxed frame
    init: str = "auto",
    edit_delta: Callable[[], torch.Tensor | None] | None = None,
) -> Inversion:
    """SAM inversion (§3.3, eq. 3.8) or a baseline, reporting `InversionProgress` every step and a
    preview every `preview_every` steps. A stop keeps the best φ found so far. Pixels outside
    `valid` (letterbox padding) get no loss. `init`: "encoder" starts from the bundle's encoder
    (the hybrid regime; `steps` 0 gives the encoder's φ alone), "mean" from the mean w, "auto"
    the encoder when the bundle has one. `edit_delta()`: the edits' δw+ (1, num_ws, w_dim) now
    (None: none), rendered on each preview's φ as `InversionProgress.edited` (the edit region is
    not applied to these previews)."""
    from ..inversion.optimise import invert
    from ..inversion.settings import InversionSettings

    settings = dataclasses.replace(bundle.inversion_settings, steps=int(steps))
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
    t0 = time.perf_counter()
    state = {"last": -preview_every}

    def on_step(step: int, total: int, losses: dict[str, float], preview_fn: Callable[[], torch.Tensor]) -> None:
        elapsed = time.perf_counter() - t0
        preview = edited = None
        if step - state["last"] >= preview_every or step == total:
            preview = to_uint8(preview_fn()[0])
            delta = edit_delta() if edit_delta is not None else None
            if delta is not None:
                edited = to_uint8(preview_fn(delta)[0])
            state["last"] = step
        eta = elapsed / step * (total - step) if step > 0 else None
        progress(step, total, InversionProgress(step, total, losses, preview, elapsed, eta, edited))

    assert isinstance(settings, InversionSettings)
    init_phi = encoder_phi(bundle, x, latent_map if method == "sam" else None, init)
    if init_phi is not None and method != "sam":
        init_phi = dataclasses.replace(init_phi, delta_f={}, masks={})  # one space: only w+ carries over
    result = invert(
        bundle.G,
        x.to(bundle.device),
        method=method,
        latent_map=latent_map if method == "sam" else None,
        settings=settings,
        on_step=on_step,
        should_stop=should_stop,
        generator_id=bundle.generator_id,
        valid=valid,
        init_phi=init_phi,
    )
    last = result.losses[-1] if result.losses else {}
    return Inversion(
        phi=result.phi,
        reconstruction=to_uint8(result.reconstruction[0]),
        method=method,
        steps_run=len(result.losses),
        cancelled=result.cancelled,
        seconds=result.seconds,
        losses={k: v for k, v in last.items() if k not in ("step", "lr")},
        map_json=latent_map.to_json() if (method == "sam" and latent_map is not None) else None,
        generator=result.generators[0] if result.generators else None,
    )


INITS = ("auto", "encoder", "mean")


def encoder_phi(bundle: Bundle, x: torch.Tensor, latent_map: LatentMap | None, init: str = "auto") -> Any:
    """The encoder's φ̂ for x (1, 3, H, W) in [-1, 1] (None: no encoder, or `init` "mean")."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
    if init == "mean" or (init == "auto" and bundle.encoder is None):
        return None
    if bundle.encoder is None:
        raise ValueError("--init encoder: this bundle has no encoder (train one: sam-editor demo train-encoder)")
    from ..inversion.encoder import encode

    return encode(bundle.encoder, bundle.G, x.to(bundle.device), latent_map)


def compute_ganspace(bundle: Bundle, progress: Progress, should_stop: ShouldStop) -> Any:
    """GANSpace principal components of the bundle's W (cached next to the weights)."""
    from ..edits.ganspace import load_or_compute

    comps = load_or_compute(
        bundle.G,
        weights_path=bundle.generator_path,
        key=bundle.generator_id,
        cache_dir=bundle.cache_dir,
        n_samples=bundle.ganspace_samples,
        on_step=lambda done, total, _info, _preview: progress(done, total, "GANSpace PCA"),
        should_stop=should_stop,
    )
    if comps is None:
        raise Cancelled()
    return comps


def run_styleclip(bundle: Bundle, request: RenderRequest, text: str, steps: int, progress: Progress, should_stop: ShouldStop) -> torch.Tensor:
    """StyleCLIP latent optimisation through the gated pass (§3.4) → δw+ (1, num_ws, w_dim) at
    strength 1. A stop keeps the best δ so far; a stop before any step raises `Cancelled`."""
    from ..edits.styleclip import l2_lambda_for_region, text_edit

    p = request.phi
    clip = bundle.clip  # loads lazily, on this worker thread
    result = text_edit(
        request.G, p.w_plus, p.delta_f, p.masks, text, clip, steps=int(steps), l2_lambda=l2_lambda_for_region(request.edit_area),
        on_step=lambda step, total, losses, _preview: progress(step, total, losses), should_stop=should_stop,
    )  # fmt: skip
    if result.best_step == 0:
        raise Cancelled()
    return result.delta_w.detach().cpu()


def render(request: RenderRequest, cache: RenderCache | None = None) -> np.ndarray:
    """The edited image (H, W, 3) uint8: φ through the one forward pass, with the gated δw+ of
    §3.4. `cache` (owned by the caller's thread) makes slider drags recompute only late blocks."""
    from ..edits.compose import render_edit

    p = request.phi
    img = render_edit(request.G, p.w_plus, p.delta_f, p.masks, request.stack, cache=cache)
    return to_uint8(img[0])
