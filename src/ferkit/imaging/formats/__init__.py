"""What an encoded image's own structure says, checked against the file's size before any decoder sees it.

``check(data)`` names the format and the declared size, and refuses a file whose structure cannot be right: a
chunk, segment, strip or frame that points past the end of the file, a PNG chunk whose CRC fails, a missing end
marker (a file cut short), or a size of zero. Decoders trust such fields: a 69-byte PNG whose IDAT declares
2 GB makes libpng allocate it, a TIFF declaring 65535 x 65535 makes OpenCV raise a raw ``cv2.error``.
After ``check`` a decoder allocates at most what the declared width x height needs, which the caller limits.

Accepted: JPEG, PNG, GIF, BMP, WebP, TIFF, PNM (PBM/PGM/PPM). Anything else is ``UnsupportedImageError``: OpenCV
can decode more (OpenEXR, JPEG 2000, Radiance HDR, Sun raster, AVIF), but hostile input should meet only
decoders whose structure is checked here.
"""

from __future__ import annotations

import struct

from ferkit.errors import UnsupportedImageError
from ferkit.imaging.formats.gif import check_gif
from ferkit.imaging.formats.header import ImageHeader, short
from ferkit.imaging.formats.jpeg import check_jpeg
from ferkit.imaging.formats.png import check_png
from ferkit.imaging.formats.simple import check_bmp, check_pnm, check_webp
from ferkit.imaging.formats.tiff import check_tiff

__all__ = ["FORMATS", "ImageHeader", "check", "sniff"]

FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF", "PNM")


def sniff(data: bytes) -> str | None:
    """The format's name from the first bytes, or None when it is not one of ``FORMATS``."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(data) > 2 and data[:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return "pnm"
    return None


_CHECKS = {
    "jpeg": check_jpeg,
    "png": check_png,
    "gif": check_gif,
    "bmp": check_bmp,
    "webp": check_webp,
    "tiff": check_tiff,
    "pnm": check_pnm,
}


def check(data: bytes) -> ImageHeader:
    """The format and declared size of an encoded image whose structure fits its length.

    Raises:
        UnsupportedImageError: not one of ``FORMATS``, or a variant of one that is not decoded here.
        ImageError: a structure that is cut short, corrupt, or declares an empty size.
    """
    fmt = sniff(data)
    if fmt is None:
        raise UnsupportedImageError(f"not an image in a supported format ({', '.join(FORMATS)})")
    try:
        return _CHECKS[fmt](data)
    except (struct.error, IndexError):
        raise short(fmt.upper() if fmt != "webp" else "WebP", "ends inside its header") from None
