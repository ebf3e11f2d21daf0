"""Checking and decoding uploaded images before any pixel is allocated.

The image format and size are read from the file header first: only JPEG, PNG, BMP and WebP are accepted, a file
whose declared width * height is over the limit is refused before decoding (a "decompression bomb" declares
20000x20000 in a few kilobytes), and a file cut short is refused instead of decoded into a half-grey picture.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from ferkit.errors import ImageError


class UnsupportedImageError(ImageError):
    """The bytes are not an image in an accepted format (HTTP 415)."""


class ImageTooLargeError(ImageError):
    """The image declares more pixels than allowed (HTTP 422)."""


@dataclass(frozen=True)
class ImageHeader:
    """What the header of an encoded image says.

    Attributes:
        format: ``"jpeg"``, ``"png"``, ``"bmp"`` or ``"webp"``.
        width: declared width in pixels.
        height: declared height in pixels.
    """

    format: str
    width: int
    height: int


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(data: bytes) -> ImageHeader:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ImageError("corrupt JPEG: bad marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers carry no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            if data.rfind(b"\xff\xd9") < i:
                raise ImageError("truncated JPEG: no end-of-image marker")
            return ImageHeader("jpeg", width, height)
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            break
        i += 2 + length
    raise ImageError("truncated or corrupt JPEG: no frame header")


def _png_header(data: bytes) -> ImageHeader:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageError("truncated or corrupt PNG: no IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    if b"IEND" not in data[-64:]:
        raise ImageError("truncated PNG: no IEND chunk")
    return ImageHeader("png", width, height)


def _bmp_header(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise ImageError("truncated BMP header")
    (size,) = struct.unpack("<I", data[2:6])
    width, height = struct.unpack("<ii", data[18:26])
    if size > len(data):
        raise ImageError("truncated BMP: file shorter than its declared size")
    return ImageHeader("bmp", abs(width), abs(height))


def _webp_header(data: bytes) -> ImageHeader:
    (size,) = struct.unpack("<I", data[4:8])
    if size + 8 > len(data) or len(data) < 30:
        raise ImageError("truncated WebP: file shorter than its declared size")
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    elif chunk == b"VP8 ":
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", data[26:30]))
    else:
        raise ImageError("corrupt WebP: unknown chunk")
    return ImageHeader("webp", width, height)


def read_header(data: bytes) -> ImageHeader:
    """Format and declared size of an encoded image.

    Raises:
        UnsupportedImageError: not a JPEG, PNG, BMP or WebP file.
        ImageError: a header that is cut short or corrupt, or a file that ends early.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_header(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_header(data)
    if data.startswith(b"BM"):
        return _bmp_header(data)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_header(data)
    raise UnsupportedImageError("not an image in a supported format (JPEG, PNG, BMP, WebP)")


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode an uploaded image to a (H, W, 3) uint8 BGR array, refusing bombs and broken files.

    Raises:
        UnsupportedImageError: not an image in an accepted format.
        ImageTooLargeError: more than ``max_pixels`` pixels declared.
        ImageError: empty, truncated or corrupt.
    """
    if not data:
        raise ImageError("empty image")
    header = read_header(data)
    if header.width < 1 or header.height < 1:
        raise ImageError(f"image declares an empty size {header.width}x{header.height}")
    if header.width * header.height > max_pixels:
        raise ImageTooLargeError(
            f"image is {header.width}x{header.height} = {header.width * header.height} pixels; "
            f"the limit is {max_pixels}"
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"corrupt {header.format.upper()} image: it cannot be decoded")
    if image.shape[0] * image.shape[1] > max_pixels:  # a header that lied
        raise ImageTooLargeError(f"decoded image has more than {max_pixels} pixels")
    return image


def encode_image(image: np.ndarray, fmt: str = "jpeg") -> bytes:
    """Encode a BGR image as JPEG (quality 90) or PNG."""
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]) if fmt == "jpeg" else (".png", [])
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise ImageError(f"could not encode the image as {fmt}")
    return buf.tobytes()
