"""Reading an image from whatever a caller has: a path, bytes, a numpy array or a PIL image, into BGR uint8.

Files are checked before decoding: missing, empty, truncated, not an image, or larger than a pixel limit read
from the header (PNG, JPEG, GIF, BMP, WebP), so that a hostile 30000x30000 PNG never reaches the decoder.
Decoding uses ``cv2.IMREAD_COLOR``, which applies the EXIF orientation, expands gray and drops alpha.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ferkit.errors import ImageError

MAX_PIXELS = 50_000_000  # default limit: 50 megapixels
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm")
ImageInput = str | Path | bytes | bytearray | memoryview | np.ndarray | Any
Color = Literal["bgr", "rgb"]


# ---- header sizes --------------------------------------------------------------------------------------------


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image header without decoding, or None for formats not parsed here."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_size(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            kind = data[12:16]
            if kind == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if kind == b"VP8L":
                b = int.from_bytes(data[21:25], "little")
                return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
            if kind == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
    except struct.error:
        return None
    return None


def is_truncated(data: bytes) -> bool:
    """True for a JPEG without its end marker or a PNG without its IEND chunk (decoders often accept both)."""
    if data[:3] == b"\xff\xd8\xff":
        return b"\xff\xd9" not in data[-64:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


# ---- decoding ------------------------------------------------------------------------------------------------


def decode(data: bytes, where: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Image bytes -> (H, W, 3) BGR uint8, EXIF orientation applied.

    Raises:
        ImageError: empty, truncated, undecodable, or above ``max_pixels``; the message names ``where``.
    """
    if not data:
        raise ImageError(f"{where}: empty file (0 bytes)")
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageError(f"{where}: {size[0]}x{size[1]} image is above the {max_pixels:,} pixel limit")
    if is_truncated(data):
        raise ImageError(f"{where}: truncated image (no end marker)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"{where}: not a decodable image (corrupt or unsupported format)")
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(f"{where}: {img.shape[1]}x{img.shape[0]} image is above the {max_pixels:,} pixel limit")
    return img


def read_file(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file to BGR uint8; every failure is an ``ImageError`` naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror or e})") from None
    return decode(data, str(path), max_pixels)


def from_array(a: np.ndarray, color: Color = "bgr", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An array of any common layout -> (H, W, 3) BGR uint8.

    Gray (H, W) or (H, W, 1), colour (H, W, 3) and with alpha (H, W, 4), in ``color`` channel order; uint8,
    16-bit (scaled by 1/257), float in [0, 1], or other integers clipped to 0..255.
    """
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise ImageError(f"array of shape {a.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if a.shape[0] * a.shape[1] > max_pixels:
        raise ImageError(f"array of shape {a.shape}: above the {max_pixels:,} pixel limit")
    if a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif a.dtype.kind == "f":
        a = np.clip(np.nan_to_num(a) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_RGBA2BGR if color == "rgb" else cv2.COLOR_BGRA2BGR)
    if color == "rgb":
        return cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(a)


def load_image(image: ImageInput, color: Color = "bgr", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Anything image-like -> (H, W, 3) BGR uint8.

    Args:
        image: a file path, encoded bytes, a numpy array (see ``from_array``), or a PIL image (always RGB).
        color: channel order of an array: ``bgr`` (OpenCV, the default) or ``rgb``.
        max_pixels: refuse larger images.

    Raises:
        ImageError: unreadable input, naming the file.
    """
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', not {color!r}")
    if isinstance(image, str | os.PathLike):
        return read_file(os.fspath(image), max_pixels)
    if isinstance(image, bytes | bytearray | memoryview):
        return decode(bytes(image), "<bytes>", max_pixels)
    if isinstance(image, np.ndarray):
        return from_array(image, color, max_pixels)
    if type(image).__module__.startswith("PIL."):
        return from_array(np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB")), "rgb", max_pixels)
    raise ImageError(f"cannot read an image from a {type(image).__name__}")
