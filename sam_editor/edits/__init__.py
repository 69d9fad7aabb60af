"""Editing an inverted image (the paper's §3.4): δw+ from GANSpace, official SAM directions and
text (StyleCLIP), composed in an `EditStack` and rendered with the gated `Generator.synthesize`.

Modules: `ganspace` (PCA of W, cached), `presets` (named GANSpace edits), `official` (the SAM
repository's `.npy` directions), `compose` (EditStack, render_edit), `commands` (CLI).
"""

from .compose import Edit, EditStack, ganspace_edit, official_edit, preset_edit, render_edit, text_edit
from .ganspace import GanspaceCancelled, GanspaceComponents, compute_components, direction_to_delta_w, load_or_compute
from .official import DirectionError, OfficialDirection, discover_directions, load_direction
from .presets import Preset, all_presets, get_preset, save_user_preset

__all__ = [
    "DirectionError",
    "Edit",
    "EditStack",
    "GanspaceCancelled",
    "GanspaceComponents",
    "OfficialDirection",
    "Preset",
    "all_presets",
    "compute_components",
    "direction_to_delta_w",
    "discover_directions",
    "ganspace_edit",
    "get_preset",
    "load_direction",
    "load_or_compute",
    "official_edit",
    "preset_edit",
    "render_edit",
    "save_user_preset",
    "text_edit",
]
