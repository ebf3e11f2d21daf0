"""Uploaded images: decoded by ``ferkit.imaging`` with the checks every ferkit input gets (format, structure
against the file's size, declared pixels against the limit, a file cut short), and annotated images encoded."""

from __future__ import annotations

import cv2
import numpy as np

from ferkit.errors import ImageError, ImageTooLargeError, UnsupportedImageError
from ferkit.imaging import decode


def decode_image(data: bytes, max_pixels: int, where: str = "the image") -> np.ndarray:
    """Decode an uploaded image to a (H, W, 3) uint8 BGR array, refusing bombs and broken files.

    Raises:
        UnsupportedImageError: not an image in an accepted format.
        ImageTooLargeError: more than ``max_pixels`` pixels declared.
        ImageError: empty, truncated or corrupt.
    """
    return decode(data, where, max_pixels)


def encode_image(image: np.ndarray, fmt: str = "jpeg") -> bytes:
    """Encode a BGR image as JPEG (quality 90) or PNG."""
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]) if fmt == "jpeg" else (".png", [])
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise ImageError(f"could not encode the image as {fmt}")
    return buf.tobytes()


__all__ = ["ImageTooLargeError", "UnsupportedImageError", "decode_image", "encode_image"]
