"""Hypothesis strategies for broken files: byte-level mutations of valid files, random JSON
values planted anywhere in a valid document, and structurally plausible torch payloads."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

OPS = ("flip", "cut", "insert", "delete", "overwrite")


def _apply(base: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(base)
    for op, at, blob in ops:
        i = at % (len(data) + 1)
        if op == "flip" and data:
            data[i % len(data)] ^= blob[0] or 0xFF
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = blob
        elif op == "delete":
            del data[i : i + len(blob) * 8]
        elif op == "overwrite":
            data[i : i + len(blob)] = blob
    return bytes(data)


def mutated(base: bytes) -> st.SearchStrategy[bytes]:
    """`base` with 1–4 flips, cuts, insertions, deletions or overwrites anywhere."""
    op = st.tuples(st.sampled_from(OPS), st.integers(0, max(0, len(base))), st.binary(min_size=1, max_size=24))
    return st.lists(op, min_size=1, max_size=4).map(lambda ops: _apply(base, ops))


def broken_bytes(*valid: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, or a mutation of one of the valid files."""
    return st.one_of(st.binary(max_size=512), *[mutated(v) for v in valid])


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),  # torch flushes denormals here
    st.text(max_size=12),
    st.sampled_from(["../../x.png", "x" * 300, "no", "NaN", "W+", "F99", "", "sam", "\0", "/etc/passwd"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            out += _paths(v, (*prefix, i))
    return out


def _plant(doc: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if delete and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return doc


def mutated_json(doc: Any) -> st.SearchStrategy[str]:
    """`doc` with 1–3 values (anywhere, the root included) replaced by random JSON or deleted,
    as text (NaN/Infinity written as JS literals, as a hand-edited file may hold them)."""
    paths = _paths(doc)

    @st.composite
    def build(draw: st.DrawFn) -> str:
        out = doc
        for _ in range(draw(st.integers(1, 3))):
            here = _paths(out) if out is not doc else paths
            path = draw(st.sampled_from(here))
            out = _plant(out, path, draw(json_values), draw(st.booleans()))
        return json.dumps(out)

    return build()
