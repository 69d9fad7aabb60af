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

from __future__ import annotations

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "IMAGE_SUFFIXES": "files",
        "SAMPLES_DIR": "files",
        "Placement": "files",
        "Problem": "files",
        "SourceImage": "files",
        "letterbox": "files",
        "read_image": "files",
        "sample_images": "files",
        "to_uint8": "files",
        "write_png": "files",
        "METHODS": "jobs",
        "Cancelled": "jobs",
        "Inversion": "jobs",
        "InversionProgress": "jobs",
        "Progress": "jobs",
        "RenderRequest": "jobs",
        "ShouldStop": "jobs",
        "compute_ganspace": "jobs",
        "predict_latent_map": "jobs",
        "render": "jobs",
        "run_inversion": "jobs",
        "run_styleclip": "jobs",
        "Bundle": "models",
        "device_name": "models",
        "load_bundle": "models",
        "EditSpec": "state",  # defined in edits.spec, the one edit model
        "Events": "state",
        "SegmentInfo": "state",
        "Session": "state",
    },
)
