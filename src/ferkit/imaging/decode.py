"""Reading an image from whatever a caller has: a path, bytes, a numpy array or a PIL image, into BGR uint8.

Encoded images are checked before decoding (``ferkit.imaging.formats``): an unsupported format, a structure that
does not fit the file (cut short, corrupt, a chunk longer than the file), or more pixels than a limit declared in
the header are refused without the decoder seeing the bytes, so that a hostile 30000x30000 TIFF or a 69-byte PNG
declaring a 2 GB chunk costs nothing. A JPEG cut short and closed with an end marker, which decoders fill with
grey, is refused too. Decoding uses ``cv2.IMREAD_COLOR``, which applies the EXIF orientation, expands gray and
drops alpha. Every failure is an ``ImageError`` that names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ferkit.errors import ImageError, ImageTooLargeError
from ferkit.imaging.formats import ImageHeader, check

MAX_PIXELS = 50_000_000  # default limit: 50 megapixels
MAX_FILE_BYTES = 256 * 2**20  # files larger than this are not read into memory
IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".pgm",
    ".ppm",
    ".pbm",
    ".pnm",
)
ImageInput = str | Path | bytes | bytearray | memoryview | np.ndarray | Any
Color = Literal["bgr", "rgb"]


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a well-formed image of an accepted format, without decoding; else None."""
    try:
        h = check(data)
    except ImageError:
        return None
    return h.width, h.height


# ---- decoding ------------------------------------------------------------------------------------------------

_FILLER = bytes(range(0x10, 0xF0))  # entropy-coded bytes with no 0xFF (no marker)


def _imdecode(data: bytes, flags: int) -> np.ndarray | None:
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        return None


def _grey_filled(img: np.ndarray, data: bytes, header: ImageHeader, flags: int) -> bool:
    """True for a JPEG whose scan data ran out before its end (cut short, then closed with an end marker).

    libjpeg decodes missing data without an error: as flat grey (128) blocks in a sequential JPEG, as a blurred
    picture in a progressive one. The file is decoded again with filler bytes before its end marker: a complete
    scan ignores them, a starved one decodes them and the picture changes. A sequential JPEG is decoded again only
    when one of its corners (where its last block lands, by EXIF orientation) is flat 128.
    """
    corners = (img[-8:, -8:], img[:8, :8], img[:8, -8:], img[-8:, :8])
    if not header.progressive and not any((c == 128).all() for c in corners):
        return False
    again = _imdecode(data[: header.end] + _FILLER + data[header.end :], flags)
    return again is None or again.shape != img.shape or not np.array_equal(again, img)


def decode(data: bytes, where: str = "<bytes>", max_pixels: int = MAX_PIXELS, gray: bool = False) -> np.ndarray:
    """Image bytes -> (H, W, 3) BGR uint8 (or (H, W) gray with ``gray``), EXIF orientation applied.

    Raises:
        UnsupportedImageError: not an image in an accepted format (see ``ferkit.imaging.formats``).
        ImageTooLargeError: more than ``max_pixels`` pixels.
        ImageError: empty, truncated or corrupt; every message names ``where``.
    """
    if not data:
        raise ImageError("empty file (0 bytes)", where)
    try:
        header = check(data)
    except ImageError as e:
        raise type(e)(e.reason, where) from None
    if header.width * header.height > max_pixels:
        raise ImageTooLargeError(f"{header.width}x{header.height} image is above the {max_pixels:,} pixel limit", where)
    flags = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    img = _imdecode(data, flags)
    if img is None:
        raise ImageError(f"corrupt {header.format.upper()}: the decoder cannot read it", where)
    if img.shape[0] * img.shape[1] > max_pixels:  # a header that lied
        raise ImageTooLargeError(f"{img.shape[1]}x{img.shape[0]} image is above the {max_pixels:,} pixel limit", where)
    if header.format == "jpeg" and _grey_filled(img, data, header, flags):
        raise ImageError("truncated JPEG: its image data ends early (the missing part would be grey or blurred)", where)
    return img


def read_file(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file to BGR uint8; every failure is an ``ImageError`` naming the file."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO or a device would block or stream
            raise ImageError("not a regular file (a pipe or a device)", str(path))
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise ImageTooLargeError(
                f"{path.stat().st_size:,} bytes; files over {MAX_FILE_BYTES:,} are not read", str(path)
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError("no such file", str(path)) from None
    except IsADirectoryError:
        raise ImageError("is a folder, not an image", str(path)) from None
    except OSError as e:
        raise ImageError(f"cannot read ({e.strerror or e})", str(path)) from None
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
