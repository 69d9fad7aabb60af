"""Output names for the CLI's long jobs, decided and checked *before* the job runs: a name too
long for the file system, a folder that is a file, or a folder we may not write lose minutes
of inversion when found only at the end (issue 30)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

MAX_NAME_BYTES = 240  # most file systems allow 255 bytes per name; leave room for temp prefixes
PHI_SUFFIXES = (".pt", ".npz")


class OutputError(ValueError):
    """An output path that cannot be written; the message is for the user as is."""


def bounded_stem(stem: str, longest_suffix: str) -> str:
    """`stem` shortened (keeping its start and an 8-hex hash of the whole) so that
    stem + `longest_suffix` fits in `MAX_NAME_BYTES` bytes of UTF-8."""
    room = MAX_NAME_BYTES - len(longest_suffix.encode())
    if len(stem.encode()) <= room:
        return stem
    tag = "~" + hashlib.sha256(stem.encode()).hexdigest()[:8]
    cut = stem.encode()[: room - len(tag)].decode("utf-8", errors="ignore")
    return cut + tag


def writable_folder(folder: Path) -> Path:
    """Create `folder` if needed and prove a file can be written in it (then removed)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".sam-editor-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write there ({exc.strerror or exc})") from exc
    return folder


def invert_outputs(out: str | os.PathLike, image: str | os.PathLike, phi_format: str) -> dict[str, Path]:
    """Where `invert` writes: `--out FOLDER` → FOLDER/<stem>_phi.<fmt>, _reconstruction.png,
    _metrics.json, _pti_generator.pt; `--out NAME.pt|.npz` → φ at exactly that name, the others
    beside it named after it. Checked now: names bounded, folder writable, φ not a folder."""
    out = Path(out)
    if out.suffix.lower() in PHI_SUFFIXES:
        if out.is_dir():
            raise OutputError(f"{out}: is a folder; give a file name for φ or a folder for all outputs")
        if len(out.name.encode()) > MAX_NAME_BYTES:
            raise OutputError(f"{out.name[:40]}…: the name is longer than a file system allows")
        folder, stem, phi = out.parent, out.stem, out
    else:
        folder, stem, phi = out, Path(image).stem, None
    stem = bounded_stem(stem, "_reconstruction.png")  # the longest suffix below
    writable_folder(folder)
    paths = {
        "reconstruction": folder / f"{stem}_reconstruction.png",
        "metrics": folder / f"{stem}_metrics.json",
        "pti_generator": folder / f"{stem}_pti_generator.pt",
        "phi": phi if phi is not None else folder / f"{stem}_phi.{phi_format}",
    }
    for p in paths.values():
        if p.is_dir():
            raise OutputError(f"{p}: is a folder, so the output cannot be written there")
    return paths
