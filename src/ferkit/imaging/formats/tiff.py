"""TIFF: image directories, strips and tiles, checked against the file's length."""

from __future__ import annotations

import struct

from ferkit.errors import UnsupportedImageError
from ferkit.imaging.formats.header import ImageHeader, corrupt, short, sized

_TIFF_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TIFF_CODECS = {1, 2, 3, 4, 5, 7, 8, 32773, 32946, 34925, 50000, 50001}  # what libtiff decodes (not old JPEG)
MAX_TIFF_TILE = 1 << 24  # pixels in one tile; libtiff allocates a tile at a time


def check_tiff(d: bytes) -> ImageHeader:
    n, e = len(d), "<" if d[:2] == b"II" else ">"
    (magic,) = struct.unpack(e + "H", d[2:4])
    if magic == 43:
        raise UnsupportedImageError("BigTIFF is not supported")
    if n < 8:
        raise short("TIFF", "no header")
    (ifd,) = struct.unpack(e + "I", d[4:8])
    if ifd < 8 or ifd + 2 > n:
        raise short("TIFF", f"first directory at byte {ifd:,} is past the end of the file")
    (count,) = struct.unpack(e + "H", d[ifd : ifd + 2])
    if count == 0 or ifd + 2 + 12 * count > n:
        raise short("TIFF", f"directory of {count} entries runs past the end of the file")
    tags: dict[int, tuple[int, ...]] = {}
    for k in range(count):
        tag, kind, num = struct.unpack(e + "HHI", d[ifd + 2 + 12 * k : ifd + 10 + 12 * k])
        if kind not in _TIFF_TYPES:
            continue  # libtiff skips unknown types too
        nbytes = num * _TIFF_TYPES[kind]
        at = ifd + 10 + 12 * k
        if nbytes > 4:
            (at,) = struct.unpack(e + "I", d[at : at + 4])
            if at + nbytes > n:
                raise short("TIFF", f"tag {tag} points past the end of the file")
        if kind in (3, 4) and tag in (256, 257, 258, 259, 277, 278, 284, 273, 279, 322, 323, 324, 325):
            fmt = e + ("H" if kind == 3 else "I") * num
            tags[tag] = struct.unpack(fmt, d[at : at + nbytes])
    if 256 not in tags or 257 not in tags:
        raise corrupt("TIFF", "no image width or length")
    w, h = tags[256][0], tags[257][0]
    spp = tags.get(277, (1,))[0]
    if not 1 <= spp <= 8 or any(b not in (1, 2, 4, 8, 16, 32, 64) for b in tags.get(258, (1,))):
        raise corrupt("TIFF", f"{spp} samples of {tags.get(258)} bits per pixel")
    codec = tags.get(259, (1,))[0]
    if codec not in _TIFF_CODECS:
        raise UnsupportedImageError(f"TIFF compression {codec} is not supported")
    if 322 in tags or 323 in tags:  # tiled
        tw, th = tags.get(322, (0,))[0], tags.get(323, (0,))[0]
        if tw < 1 or th < 1 or tw * th > MAX_TIFF_TILE:
            raise corrupt("TIFF", f"tiles of {tw}x{th}")
        offsets, sizes = tags.get(324, ()), tags.get(325, ())
    else:
        offsets, sizes = tags.get(273, ()), tags.get(279, ())
    if not offsets or len(offsets) != len(sizes):
        raise corrupt("TIFF", f"{len(offsets)} data offsets and {len(sizes)} byte counts")
    if max(o + s for o, s in zip(offsets, sizes, strict=True)) > n:
        raise short("TIFF", "image data past the end of the file")
    return sized("TIFF", w, h)
