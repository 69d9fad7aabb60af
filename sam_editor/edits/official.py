"""The edit directions that ship with the official SAM code (§3.4 edits as ready-made δw+).

Facts from adobe-research/sam_inversion: `edits/cars/` holds ten float32 `.npy` files,
`csc_{black, blue, model_t, muscle, rims, snow, starwars, suv, windows_closed, windows_open}.npy`,
each of shape (1, 16, 512) — a full δw+ for `stylegan2-car-config-f` (16 style rows, w_dim 512),
mostly non-zero on a few rows only (e.g. `model_t` rows 3–5, `rims` rows 8–11, `black` rows
10–15). `edits/cats/` and `edits/faces/` hold the same for those generators. The official script
reshapes each to (1, num_ws, 512), multiplies it by 0, 1, 2 and 3, and adds it to the inverted w+
with the gating of §3.4.

Here a folder of such files is discovered and each loaded with a shape check: (num_ws, w_dim) or
(1, num_ws, w_dim), against the generator that is loaded.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from ..gan.networks import Generator

OFFICIAL_MULTIPLIERS: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)  # the official script's sweep
OFFICIAL_CAR_EDITS: tuple[str, ...] = (
    "black", "blue", "model_t", "muscle", "rims", "snow", "starwars", "suv", "windows_closed", "windows_open",
)  # fmt: skip
OFFICIAL_PREFIX = "csc_"
CATEGORIES: tuple[str, ...] = ("cars", "cats", "faces")


class DirectionError(ValueError):
    """A direction file is missing, unreadable or of the wrong shape for the generator."""


@dataclasses.dataclass(frozen=True)
class OfficialDirection:
    """A δw+ loaded from a `.npy` file. delta_w: (1, num_ws, w_dim) float32 at multiplier 1."""

    name: str  # file stem without the official "csc_" prefix, e.g. "model_t"
    path: Path
    delta_w: torch.Tensor

    def scaled(self, multiplier: float) -> torch.Tensor:  # (1, num_ws, w_dim)
        return self.delta_w * float(multiplier)

    def rows(self) -> list[int]:
        """Style rows this direction touches (non-zero rows)."""
        return [int(r) for r in torch.nonzero(self.delta_w[0].abs().sum(dim=1) > 0).flatten()]


def direction_name(path: str | os.PathLike) -> str:
    stem = Path(path).stem
    return stem[len(OFFICIAL_PREFIX) :] if stem.startswith(OFFICIAL_PREFIX) else stem


def load_direction(path: str | os.PathLike, num_ws: int, w_dim: int) -> torch.Tensor:
    """A δw+ `.npy` → (1, num_ws, w_dim) float32. Accepts (num_ws, w_dim) or (1, num_ws, w_dim);
    anything else raises DirectionError naming the file, its shape and the expected one."""
    path = Path(path)
    if not path.is_file():
        raise DirectionError(f"{path}: direction file not found")
    try:  # the header first: a file may claim any shape, and np.load would allocate it
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, _dtype = read(f)
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise DirectionError(f"{path.name}: not a readable .npy array ({str(exc)[:160]})") from exc
    if tuple(shape) not in ((num_ws, w_dim), (1, num_ws, w_dim)):
        raise DirectionError(
            f"{path}: δw+ of shape {tuple(shape)[:6]} does not fit this generator; "
            f"expected ({num_ws}, {w_dim}) or (1, {num_ws}, {w_dim})"
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DirectionError(f"{path.name}: not a readable .npy array ({str(exc)[:160]})") from exc
    if not np.issubdtype(arr.dtype, np.floating):
        raise DirectionError(f"{path}: expected a float array, got {arr.dtype}")
    if arr.shape == (num_ws, w_dim):
        arr = arr[None]
    if arr.shape != (1, num_ws, w_dim):
        raise DirectionError(
            f"{path}: δw+ of shape {arr.shape} does not fit this generator; "
            f"expected ({num_ws}, {w_dim}) or (1, {num_ws}, {w_dim})"
        )
    if not np.all(np.isfinite(arr)):
        raise DirectionError(f"{path}: contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def load_direction_for(G: Generator, path: str | os.PathLike) -> OfficialDirection:
    delta = load_direction(path, G.num_ws, G.w_dim).to(G.mapping.w_avg.device)
    return OfficialDirection(direction_name(path), Path(path), delta)


def find_edits_folder(weights_path: str | os.PathLike, category: str = "cars") -> Path | None:
    """The official layout `edits/<category>/` next to the weights file, or one folder up
    (weights in `ckpt/`, edits beside it, as in the official repository). None if absent."""
    base = Path(weights_path).resolve().parent
    for folder in (base / "edits" / category, base.parent / "edits" / category, base / category):
        if folder.is_dir() and any(folder.glob("*.npy")):
            return folder
    return None


def discover_directions(folder: str | os.PathLike, G: Generator, strict: bool = True) -> dict[str, OfficialDirection]:
    """Every `*.npy` in `folder`, loaded for G, keyed by name (sorted). With strict=False a file
    that does not fit G is skipped instead of raising."""
    out: dict[str, OfficialDirection] = {}
    for path in sorted(Path(folder).glob("*.npy")):
        try:
            d = load_direction_for(G, path)
        except DirectionError:
            if strict:
                raise
            continue
        out[d.name] = d
    return out


def directions_for_generator(
    G: Generator, weights_path: str | os.PathLike, category: str = "cars"
) -> dict[str, OfficialDirection]:
    """The official directions that match the loaded generator: looks up `edits/<category>/`
    next to `weights_path` and keeps only files whose shape fits G (num_ws, w_dim); {} if none."""
    folder = find_edits_folder(weights_path, category)
    return {} if folder is None else discover_directions(folder, G, strict=False)
