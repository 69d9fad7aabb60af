"""Photos from the wild: each bad file gives a message, never a traceback, and the window
stays usable (a good file opens right after)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from .helpers import drop_files


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path: Path) -> Path:
    """A valid PNG header claiming 20000 × 20000 pixels, a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b""))
    return path


def write(path: Path, array: np.ndarray, ext: str = ".png") -> Path:
    ok, buf = cv2.imencode(ext, array)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


BAD = {
    "corrupt": (lambda d: (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png") and d / "broken.png", "error"),
    "truncated": (lambda d: (d / "cut.jpg").write_bytes(write(d / "full.jpg", np.full((64, 64, 3), 128, np.uint8), ".jpg").read_bytes()[:200]) and d / "cut.jpg", "error"),
    "huge": (lambda d: huge_png(d / "huge.png"), "error"),
    "text": (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "error"),
}
ODD = {
    "16-bit": lambda d: write(d / "deep.png", (np.random.default_rng(0).random((80, 90, 3)) * 65535).astype(np.uint16)),
    "16-bit grey": lambda d: write(d / "deepgrey.png", (np.random.default_rng(0).random((80, 90)) * 65535).astype(np.uint16)),
    "greyscale": lambda d: write(d / "grey.png", np.tile(np.arange(90, dtype=np.uint8), (80, 1))),
    "rgba": lambda d: write(d / "alpha.png", np.dstack([np.full((80, 90, 3), 200, np.uint8), np.tile(np.arange(90, dtype=np.uint8) * 2, (80, 1))])),
    "cmyk jpeg": lambda d: _cmyk(d / "print.jpg"),
    "non-ascii path": lambda d: write(d / "フォト" / "voiture é.png", np.full((70, 70, 3), 90, np.uint8)),
}


def _cmyk(path: Path) -> Path:
    from PIL import Image

    Image.fromarray(np.full((60, 80, 3), (200, 40, 40), np.uint8)).convert("CMYK").save(path)
    return path


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_file_gives_message_and_window_stays_usable(window, qtbot, tmp_path, sample_png, kind):  # noqa: ANN001
    path = BAD[kind][0](tmp_path)
    drop_files(window, path)
    assert window.session.source is None
    assert window.message_bar.isVisible() and window.message_bar.kind == "error"
    assert path.name in window.message_bar.text() or "too large" in window.message_bar.text()
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        assert window.open_path(sample_png)
    assert not window.message_bar.isVisible()


@pytest.mark.parametrize("kind", list(ODD))
def test_unusual_files_open_with_a_note(window, qtbot, tmp_path, kind):  # noqa: ANN001
    path = ODD[kind](tmp_path) if kind != "non-ascii path" else None
    if path is None:
        (tmp_path / "フォト").mkdir()
        path = ODD[kind](tmp_path)
    with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
        assert window.open_path(path), window.message_bar.text()
    s = window.session
    assert s.work.dtype == np.uint8 and s.work.shape == (*s.frame_size, 3)
    if kind != "non-ascii path":
        assert window.message_bar.isVisible() and window.message_bar.kind == "info"
    assert path.name in window.windowTitle()
