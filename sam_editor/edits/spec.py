"""The one edit model the window, the CLI and recipes share: `EditSpec`, what the user chose
(a GANSpace component on some style rows, a text prompt, an official direction) and how strong,
and `resolve_edits`, which turns a list of them into the `EditStack` of δw+ that the gated
synthesis renders (§3.4). Directions that are tensors (StyleCLIP's δw+, official `.npy` files)
are held beside the specs under an integer `key`, so a spec stays small, comparable and JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ..gan.networks import Generator
from .compose import Edit, EditStack, ganspace_edit
from .ganspace import GanspaceComponents

SPEC_KINDS = ("ganspace", "styleclip", "direction")


@dataclasses.dataclass(frozen=True)
class EditSpec:
    """One active edit. GANSpace: component k on style rows `layers` (inclusive), strength in
    σ_k; StyleCLIP: the δw+ found for `text` (held under `key`), times strength; direction: an
    official SAM δw+ (held under `key`) times strength, on rows `layers`.

    As a layer of the edit stack it can be switched off (`enabled`: kept, rendered as if
    absent) and given the user's own `label` (the `name` stays: a GANSpace slider finds its
    edit by it). Files without these fields read as enabled and unlabelled."""

    kind: str  # one of SPEC_KINDS
    name: str
    strength: float
    layers: tuple[int, int]
    component: int = -1
    text: str = ""
    key: int = 0
    enabled: bool = True
    label: str = ""

    @property
    def title(self) -> str:
        """What the stack shows: the user's label, else the name."""
        return self.label or self.name

    def __post_init__(self) -> None:
        if self.kind not in SPEC_KINDS:
            raise ValueError(f"edit kind must be one of {SPEC_KINDS}, got {self.kind!r}")

    def with_strength(self, strength: float) -> EditSpec:
        return dataclasses.replace(self, strength=float(strength))

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EditSpec:
        return cls(
            kind=str(d["kind"]),
            name=str(d["name"]),
            strength=float(d["strength"]),
            layers=(int(d["layers"][0]), int(d["layers"][1])),
            component=int(d.get("component", -1)),
            text=str(d.get("text", "")),
            key=int(d.get("key", 0)),
            enabled=bool(d.get("enabled", True)),
            label=str(d.get("label", "")),
        )


def resolve_edits(
    G: Generator,
    specs: Iterable[EditSpec],
    ganspace: GanspaceComponents | None,
    directions: Mapping[int, torch.Tensor],  # key → δw+ (1, num_ws, w_dim) at strength 1
    device: torch.device | str | None = None,
) -> EditStack:
    """The stack δw+ = Σ s_j · d_j of the enabled specs (a switched-off layer changes nothing).
    A spec whose source is missing (no GANSpace yet, a direction key not held) is left out, so a
    render never fails on it. The sum does not depend on the order of the layers."""
    stack = EditStack()
    for i, e in enumerate(specs):
        if not e.enabled:
            continue
        name = f"{i:02d} {e.name}"
        if e.kind == "ganspace":
            if ganspace is not None:
                stack.add(ganspace_edit(G, ganspace, e.component, e.layers, e.strength, name=name))
            continue
        if e.key not in directions:
            continue
        d = directions[e.key].to(device if device is not None else G.mapping.w_avg.device)
        rows = torch.zeros(1, G.num_ws, 1, device=d.device)
        rows[:, e.layers[0] : e.layers[1] + 1] = 1  # the edit's own row range
        kind = "text" if e.kind == "styleclip" else "official"
        stack.add(Edit(name, d * rows, e.strength, kind=kind, info={"text": e.text}))
    return stack
