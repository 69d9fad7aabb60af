"""Photos in and out, for every caller (window, CLI, batch, training): one reader, one way of
fitting a photo into the generator's frame, one atomic file writer (files are hashed by
`sam_editor.weights.sha256_file`).

* `read_image` decodes any common photo (EXIF orientation applied, 16-bit, CMYK, grey,
  transparency, huge JPEGs) to 8-bit RGB, or returns a `Problem` the window can show as is;
* `letterbox` fits the *whole* photo into the generator's frame keeping its aspect ratio and
  says where it went (`Placement`): nothing is cropped, and the frame pixels outside the photo
  are known, so losses, latent maps and metrics can leave them out;
* `encode_png` / `write_png` write PNGs with text chunks (the edit recipe travels inside the
  exported file); `png_text` reads them back.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .util import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_PIXELS = 64_000_000  # decoded at full size up to this (8000 × 8000); JPEGs above it load reduced


@dataclasses.dataclass(frozen=True)
class Problem:
    """An error as a value: a short title and a sentence for the user."""

    title: str
    message: str

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


# ----------------------------------------------------------------------------------- reading
@dataclasses.dataclass(frozen=True)
class SourceImage:
    """A decoded photo. rgb: (H, W, 3) uint8 (possibly reduced on load); size: the file's (W, H)."""

    rgb: np.ndarray
    path: Path | None
    size: tuple[int, int]
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "untitled"


def read_image(path: str | os.PathLike) -> SourceImage | Problem:
    """Decode any common photo to 8-bit RGB, upright (EXIF orientation applied), saying what
    was converted on the way."""
    from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

    # PIL refuses a PNG whose text chunks inflate past 1 MB as if the image were damaged; a
    # long comment is no reason to refuse a photo (the limit still stops text bombs)
    PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, MAX_TEXT_CHUNK)
    PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, 2 * MAX_TEXT_CHUNK)
    path = Path(path)
    name = path.name
    if not path.is_file():
        return Problem("File not found", f"“{name}” does not exist or is not a file.")
    notes: list[str] = []
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                if im.format != "JPEG":
                    return Problem(
                        "Image too large",
                        f"“{name}” is {w} × {h} pixels ({w * h / 1e6:.0f} Mpx); the limit is "
                        f"{MAX_PIXELS / 1e6:.0f} Mpx. Scale it down in another program first.",
                    )
                im.draft("RGB", (w // 8, h // 8))  # JPEG decodes at 1/2…1/8 size directly
                notes.append(f"reduced to {im.size[0]} × {im.size[1]} while loading")
            raw = str(im.tile[0][3]) if im.tile else ""  # the file's pixel layout, e.g. 'RGB;16B'
            im.load()
            if "16" in raw and im.mode in ("RGB", "RGBA"):
                notes.append("16-bit image reduced to 8 bits")
            if im.format == "JPEG" and _jpeg_looks_truncated(path, w * h):
                notes.append("the file looks truncated (far less data than its size needs): part of the photo may be missing")
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb8(im, notes)
    except Image.DecompressionBombError:
        return Problem("Image too large", f"“{name}” claims a size over {MAX_PIXELS / 1e6:.0f} Mpx and was not opened.")
    except UnidentifiedImageError:
        return Problem("Not an image", f"“{name}” is not an image file this app can read (PNG, JPEG, TIFF, BMP, WebP).")
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        return Problem("Could not read the image", f"“{name}” is damaged or truncated ({exc}).")
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        return Problem("Image too small", f"“{name}” is only {rgb.shape[1]} × {rgb.shape[0]} pixels.")
    return SourceImage(np.ascontiguousarray(rgb), path, (w, h), tuple(notes))


def _jpeg_looks_truncated(path: Path, pixels: int) -> bool:
    """A JPEG shorter than any complete one of its size, or without its end marker. Even a
    flat progressive JPEG needs a bit per 8 × 8 block of its DC scan (pixels / 512 bytes); a
    file under a quarter of that cannot hold the whole photo (libjpeg then fills grey, silently)."""
    size = path.stat().st_size
    if size < pixels / 2048:
        return True
    with open(path, "rb") as f:
        f.seek(max(0, size - 4096))
        tail = f.read().rstrip(b"\0")
    return not tail.endswith(b"\xff\xd9")


def _to_rgb8(im: Any, notes: list[str]) -> np.ndarray:
    """PIL image of any mode → (H, W, 3) uint8."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if (mode.startswith("I;16") or a.max() > 255) else 255.0
        notes.append("16-bit image reduced to 8 bits" if top > 255 else "converted from integer grey")
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        return np.asarray(im.convert("RGB"))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        notes.append("transparency flattened onto white")
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3:] / 255.0
        return (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    if mode in ("L", "1"):
        notes.append("greyscale shown as RGB")
    return np.asarray(im.convert("RGB"))


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


# ----------------------------------------------------------------------------------- the frame
@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a photo of `photo` = (H, W) pixels sits in the generator's `frame` = (H, W): the box
    (top, left, height, width) in frame pixels. Outside the box the frame holds padding."""

    frame: tuple[int, int]
    box: tuple[int, int, int, int]
    photo: tuple[int, int]

    @classmethod
    def fit(cls, photo: tuple[int, int], frame: tuple[int, int]) -> Placement:
        """The largest box of the photo's aspect ratio that fits in the frame, centred."""
        ph, pw = int(photo[0]), int(photo[1])
        fh, fw = int(frame[0]), int(frame[1])
        s = min(fh / ph, fw / pw)
        h, w = min(fh, max(1, round(ph * s))), min(fw, max(1, round(pw * s)))
        return cls((fh, fw), ((fh - h) // 2, (fw - w) // 2, h, w), (ph, pw))

    @property
    def full(self) -> bool:
        """True when the photo fills the whole frame."""
        return self.box == (0, 0, *self.frame)

    def slices(self) -> tuple[slice, slice]:
        """Index a frame-sized array with this to get the photo's part."""
        t, left, h, w = self.box
        return slice(t, t + h), slice(left, left + w)

    def mask(self) -> np.ndarray:
        """(H, W) bool at the frame size: True on the photo."""
        m = np.zeros(self.frame, bool)
        m[self.slices()] = True
        return m

    def frame_to_photo(self, y: float, x: float) -> tuple[float, float]:
        """A frame point → the same point as fractions (0…1) of the photo's height and width."""
        t, left, h, w = self.box
        return (y - t) / h, (x - left) / w

    def photo_to_frame(self, fy: float, fx: float) -> tuple[float, float]:
        t, left, h, w = self.box
        return t + fy * h, left + fx * w

    def to_json(self) -> dict[str, list[int]]:
        return {"frame": list(self.frame), "box": list(self.box), "photo": list(self.photo)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Placement:
        return cls(tuple(int(v) for v in d["frame"]), tuple(int(v) for v in d["box"]), tuple(int(v) for v in d["photo"]))  # type: ignore[arg-type]


def letterbox(rgb: np.ndarray, frame: tuple[int, int]) -> tuple[np.ndarray, Placement]:
    """Fit the whole photo (H, W, 3) into `frame` (H, W) keeping its aspect ratio.

    → (frame image (H, W, 3) of rgb's dtype, `Placement`). The padding repeats the photo's edge
    pixels, so a segmenter or predictor sees no artificial border; nothing downstream treats
    padding as photo (see `Placement.mask`)."""
    place = Placement.fit(rgb.shape[:2], frame)
    t, left, h, w = place.box
    interp = cv2.INTER_AREA if h < rgb.shape[0] else cv2.INTER_CUBIC
    inner = rgb if (h, w) == rgb.shape[:2] else cv2.resize(rgb, (w, h), interpolation=interp)
    fh, fw = place.frame
    out = cv2.copyMakeBorder(np.ascontiguousarray(inner), t, fh - h - t, left, fw - w - left, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(out), place


# ----------------------------------------------------------------------------------- writing
_PNG_FAST = [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV ≥ 4.10; older ones keep libpng's adaptive filters
    _PNG_FAST += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]


def encode_png(rgb: np.ndarray, text: dict[str, str] | None = None, compression: int = 1) -> bytes:
    """RGB uint8 (H, W, 3) → PNG bytes with `text` as iTXt chunks (UTF-8, uncompressed).

    Compression 1 (zlib's fastest): a 12-Mpx photo encodes in about half the time of the default
    for files ~10 % larger; PNG stays lossless either way. Every row with the SUB filter and zlib's
    RLE strategy (`_PNG_FAST`): libpng's adaptive filter choice (five filters tried per row) and
    zlib's LZ77 search are most of the time, and on photos they buy nothing — a 12-Mpx noisy photo
    encodes in 0.56 s of CPU instead of 1.83 s at 27.9 instead of 28.0 MB; flat renders and
    smooth photos come out smaller too (measured, issue 29)."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, compression, *_PNG_FAST]
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError("PNG encoding failed")
    data = buf.tobytes()
    if not text:
        return data
    chunks = b"".join(_png_chunk(b"iTXt", k.encode("latin-1") + b"\0\0\0\0\0" + v.encode("utf-8")) for k, v in text.items())
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return data[:end_of_ihdr] + chunks + data[end_of_ihdr:]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def write_png(path: str | os.PathLike, rgb: np.ndarray, text: dict[str, str] | None = None) -> Path | Problem:
    """Write RGB uint8 as PNG (atomic, any path, non-ASCII included), with optional text chunks."""
    path = Path(path)
    try:
        data = encode_png(rgb, text)
    except ValueError:
        return Problem("Export failed", "The image could not be encoded as PNG.")
    try:
        atomic_write(path, data)
    except OSError as exc:
        return Problem("Export failed", f"Could not write “{path.name}”: {exc.strerror or exc}.")
    return path


MAX_TEXT_CHUNK = 64 * 1024 * 1024  # a text value we decompress at most (a recipe is < 1 MB)


def png_text_entries(path: str | os.PathLike, keys: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """Every text chunk (tEXt, zTXt, iTXt) of a PNG as (keyword, text), in file order — twice
    the same keyword appears twice. Chunks are walked here rather than through PIL, whose
    1 MB limit on decompressed text refuses valid PNGs carrying a large comment: only the
    `keys` asked for (all when None) are decompressed, up to `MAX_TEXT_CHUNK` each; a longer
    one is a ValueError, a longer one under another keyword is skipped. Not a PNG, a truncated
    chunk or a bad CRC: ValueError."""
    name = Path(path).name
    out: list[tuple[str, str]] = []
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            raise ValueError(f"{name} is not a PNG")
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{name} is truncated (no IEND chunk)")
            length, kind = struct.unpack(">I", head[:4])[0], head[4:]
            if kind == b"IEND":
                return out
            if kind not in (b"tEXt", b"zTXt", b"iTXt"):
                f.seek(length + 4, os.SEEK_CUR)
                continue
            if length > 2 * MAX_TEXT_CHUNK:
                raise ValueError(f"{name} has a text chunk of {length / 1e6:.0f} MB")
            data, crc = f.read(length), f.read(4)
            if len(data) < length or len(crc) < 4 or struct.unpack(">I", crc)[0] != zlib.crc32(kind + data) & 0xFFFFFFFF:
                raise ValueError(f"{name} is damaged (a {kind.decode()} chunk is cut short or fails its checksum)")
            entry = _text_chunk(kind, data, keys, name)
            if entry is not None:
                out.append(entry)


def _text_chunk(kind: bytes, data: bytes, keys: tuple[str, ...] | None, name: str) -> tuple[str, str] | None:
    key_bytes, sep, rest = data.partition(b"\0")
    if not sep:
        raise ValueError(f"{name} is damaged (a {kind.decode()} chunk has no keyword)")
    key = key_bytes.decode("latin-1")
    if keys is not None and key not in keys:
        return None
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        return key, _inflate(rest[1:], name).decode("latin-1")
    if len(rest) < 2:
        raise ValueError(f"{name} is damaged (a short iTXt chunk)")
    compressed, body = rest[0], rest[2:]
    _lang, _, body = body.partition(b"\0")
    _translated, _, body = body.partition(b"\0")
    raw = _inflate(body, name) if compressed else body
    return key, raw.decode("utf-8", errors="replace")


def _inflate(data: bytes, name: str) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_TEXT_CHUNK)
    except zlib.error as exc:
        raise ValueError(f"{name} is damaged (a compressed text chunk does not inflate: {exc})") from exc
    if d.unconsumed_tail:
        raise ValueError(f"{name} has a text chunk over {MAX_TEXT_CHUNK / 1e6:.0f} MB")
    return out


def png_text(path: str | os.PathLike) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG file; {} for a PNG without any (a keyword
    that appears twice: the last one; see `png_text_entries`)."""
    return dict(png_text_entries(path))
