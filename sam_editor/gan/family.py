"""What a generator family offers the rest of the app, so inversion, edits, the session and the
window ask the generator instead of branching on which family it is (the way diffusers keeps
many models behind `ModelMixin`).

A family declares its latent spaces Φ, ordered from most to least editable: the first is the
*rows* space (StyleGAN2's W+, BigGAN-deep's Z+), one row per layer that consumes a latent; the
others are feature spaces F_i, the output of the block that consumes row i. It renders through
one staged forward,

    synthesize(rows, delta_f, masks, delta_w=None, noise_mode=..., cache=None) → x̂,

which is the image formation of eq. 3.3–3.4 without `delta_w` and the gated edit of §3.4 with it
(a region inverted in F_i keeps its unedited f_i; layers after F_i see the edit).

BigGAN-deep's `ClassConditionedBigGAN` (`biggan/`) implements the whole protocol and inverts
through `inversion.family.invert_family`. StyleGAN2's `Generator` (`networks.py`) has the rendering
half of it (synthesize, feature geometry, rows); its `family`/`spaces` declarations and a
`latent_prior` are not added yet — eq. 3.6's ŵ Gaussian needs sampled statistics
(`inversion.losses`) — so `inversion.optimise.invert` remains StyleGAN2's path. `latent_prior` is
eq. 3.6's first term in a family's own terms (BigGAN: the truncated normal of z).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import torch


@dataclasses.dataclass(frozen=True)
class LatentSpaceInfo:
    """One candidate space of Φ: its name as the paper writes it ('W+', 'Z+', 'F2', 'F6' …), the
    feature index i of F_i (None for the rows space) and, for the map legend, a short description."""

    name: str
    feature_index: int | None
    description: str = ""

    @property
    def is_feature(self) -> bool:
        return self.feature_index is not None


class FrameConfig(Protocol):
    """The geometry a family reports through `G.cfg`."""

    @property
    def output_size(self) -> tuple[int, int]: ...  # (H, W) of x̂

    @property
    def resolution(self) -> int: ...  # the square synthesis frame


@runtime_checkable
class GeneratorFamily(Protocol):
    """The interface; see the module docstring. Shapes: rows (N, num_ws, w_dim); Δf_i and m_i as
    in eq. 3.3; x̂ (N, 3, H_out, W_out) in about [-1, 1]."""

    family: str
    num_ws: int  # rows of the first space
    w_dim: int  # width of one row

    @property
    def cfg(self) -> FrameConfig: ...

    @property
    def spaces(self) -> tuple[LatentSpaceInfo, ...]: ...

    def mean_w_plus(self, n: int = 1) -> torch.Tensor: ...  # the prior's centre as rows (N, num_ws, w_dim)

    def feature_indices(self) -> list[int]: ...

    def feature_shape(self, index: int) -> tuple[int, int, int]: ...

    def mask_to_feature(self, mask: torch.Tensor, index: int) -> torch.Tensor: ...

    def latent_prior(self, rows: torch.Tensor) -> torch.Tensor: ...  # (N,): eq. 3.6's prior term

    def synthesize(
        self,
        w_plus: torch.Tensor,
        delta_f: Mapping[int, torch.Tensor] | None = None,
        masks: Mapping[int, torch.Tensor] | None = None,
        delta_w: torch.Tensor | None = None,
        noise_mode: str = "const",
        cache: object | None = None,
    ) -> torch.Tensor: ...


EDIT_PANELS = ("ganspace", "class")  # the window's edit panels: GANSpace/text on W+; class picker + GANSpace/text on z


def edit_panel_kind(G: object) -> str:
    """Which edit panel the window shows for G: a family declares `edit_panel` (BigGAN-deep:
    'class', the searchable class picker with interpolation strength, next to GANSpace and text on z);
    StyleGAN2's is 'ganspace'."""
    kind = str(getattr(G, "edit_panel", "ganspace"))
    if kind not in EDIT_PANELS:
        raise ValueError(f"{getattr(G, 'family', type(G).__name__)} asks for an edit panel {kind!r}; the window has {EDIT_PANELS}")
    return kind


def legend_entries(G: GeneratorFamily) -> list[tuple[str, str]]:
    """The map legend's lines for G: (space name, description), most editable first."""
    return [(s.name, s.description) for s in G.spaces]


def space_named(G: GeneratorFamily, name: str) -> LatentSpaceInfo:
    """The space of G called `name` (case-insensitive, 'zplus' = 'Z+'); a clear error otherwise."""
    key = name.strip().upper().replace("PLUS", "+")
    for space in G.spaces:
        if space.name.upper() == key:
            return space
    raise ValueError(f"{G.family} has no latent space {name!r}; its spaces are {', '.join(s.name for s in G.spaces)}")
