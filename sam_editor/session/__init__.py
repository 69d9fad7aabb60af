"""The editing session: the only door from the window to the core (Qt-free).

* `state`  — `Session`: one photo, its latent map (τ, overrides), its inversion φ and its edits;
  it announces changes through `Session.events`, and its mutators return what they replaced
  so the window's undo commands can put it back;
* `jobs`   — long work as plain functions (`predict_latent_map`, `run_inversion`,
  `compute_ganspace`, `run_styleclip`, `render`) taking a snapshot plus `progress(step, total,
  payload)` / `should_stop()`; the window runs them on worker threads and hands the result back
  with `Session.apply_*` on its own thread, so a `Session` is only ever touched by one thread;
* `models` — the model bundle (official car weights when present, else the demo bundle);
* `files`  — photos in (any odd format, as a `Problem` when unreadable), PNGs and projects out.

Mistakes the user can make come back as `Problem` values, never as exceptions through the window.
"""

from .files import (
    IMAGE_SUFFIXES,
    SAMPLES_DIR,
    Placement,
    Problem,
    SourceImage,
    letterbox,
    read_image,
    sample_images,
    to_uint8,
    write_png,
)
from .jobs import (
    METHODS,
    Cancelled,
    Inversion,
    InversionProgress,
    Progress,
    RenderRequest,
    ShouldStop,
    compute_ganspace,
    predict_latent_map,
    render,
    run_inversion,
    run_styleclip,
)
from .models import Bundle, device_name, load_bundle
from .state import EditSpec, Events, SegmentInfo, Session

__all__ = [
    "IMAGE_SUFFIXES",
    "METHODS",
    "SAMPLES_DIR",
    "Bundle",
    "Cancelled",
    "EditSpec",
    "Events",
    "Inversion",
    "InversionProgress",
    "Problem",
    "Progress",
    "RenderRequest",
    "SegmentInfo",
    "Session",
    "ShouldStop",
    "SourceImage",
    "compute_ganspace",
    "device_name",
    "Placement",
    "letterbox",
    "load_bundle",
    "predict_latent_map",
    "read_image",
    "render",
    "run_inversion",
    "run_styleclip",
    "sample_images",
    "to_uint8",
    "write_png",
]
