"""What a checked file says about itself, and the errors a structure check raises."""

from __future__ import annotations

from dataclasses import dataclass

from ferkit.errors import ImageError


@dataclass(frozen=True)
class ImageHeader:
    """What a checked file says about itself.

    Attributes:
        format: ``jpeg``, ``png``, ``gif``, ``bmp``, ``webp``, ``tiff`` or ``pnm``.
        width: declared width in pixels.
        height: declared height in pixels.
        end: (JPEG) the offset of the end-of-image marker that closes the last scan; 0 otherwise.
        progressive: (JPEG) several scans refine the whole picture, so a file cut short is blurred, not grey.
    """

    format: str
    width: int
    height: int
    end: int = 0
    progressive: bool = False


def corrupt(fmt: str, why: str) -> ImageError:
    return ImageError(f"corrupt {fmt}: {why}")


def short(fmt: str, why: str) -> ImageError:
    return ImageError(f"truncated {fmt}: {why}")


def sized(fmt: str, w: int, h: int, **kw: int | bool) -> ImageHeader:
    if w < 1 or h < 1:
        raise corrupt(fmt, f"declares an empty size {w}x{h}")
    return ImageHeader(fmt.lower(), w, h, **kw)
