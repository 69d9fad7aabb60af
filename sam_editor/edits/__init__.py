"""Editing an inverted image (the paper's §3.4): δw+ from GANSpace, official SAM directions and
text (StyleCLIP), composed in an `EditStack` and rendered with the gated `Generator.synthesize`.

Modules: `ganspace` (PCA of W, cached), `presets` (named GANSpace edits), `official` (the SAM
repository's `.npy` directions), `spec` (EditSpec: the one edit model of window, CLI and recipes),
`compose` (EditStack, render_edit), `commands` (CLI).
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Edit": "compose",
        "EditSpec": "spec",
        "resolve_edits": "spec",
        "EditStack": "compose",
        "ganspace_edit": "compose",
        "render_edit": "compose",
        "GanspaceComponents": "ganspace",
        "compute_components": "ganspace",
        "direction_to_delta_w": "ganspace",
        "load_or_compute": "ganspace",
        "DirectionError": "official",
        "OfficialDirection": "official",
        "discover_directions": "official",
        "load_direction": "official",
        "Preset": "presets",
        "all_presets": "presets",
        "get_preset": "presets",
        "save_user_preset": "presets",
    },
)
