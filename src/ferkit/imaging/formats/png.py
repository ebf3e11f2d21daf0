"""PNG: chunk lengths, CRCs and the end chunk, checked against the file's length."""

from __future__ import annotations

import struct
import zlib

from ferkit.imaging.formats.header import ImageHeader, corrupt, short, sized

MAX_PNG_CHUNKS = 100_000  # a 100 MB PNG written in 8 KB IDAT chunks has 12,000

_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


def check_png(d: bytes) -> ImageHeader:
    n, i, size, idat, chunks = len(d), 8, None, False, 0
    while True:
        if i + 8 > n:
            raise short("PNG", "no IEND chunk")
        length, kind = struct.unpack(">I4s", d[i : i + 8])
        name = kind.decode("latin-1")
        if not kind.isalpha():
            raise corrupt("PNG", f"chunk at byte {i} has an invalid type {kind!r}")
        if length > 0x7FFFFFFF or i + 12 + length > n:
            raise short("PNG", f"chunk {name} at byte {i} declares {length:,} bytes, past the end of the file")
        (crc,) = struct.unpack(">I", d[i + 8 + length : i + 12 + length])
        if zlib.crc32(d[i + 4 : i + 8 + length]) != crc:
            raise corrupt("PNG", f"chunk {name} at byte {i} fails its CRC check")
        body = d[i + 8 : i + 8 + length]
        if size is None and kind != b"IHDR":
            raise corrupt("PNG", "the first chunk is not IHDR")
        if kind == b"IHDR":
            if size is not None or length != 13:
                raise corrupt("PNG", "bad IHDR chunk")
            w, h, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
            if depth not in _PNG_DEPTHS.get(color, ()) or comp or filt or interlace > 1:
                raise corrupt("PNG", f"IHDR declares an invalid bit depth {depth} or colour type {color}")
            if w > 0x7FFFFFFF or h > 0x7FFFFFFF:
                raise corrupt("PNG", f"IHDR declares {w}x{h}")
            size = (w, h)
        elif kind == b"IDAT":
            idat = True
        elif kind == b"fcTL" and length == 26:  # an APNG frame must lie inside the image
            fw, fh, fx, fy = struct.unpack(">IIII", body[4:20])
            if fw < 1 or fh < 1 or fx + fw > size[0] or fy + fh > size[1]:
                raise corrupt("PNG", f"animation frame {fw}x{fh} at ({fx}, {fy}) outside the {size[0]}x{size[1]} image")
        elif kind == b"IEND":
            if not idat:
                raise corrupt("PNG", "no image data (IDAT chunk)")
            return sized("PNG", *size)
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise corrupt("PNG", f"more than {MAX_PNG_CHUNKS:,} chunks")
        i += 12 + length
