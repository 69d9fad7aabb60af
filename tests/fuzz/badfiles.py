"""Broken and hostile files for the fuzz and fault tests: malformed projects (the six of issue
30 among them), pickles that try to run code (they create a marker file if they ever do)."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


class Evil:
    """Unpickling this runs `touch MARKER` — a file that proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch '{self.marker}'",))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps({"w_plus": Evil(marker)}, protocol=2)


def evil_torch(marker: Path) -> bytes:
    """A genuine torch.save zip whose data.pkl runs code when loaded without weights_only."""
    buf = io.BytesIO()
    torch.save({"state_dict": {"x": torch.zeros(2)}, "payload": Evil(marker)}, buf)
    return buf.getvalue()


def project_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_members(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def with_state(good: Path, out: Path, change: Callable[[dict], Any]) -> Path:
    """A copy of project `good` whose project.json went through `change` (which edits the
    dict in place, or returns a replacement)."""
    members = project_members(good)
    state = json.loads(members["project.json"])
    new = change(state)
    members["project.json"] = json.dumps(state if new is None else new).encode()
    return write_members(out, members)


def _drop_inversion_keys(s: dict) -> None:
    s["inversion"] = {"method": s["inversion"]["method"]}


# The six malformed projects of issue 30 (item 1): name → how to make it from a good project.
ISSUE_PROJECTS: dict[str, Callable[[Path, Path, Path], Path]] = {
    "edit_region ['x']": lambda good, out, _m: with_state(good, out, lambda s: s.__setitem__("edit_region", ["x"])),
    "top-level list": lambda good, out, _m: with_state(good, out, lambda s: [s]),
    "version null": lambda good, out, _m: with_state(good, out, lambda s: s.__setitem__("version", None)),
    "source name ../": lambda good, out, _m: with_state(good, out, lambda s: s["source"].__setitem__("name", "../../etc/x.png")),
    "inversion missing keys": lambda good, out, _m: with_state(good, out, _drop_inversion_keys),
    "malicious tensors": lambda good, out, marker: write_members(out, {**project_members(good), "tensors.pt": evil_torch(marker)}),
}

MORE_PROJECTS: dict[str, Callable[[Path, Path, Path], Path]] = {
    "malicious phi": lambda good, out, marker: write_members(out, {**project_members(good), "phi.pt": evil_pickle(marker)}),
    "not a zip": lambda good, out, _m: (out.write_bytes(b"PK\x03\x04 nope"), out)[1],
    "no photo": lambda good, out, _m: write_members(out, {k: v for k, v in project_members(good).items() if k != "source.png"}),
    "photo claims 60000 px": lambda good, out, _m: write_members(out, {**project_members(good), "source.png": _huge_png_header()}),
    "deep nesting": lambda good, out, _m: _raw_state(good, out, lambda t: t.replace('"edit_region": [1]', '"edit_region": ' + "[" * 50000 + "]" * 50000)),
    "NaN strength": lambda good, out, _m: _raw_state(good, out, lambda t: t.replace('"strength": 0.5', '"strength": NaN')),
    "reconstruction wrong size": lambda good, out, _m: _tensors(good, out, lambda d: d.__setitem__("reconstruction", torch.zeros(3, 3, 3, dtype=torch.uint8))),
    "direction wrong shape": lambda good, out, _m: _tensors(good, out, lambda d: d.__setitem__("direction/7", torch.zeros(2))),
    "label image claims 60000 px": lambda good, out, _m: with_state(good, out, lambda s: s["latent_map"].__setitem__("labels_png", __import__("base64").b64encode(_huge_png_header()).decode())),
    "labels out of range": lambda good, out, _m: with_state(good, out, lambda s: s["latent_map"].__setitem__("segment_errors", s["latent_map"]["segment_errors"][:1])),
}


def _huge_png_header() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _raw_state(good: Path, out: Path, change: Callable[[str], str]) -> Path:
    members = project_members(good)
    text = json.dumps(json.loads(members["project.json"]))
    members["project.json"] = change(text).encode()
    return write_members(out, members)


def _tensors(good: Path, out: Path, change: Callable[[dict], None]) -> Path:
    members = project_members(good)
    d = torch.load(io.BytesIO(members["tensors.pt"]), weights_only=True)
    change(d)
    buf = io.BytesIO()
    torch.save(d, buf)
    members["tensors.pt"] = buf.getvalue()
    return write_members(out, members)


def busy_session(bundle, folder: Path):  # noqa: ANN001, ANN201
    """A session with work in it: photo, map, an override, a 2-step inversion, a direction edit."""
    from bundle_factory import write_sample

    from sam_editor.gan.layers import LayerSpace
    from sam_editor.session import EditSpec, Session, predict_latent_map, run_inversion

    s = Session(bundle)
    s.open_image(write_sample(folder / "car.png"))
    s.apply_latent_map(predict_latent_map(bundle, s.work, s.tau, lambda *a: None, lambda: False, box=s.placement.box))
    s.set_overrides({1: LayerSpace.F4})
    s.apply_inversion(run_inversion(bundle, s.work, s.latent_map, "sam", 2, lambda *a: None, lambda: False))
    key = s.add_direction(torch.randn(1, s.num_ws, bundle.G.w_dim))
    s.set_edits([EditSpec("styleclip", "red", 0.5, (0, s.num_ws - 1), text="red", key=key)])
    s.set_edit_region([1])
    return s


def snapshot(session) -> tuple:  # noqa: ANN001
    """What 'the session is untouched' means: the same objects in every slot."""
    return (
        session.source,
        session.work,
        session.latent_map,
        session.inversion,
        tuple(session.edits),
        dict(session.directions),
        session.edit_region,
        session.project_path,
        session.dirty,
    )


def same(a: tuple, b: tuple) -> bool:
    def one(x: object, y: object) -> bool:
        if x is y:
            return True
        if any(type(v).__module__.startswith(("numpy", "torch", "sam_editor")) for v in (x, y)):
            return False  # arrays and our objects: only the very same object is 'untouched'
        return bool(x == y)

    return all(one(x, y) for x, y in zip(a, b, strict=True))
