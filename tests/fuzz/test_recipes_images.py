"""Issue 30, item 4: what used to be accepted silently is refused, what was refused wrongly
is read — recipes (strict types, finite numbers, one recipe per PNG, nesting limits) and the
PNG/JPEG readers."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam_editor.imageio import Problem, encode_png, read_image
from sam_editor.session.recipe import RECIPE_KEY, RecipeError, read_recipe, session_recipe

from .badfiles import busy_session


@pytest.fixture(scope="module")
def recipe_data(fuzz_bundle, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return json.loads(json.dumps(session_recipe(busy_session(fuzz_bundle, tmp_path_factory.mktemp("recipe")))))


def _json(tmp_path: Path, data: object, text: str | None = None) -> Path:
    p = tmp_path / "r.json"
    p.write_text(json.dumps(data) if text is None else text)
    return p


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with(chunks: list[bytes]) -> bytes:
    png = encode_png(np.full((16, 16, 3), 100, np.uint8))
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + b"".join(chunks) + png[end_of_ihdr:]


def _itxt(key: str, text: str) -> bytes:
    return _chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode())


def test_good_recipe_reads(recipe_data: dict, tmp_path: Path) -> None:
    r = read_recipe(_json(tmp_path, recipe_data))
    assert r.full_size is True and r.tau == pytest.approx(recipe_data["tau"]) and len(r.edits()) == 1


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d["export"].__setitem__("full_size", "no"), "export.full_size"),
        (lambda d: d.__setitem__("inversion", "x"), "inversion"),
        (lambda d: d.__setitem__("tau", "0.2"), "tau"),
        (lambda d: d["overrides"].append({"point": [0.5, 1.5], "space": "F4"}), "overrides"),
        (lambda d: d["overrides"].append({"point": [0.5, 0.5], "space": "F99"}), "space"),
        (lambda d: d["edits"][0].__setitem__("layers", [5, 2]), "layers"),
        (lambda d: d["edits"][0]["delta_w"].__setitem__("shape", [1, 99, 16]), "delta_w"),
        (lambda d: d.__setitem__("version", None), "version"),
        (lambda d: d.__setitem__("version", 99), "newer"),
    ],
)
def test_bad_recipe_fields_are_refused(recipe_data: dict, tmp_path: Path, change, words: str) -> None:  # noqa: ANN001
    data = json.loads(json.dumps(recipe_data))
    change(data)
    with pytest.raises(RecipeError, match=words):
        read_recipe(_json(tmp_path, data))


def test_nan_override_and_deep_nesting_are_refused(recipe_data: dict, tmp_path: Path) -> None:
    data = json.loads(json.dumps(recipe_data))
    data["overrides"] = [{"point": [0.25, 0.5], "space": "F4"}]
    text = json.dumps(data).replace("0.25", "NaN")
    with pytest.raises(RecipeError, match="NaN"):
        read_recipe(_json(tmp_path, None, text))
    deep = json.dumps(recipe_data).replace('"export": {', '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "export": {')
    assert "[[[[" in deep
    with pytest.raises(RecipeError, match="nested"):
        read_recipe(_json(tmp_path, None, deep))


def test_png_with_two_recipes_is_refused(recipe_data: dict, tmp_path: Path) -> None:
    text = json.dumps(recipe_data)
    one = tmp_path / "one.png"
    one.write_bytes(_png_with([_itxt(RECIPE_KEY, text)]))
    assert read_recipe(one).tau == pytest.approx(recipe_data["tau"])
    two = tmp_path / "two.png"
    two.write_bytes(_png_with([_itxt(RECIPE_KEY, text), _itxt(RECIPE_KEY, text.replace('"tau": ', '"tau": 0.1, "x": '))]))
    with pytest.raises(RecipeError, match="2 recipes"):
        read_recipe(two)


def test_png_with_a_large_compressed_comment_is_read(recipe_data: dict, tmp_path: Path) -> None:
    comment = ("lorem ipsum " * 400_000).encode()  # 4.8 MB: over PIL's 1 MB text limit
    ztxt = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(comment))
    p = tmp_path / "commented.png"
    p.write_bytes(_png_with([ztxt, _itxt(RECIPE_KEY, json.dumps(recipe_data))]))
    assert read_recipe(p).tau == pytest.approx(recipe_data["tau"])
    image = read_image(p)
    assert not isinstance(image, Problem) and image.rgb.shape == (16, 16, 3)


def test_truncated_jpeg_claiming_9000_px_is_not_opened_silently(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", np.full((64, 64, 3), 90, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 9000, 9000)  # the header now claims 9000 × 9000
    p = tmp_path / "claims.jpg"
    p.write_bytes(bytes(data))
    got = read_image(p)
    if isinstance(got, Problem):
        assert "truncated" in got.message or "damaged" in got.message
    else:
        assert any("truncated" in n or "incomplete" in n for n in got.notes), got.notes
