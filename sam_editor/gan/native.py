"""Our own generator format: plain tensors + a JSON config, loaded with `weights_only=True`.

Nothing in the file can execute code, so the app writes this after converting an official
checkpoint once, and later starts read it quickly and safely.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..util import UnreadableFile, atomic_write, safe_torch_load
from .networks import Generator, GeneratorConfig

FORMAT = "sam-editor-generator"
VERSION = 1


class CheckpointError(RuntimeError):
    """A weights file is missing, corrupt, truncated or not of the expected format."""


def save_generator(path: str | os.PathLike, G: Generator, meta: dict | None = None) -> None:
    """Write atomically (temp file + rename) so an interrupted save never leaves half a file."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": G.cfg.to_json(),
        "meta": json.dumps(meta or {}),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()},
    }
    atomic_torch_save(payload, path)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save to a temp file in the same folder, then rename over `path`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[Generator, dict]:
    """→ (Generator in eval mode, meta dict). Raises CheckpointError with the file name."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found (expected a SAM Editor generator, *.pt)")
    try:
        payload = safe_torch_load(path, "generator")
    except UnreadableFile as exc:
        raise CheckpointError(str(exc)) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a SAM Editor generator (expected format {FORMAT!r})")
    version = payload.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path.name}: its format version ({str(version)[:20]!r}) is not a number")
    if version > VERSION:
        raise CheckpointError(f"{path}: written by a newer SAM Editor (format version {payload['version']})")
    try:
        cfg = GeneratorConfig.from_dict(json.loads(payload["config"]))
        G = Generator(cfg)
        G.load_state_dict(payload["state_dict"], strict=True)
        meta = json.loads(payload.get("meta", "{}"))
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not an object")
    except Exception as exc:  # a config or state dict of any shape: all 'not this generator'
        raise CheckpointError(f"{path}: generator weights do not match their config ({type(exc).__name__}: {str(exc)[:200]})") from exc
    return G.to(map_location).eval().requires_grad_(False), meta
