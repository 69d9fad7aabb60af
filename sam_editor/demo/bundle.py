"""The demo bundle in `weights/demo/`: what it contains, how each file was made, and its hashes.

The app uses the bundle when no official weights are configured; `manifest.json` records
sha256, size, the command that produced each file and the figures measured on it, so a
user can check the files and re-create them (`sam-editor demo …`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ..util import sha256_file

BUNDLE_DIR = Path(__file__).resolve().parents[2] / "weights" / "demo"
MANIFEST = "manifest.json"

# Role → (relative path, how it is made). Files that are absent are simply not in the bundle yet.
COMPONENTS: dict[str, tuple[str, str]] = {
    "generator": ("generator.pt", "sam-editor demo train-gan --kimg 408 (202-408 kimg ran on a GPU: --device cuda --batch 32)"),
    "predictor": ("invertibility.pt", "sam-editor demo train-predictor"),
    "clip_model": ("clip/sam-editor-tiny-clip.pt", "python -m sam_editor.demo.train_clip"),
    "clip_config": ("clip/sam-editor-tiny-clip.json", "python -m sam_editor.demo.train_clip"),
    "presets": ("presets.json", "sam-editor demo presets"),
    "encoder": ("encoder.pt", "sam-editor demo train-encoder"),
    "segmenter": ("segmenter.pt", "sam-editor demo train-segmenter"),
    "tau": ("tau.json", "sam-editor demo calibrate-tau"),
}


@dataclasses.dataclass(frozen=True)
class BundleFile:
    role: str
    path: str  # relative to the bundle dir
    sha256: str
    size: int
    command: str
    figures: dict


def bundle_dir() -> Path:
    """`$SAM_EDITOR_DEMO_BUNDLE` or the repository's `weights/demo`."""
    return Path(os.environ.get("SAM_EDITOR_DEMO_BUNDLE", BUNDLE_DIR))


def component_path(role: str, directory: Path | None = None) -> Path | None:
    """Path of a bundle component if it is present, else None."""
    rel = COMPONENTS[role][0]
    p = (directory or bundle_dir()) / rel
    return p if p.is_file() else None


def write_manifest(directory: Path | None = None, figures: dict[str, dict] | None = None) -> dict:
    """Hash every present component and write `manifest.json` (keeping earlier figures)."""
    directory = directory or bundle_dir()
    old = read_manifest(directory) or {}
    old_figures = {f["role"]: f.get("figures", {}) for f in old.get("files", [])}
    files = []
    for role, (rel, command) in COMPONENTS.items():
        p = directory / rel
        if not p.is_file():
            continue
        fig = dict(old_figures.get(role, {}))
        fig.update((figures or {}).get(role, {}))
        files.append(dataclasses.asdict(BundleFile(role, rel, sha256_file(p), p.stat().st_size, command, fig)))
    manifest = {"bundle": "sam-editor demo (procedural car world)", "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory: Path | None = None) -> dict | None:
    p = (directory or bundle_dir()) / MANIFEST
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def verify(directory: Path | None = None) -> list[str]:
    """Problems with the bundle (empty list: every file listed is present with its hash)."""
    directory = directory or bundle_dir()
    manifest = read_manifest(directory)
    if manifest is None:
        return [f"{directory / MANIFEST}: missing"]
    problems = []
    for f in manifest["files"]:
        p = directory / f["path"]
        if not p.is_file():
            problems.append(f"{p}: missing")
        elif sha256_file(p) != f["sha256"]:
            problems.append(f"{p}: sha256 differs from the manifest (file changed or corrupt)")
    return problems
