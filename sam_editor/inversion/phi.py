"""φ = {w+, Δf_4, Δf_6, Δf_8, Δf_10} (§3.3) with its masks m_i, and its files.

Files hold only tensors/arrays plus JSON metadata, so they load with `torch.load(...,
weights_only=True)` (`.pt`) or `np.load(..., allow_pickle=False)` (`.npz`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..gan.networks import Generator
from ..util import UnreadableFile, atomic_write, safe_torch_load

FORMAT = "sam-editor-phi"
VERSION = 1


@dataclasses.dataclass
class Phi:
    """The latent code of one inversion, for N images.

    w_plus:   (N, num_ws, w_dim)
    delta_f:  {i: Δf_i (N, C_i, H_i, W_i)} for the feature spaces in use
    masks:    {i: m_i (N | 1, 1, H_i, W_i)} in [0, 1], the latent map resized to F_i's grid
    rank_map: (N, H_out, W_out) uint8 latent map (0 = W+ … 4 = F10), or None
    metadata: method, init ('mean_w' | 'e4e' | …), steps, seed, generator id, settings …
    """

    w_plus: torch.Tensor
    delta_f: dict[int, torch.Tensor] = dataclasses.field(default_factory=dict)
    masks: dict[int, torch.Tensor] = dataclasses.field(default_factory=dict)
    rank_map: torch.Tensor | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.w_plus.ndim != 3:
            raise ValueError(f"w_plus must be (N, num_ws, w_dim), got {tuple(self.w_plus.shape)}")
        self.delta_f = {int(k): v for k, v in self.delta_f.items()}
        self.masks = {int(k): v for k, v in self.masks.items()}
        missing = set(self.delta_f) - set(self.masks)
        if missing:
            raise ValueError(f"Δf without masks: {sorted(missing)}")

    @property
    def n(self) -> int:
        return self.w_plus.shape[0]

    def render(
        self, G: Generator, delta_w: torch.Tensor | None = None, noise_mode: str = "const", **kw
    ) -> torch.Tensor:
        """x̂ (N, 3, H_out, W_out) through `G.synthesize` (eq. 3.3–3.4; §3.4 with `delta_w`)."""
        dev = G.mapping.w_avg.device
        p = self.to(dev)
        return G.synthesize(p.w_plus, p.delta_f, p.masks, delta_w=delta_w, noise_mode=noise_mode, **kw)

    def to(self, device: torch.device | str) -> Phi:
        return dataclasses.replace(
            self,
            w_plus=self.w_plus.to(device),
            delta_f={k: v.to(device) for k, v in self.delta_f.items()},
            masks={k: v.to(device) for k, v in self.masks.items()},
            rank_map=None if self.rank_map is None else self.rank_map.to(device),
        )

    def detach(self) -> Phi:
        return dataclasses.replace(
            self,
            w_plus=self.w_plus.detach().clone(),
            delta_f={k: v.detach().clone() for k, v in self.delta_f.items()},
            masks={k: v.detach().clone() for k, v in self.masks.items()},
            rank_map=None if self.rank_map is None else self.rank_map.detach().clone(),
            metadata=json.loads(json.dumps(self.metadata)),
        )

    def select(self, index: int) -> Phi:
        """The φ of image `index` alone (N = 1)."""
        sl = slice(index, index + 1)

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t[sl] if t.shape[0] > 1 else t

        return dataclasses.replace(
            self,
            w_plus=self.w_plus[sl],
            delta_f={k: v[sl] for k, v in self.delta_f.items()},
            masks={k: pick(v) for k, v in self.masks.items()},
            rank_map=None if self.rank_map is None else self.rank_map[sl],
            metadata=dict(self.metadata),
        )

    # ---- files ---------------------------------------------------------------------------
    def _arrays(self) -> dict[str, torch.Tensor]:
        out = {"w_plus": self.w_plus.detach().cpu().contiguous()}
        for k, v in self.delta_f.items():
            out[f"delta_f/{k}"] = v.detach().cpu().contiguous()
        for k, v in self.masks.items():
            out[f"mask/{k}"] = v.detach().cpu().contiguous()
        if self.rank_map is not None:
            out["rank_map"] = self.rank_map.detach().cpu().to(torch.uint8).contiguous()
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write `.pt` (torch, weights_only-safe) or `.npz` (numpy), atomically."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".pt", ".npz"):
            raise ValueError(f"{path}: φ files are .pt or .npz")
        header = json.dumps({"format": FORMAT, "version": VERSION, "metadata": self.metadata})
        arrays = self._arrays()
        if suffix == ".pt":
            return atomic_write(path, lambda tmp: torch.save({"header": header, **arrays}, tmp))

        def write_npz(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a "φ.NPZ" name
                np.savez(f, header=np.array(header), **{k: v.numpy() for k, v in arrays.items()})

        return atomic_write(path, write_npz)

    @classmethod
    def from_plain_dict(cls, d: dict[str, Any]) -> Phi:
        """A φ saved by hand as ``torch.save({"w_plus": …, "delta_f": {…}, "masks": {…}})``: feature
        keys may be ints or "F<i>", w+ may lack its batch axis, masks may be at any size and rank
        (the generator brings them to F_i's grid when it uses them)."""

        def index(k: object) -> int:
            s = str(k).strip().upper()
            return int(s[1:]) if s.startswith("F") else int(s)

        w_plus = d["w_plus"]
        if not isinstance(w_plus, torch.Tensor):
            raise ValueError("φ has no tensor 'w_plus'")
        masks = {}
        for k, m in dict(d.get("masks") or {}).items():
            m = m.float()
            while m.ndim < 4:
                m = m.unsqueeze(0)
            masks[index(k)] = m
        delta_f = {index(k): v.float() for k, v in dict(d.get("delta_f") or {}).items()}
        return cls(w_plus.float() if w_plus.ndim == 3 else w_plus.float()[None], delta_f, masks, metadata={"source": "plain dict"})

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Phi:
        """Read a φ file; anything that is not one (a pickle that wants to run code, a header
        that is not ours, tensors of the wrong kind or shape) is a ValueError for the user."""
        from ..schema import FileFormatError, PhiHeaderModel, check_format, load_json, parse

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such φ file")
        try:
            if path.suffix.lower() == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    header = str(z["header"])
                    arrays = {k: torch.from_numpy(z[k].copy()) for k in z.files if k != "header"}
            else:
                d = safe_torch_load(path, "φ file")
                if isinstance(d, dict) and "header" not in d and "w_plus" in d:
                    arrays, header = d, None
                elif not isinstance(d, dict) or not isinstance(d.get("header"), str):
                    raise ValueError("no φ header")
                else:
                    header = d.pop("header")
                    arrays = d
        except UnreadableFile:
            raise
        except Exception as exc:  # numpy raises many kinds (zipfile, EOF, pickle refused …)
            raise ValueError(f"“{path.name}” is not a φ file SAM Editor can read safely ({type(exc).__name__}; it may contain code)") from exc
        if header is None:
            try:
                phi = cls.from_plain_dict(arrays)
            except (AttributeError, TypeError, KeyError, ValueError, IndexError, RuntimeError) as exc:
                raise ValueError(f"{path.name}: not a usable φ file ({type(exc).__name__}: {exc})") from exc
            return phi.to(map_location)
        try:
            check_format(load_json(header, f"{path.name}'s header"), FORMAT, VERSION, path.name, "φ file")
            head = parse(PhiHeaderModel, header, f"{path.name}'s header")
            for k, v in arrays.items():
                if not isinstance(k, str) or not isinstance(v, torch.Tensor) or (k != "rank_map" and not v.is_floating_point()):
                    raise ValueError("its arrays are not all float tensors")
            w_plus = arrays.get("w_plus")
            if not isinstance(w_plus, torch.Tensor):
                raise ValueError("it has no w_plus")
            delta_f = {_feature_index(k): v for k, v in arrays.items() if k.startswith("delta_f/")}
            masks = {_feature_index(k): v for k, v in arrays.items() if k.startswith("mask/")}
            rank_map = arrays.get("rank_map")
            if rank_map is not None and (not isinstance(rank_map, torch.Tensor) or rank_map.ndim != 3):
                raise ValueError("its rank map is not an (N, H, W) array")
            for v in [w_plus, *delta_f.values(), *masks.values()]:
                if not torch.isfinite(v).all():
                    raise ValueError("it holds NaN or infinite values")
            if w_plus.ndim != 3:
                raise ValueError(f"w_plus is {tuple(w_plus.shape)}, not (N, num_ws, w_dim)")
            for k, v in delta_f.items():
                if k not in masks or v.ndim != 4 or masks[k].ndim != 4:
                    raise ValueError(f"Δf_{k} or its mask is missing or not a 4-D tensor")
            phi = cls(w_plus, delta_f, masks, rank_map, dict(head.metadata))
        except FileFormatError:
            raise
        except ValueError as exc:
            raise ValueError(f"{path.name}: not a usable φ file ({exc})") from exc
        return phi.to(map_location)


def _feature_index(key: str) -> int:
    """'delta_f/6' → 6, for the feature layers a generator can have (StyleGAN2's F4…F16, BigGAN-deep's
    F1…F14; whether this generator has it is checked where φ meets the generator)."""
    tail = key.split("/", 1)[1]
    if not tail.isdigit() or not 1 <= int(tail) <= 16:
        raise ValueError(f"unknown feature layer {tail!r}")
    return int(tail)
