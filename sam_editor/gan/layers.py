"""Latent spaces of the paper (§3.1): Φ = {W+, F4, F6, F8, F10}.

F_i is the output feature of the synthesis block whose *last* conv consumes style row i
(the official SAM code's convention): F4 is the 16×16 block, F6 32×32, F8 64×64, F10 128×128.
In general block resolution r produces F_{2·log2(r) − 4}, so F_i exists for even i from 0
(the 4×4 block) up to the generator's last block.
"""

from __future__ import annotations

import enum
import math


class LayerSpace(enum.Enum):
    """The five candidate latent spaces, ordered from most to least editable (W+ ≺ F4 ≺ … ≺ F10)."""

    W_PLUS = "W+"
    F4 = "F4"
    F6 = "F6"
    F8 = "F8"
    F10 = "F10"

    @property
    def index(self) -> int:
        """Feature layer index i of F_i; W+ is -1 (it precedes every feature layer)."""
        return -1 if self is LayerSpace.W_PLUS else int(self.value[1:])

    @property
    def rank(self) -> int:
        """Position in the editability order: 0 for W+ … 4 for F10."""
        return list(LayerSpace).index(self)

    @property
    def is_feature(self) -> bool:
        return self is not LayerSpace.W_PLUS

    @classmethod
    def from_index(cls, index: int) -> LayerSpace:
        for space in cls:
            if space.index == index:
                return space
        raise ValueError(f"no latent space with feature index {index}")

    @classmethod
    def parse(cls, text: str) -> LayerSpace:
        """'W+', 'wplus', 'f6', 'F10' → LayerSpace."""
        t = text.strip().upper().replace("PLUS", "+")
        for space in cls:
            if space.value == t:
                return space
        raise ValueError(f"unknown latent space {text!r}; expected one of {[s.value for s in cls]}")

    def __str__(self) -> str:
        return self.value


FEATURE_SPACES: tuple[LayerSpace, ...] = (LayerSpace.F4, LayerSpace.F6, LayerSpace.F8, LayerSpace.F10)


def feature_index_of_block(resolution: int) -> int:
    """Feature index i produced by the synthesis block at `resolution` (4 → 0, 16 → 4, 128 → 10)."""
    return 2 * int(math.log2(resolution)) - 4


def block_of_feature_index(index: int) -> int:
    """Resolution of the synthesis block that produces F_index (4 → 16, 10 → 128)."""
    if index < 0 or index % 2:
        raise ValueError(f"F{index} is not a block output; feature indices are even and ≥ 0")
    return 2 ** (index // 2 + 2)


def num_ws_for_resolution(resolution: int) -> int:
    """Style rows of a skip-architecture StyleGAN2 at `resolution` (512 → 16, 128 → 12)."""
    return 2 * int(math.log2(resolution)) - 2
