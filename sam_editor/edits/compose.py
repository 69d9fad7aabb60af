"""Several edits at once, rendered with the gated synthesis of the paper's §3.4.

Every edit is a δw+ (1, num_ws, w_dim) at unit strength plus a strength and an enabled flag;
the stack's edit is their sum, δw+ = Σ_j s_j · d_j over enabled edits. Segments inverted in W+
are modulated by w+ + δw+ in every layer, segments inverted in F_i only after layer i — that
gating lives in `Generator.synthesize`, which `render_edit` calls exactly once. With a
`RenderCache`, moving one slider recomputes only from the first block whose style rows changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import torch

from ..gan.networks import Generator, RenderCache
from .ganspace import GanspaceComponents, direction_to_delta_w

KINDS = ("ganspace", "official", "text", "custom")


@dataclasses.dataclass
class Edit:
    """One entry of an EditStack. direction: δw+ (1, num_ws, w_dim) at strength 1."""

    name: str
    direction: torch.Tensor
    strength: float = 1.0
    enabled: bool = True
    kind: str = "custom"
    info: dict = dataclasses.field(default_factory=dict)  # e.g. {"component": 3, "layers": (0, 5)}

    def __post_init__(self) -> None:
        if self.direction.ndim == 2:
            self.direction = self.direction.unsqueeze(0)
        if self.direction.ndim != 3 or self.direction.shape[0] != 1:
            raise ValueError(f"edit {self.name!r}: δw+ must be (1, num_ws, w_dim), got {tuple(self.direction.shape)}")
        if self.kind not in KINDS:
            raise ValueError(f"edit kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def active(self) -> bool:
        return self.enabled and self.strength != 0 and bool(self.direction.any())

    def delta_w(self) -> torch.Tensor:  # (1, num_ws, w_dim)
        return self.direction * float(self.strength)

    def first_row(self) -> int | None:
        """First style row the direction touches, None if it is zero."""
        nz = torch.nonzero(self.direction[0].abs().sum(dim=1) > 0).flatten()
        return int(nz[0]) if nz.numel() else None


class EditStack:
    """Named edits with strengths and enabled flags; the total δw+ is order-independent (edits
    are summed in float64 in name order, whatever order they were added or changed in)."""

    def __init__(self, edits: list[Edit] | None = None) -> None:
        self._edits: dict[str, Edit] = {}
        for e in edits or []:
            self.add(e)

    # ---- contents ----------------------------------------------------------------------------
    def add(self, edit: Edit) -> Edit:
        """Add (or replace the edit of the same name). All edits must share num_ws and w_dim."""
        for other in self._edits.values():
            if other.name != edit.name and other.direction.shape != edit.direction.shape:
                raise ValueError(
                    f"edit {edit.name!r} has δw+ shape {tuple(edit.direction.shape)}, "
                    f"the stack holds {tuple(other.direction.shape)}"
                )
        self._edits[edit.name] = edit
        return edit

    def remove(self, name: str) -> Edit:
        return self._edits.pop(name)

    def get(self, name: str) -> Edit:
        return self._edits[name]

    def __contains__(self, name: object) -> bool:
        return name in self._edits

    def __iter__(self) -> Iterator[Edit]:
        return iter(list(self._edits.values()))

    def __len__(self) -> int:
        return len(self._edits)

    def names(self) -> list[str]:
        return list(self._edits)

    def set_strength(self, name: str, strength: float) -> None:
        self._edits[name].strength = float(strength)

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._edits[name].enabled = bool(enabled)

    def active(self) -> list[Edit]:
        """Enabled edits with a non-zero contribution, in canonical (name) order."""
        return [self._edits[n] for n in sorted(self._edits) if self._edits[n].active]

    # ---- the composed edit ---------------------------------------------------------------------
    def total_delta_w(self) -> torch.Tensor | None:
        """Σ strength · δw+ over enabled edits, (1, num_ws, w_dim) float32; None if nothing is active."""
        active = self.active()
        if not active:
            return None
        total = torch.zeros(active[0].direction.shape, dtype=torch.float64, device=active[0].direction.device)
        for e in active:
            total += e.direction.double() * float(e.strength)
        return total.to(active[0].direction.dtype)

    def earliest_row(self) -> int | None:
        """First style row where the composed edit is non-zero (the image changes from the block
        that consumes it on); None if the stack changes nothing."""
        rows = [r for e in self.active() if (r := e.first_row()) is not None]
        return min(rows) if rows else None

    def earliest_block(self, G: Generator) -> int | None:
        """Resolution of the first synthesis block the composed edit affects."""
        row = self.earliest_row()
        return None if row is None else block_of_row(G, row)


def block_of_row(G: Generator, row: int) -> int:
    """Resolution of the first block that consumes style row `row` (rows are shared between a
    block's toRGB and the next block's first conv)."""
    for res in G.synthesis.block_resolutions:
        if row in G.style_rows_of_block(res):
            return res
    raise ValueError(f"style row {row} is outside 0-{G.num_ws - 1}")


# ---- edit factories ----------------------------------------------------------------------------
def ganspace_edit(
    G: Generator,
    comps: GanspaceComponents,
    k: int,
    layers: tuple[int, int] | None = None,
    strength: float = 0.0,
    name: str | None = None,
) -> Edit:
    """A GANSpace slider: component k on rows `layers` (inclusive), strength in σ_k units."""
    layers = layers if layers is not None else (0, G.num_ws - 1)
    direction = direction_to_delta_w(G, comps, k, layers, 1.0)
    name = name or f"PC{k} [{layers[0]}-{layers[1]}]"
    return Edit(name, direction, strength, kind="ganspace", info={"component": k, "layers": tuple(layers)})


# ---- rendering ---------------------------------------------------------------------------------
@torch.no_grad()
def render_edit(
    G: Generator,
    w_plus: torch.Tensor,  # φ's w+ (N, num_ws, w_dim)
    delta_f: Mapping[int, torch.Tensor] | None,  # φ's Δf_i (N, C_i, H_i, W_i)
    masks: Mapping[int, torch.Tensor] | None,  # m_i (N|1, 1, H_i, W_i) at F_i's size
    stack: EditStack,
    cache: RenderCache | None = None,
    noise_mode: str = "const",
) -> torch.Tensor:
    """Edited image (N, 3, H_out, W_out) in about [-1, 1]: one gated `G.synthesize` pass (§3.4).

    An empty/disabled stack renders the reconstruction. With `cache`, only blocks from the first
    one whose rows (or inputs) changed since the previous call are recomputed.
    """
    delta = stack.total_delta_w()
    if delta is not None:
        delta = delta.to(device=w_plus.device, dtype=w_plus.dtype)
        if delta.shape[1:] != w_plus.shape[1:]:
            raise ValueError(f"edit δw+ {tuple(delta.shape)} does not match w+ {tuple(w_plus.shape)}")
    return G.synthesize(w_plus, delta_f=delta_f, masks=masks, delta_w=delta, noise_mode=noise_mode, cache=cache)
