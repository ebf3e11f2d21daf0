"""BMP, WebP and PNM (PBM/PGM/PPM): headers and pixel data sizes, checked against the file's length."""

from __future__ import annotations

import re
import struct

from ferkit.errors import UnsupportedImageError
from ferkit.imaging.formats.header import ImageHeader, corrupt, short, sized


def check_bmp(d: bytes) -> ImageHeader:
    n = len(d)
    if n < 26:
        raise short("BMP", "no header")
    declared, offset, dib = struct.unpack("<I4xII", d[2:18])
    if declared > n:
        raise short("BMP", f"declares {declared:,} bytes; the file has {n:,}")
    if dib == 12:
        w, h, planes, bpp = struct.unpack("<HHHH", d[18:26])
        comp = 0
    elif dib in (40, 52, 56, 64, 108, 124) and n >= 54:
        w, h, planes, bpp, comp = struct.unpack("<iiHHI", d[18:34])
    else:
        raise corrupt("BMP", f"unknown header size {dib}")
    if planes != 1 or bpp not in (1, 4, 8, 16, 24, 32):
        raise corrupt("BMP", f"{planes} planes of {bpp} bits")
    if comp not in (0, 1, 2, 3, 6):
        raise UnsupportedImageError(f"BMP compression {comp} is not supported")
    w, h = w, abs(h)
    if offset > n:
        raise short("BMP", "pixel data starts past the end of the file")
    if comp in (0, 3, 6) and w > 0 and offset + (w * bpp + 31) // 32 * 4 * h > n:
        raise short("BMP", f"the file is shorter than its {w}x{h} pixels")
    return sized("BMP", w, h)


def check_webp(d: bytes) -> ImageHeader:
    (riff,) = struct.unpack("<I", d[4:8])
    end = 8 + riff
    if end > len(d):
        raise short("WebP", f"declares {end:,} bytes; the file has {len(d):,}")
    i, size, canvas, image = 12, None, None, False
    while i + 8 <= end:
        kind, length = d[i : i + 4], struct.unpack("<I", d[i + 4 : i + 8])[0]
        body = d[i + 8 : i + 8 + length]
        if i + 8 + length > end:
            raise short("WebP", f"chunk {kind!r} at byte {i} declares {length:,} bytes, past the end")
        if kind == b"VP8 ":
            if length < 10 or body[3:6] != b"\x9d\x01\x2a":
                raise corrupt("WebP", "bad VP8 frame header")
            fw, fh = (v & 0x3FFF for v in struct.unpack("<HH", body[6:10]))
            size, image = size or (fw, fh), True
        elif kind == b"VP8L":
            if length < 5 or body[0] != 0x2F:
                raise corrupt("WebP", "bad VP8L header")
            bits = int.from_bytes(body[1:5], "little")
            size, image = size or (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)), True
        elif kind == b"VP8X":
            if length < 10 or i != 12:
                raise corrupt("WebP", "bad VP8X header")
            canvas = (1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little"))
            size = canvas
        elif kind == b"ANMF":
            if canvas is None or length < 16:
                raise corrupt("WebP", "animation frame without a canvas")
            x, y = 2 * int.from_bytes(body[0:3], "little"), 2 * int.from_bytes(body[3:6], "little")
            fw, fh = 1 + int.from_bytes(body[6:9], "little"), 1 + int.from_bytes(body[9:12], "little")
            if x + fw > canvas[0] or y + fh > canvas[1]:
                raise corrupt("WebP", f"frame {fw}x{fh} at ({x}, {y}) outside the {canvas[0]}x{canvas[1]} canvas")
            image = True
        elif i == 12:
            raise corrupt("WebP", f"unknown first chunk {kind!r}")
        i += 8 + length + (length & 1)
    if not image or size is None:
        raise corrupt("WebP", "no image data")
    return sized("WebP", *size)


_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n)*(\d+)")


def check_pnm(d: bytes) -> ImageHeader:
    kind, i, values = d[1] - ord("0"), 2, []
    for _ in range(2 if kind in (1, 4) else 3):
        m = _PNM_TOKEN.match(d, i)
        if m is None or m.end() - i > 4096:
            raise corrupt("PNM", "bad header")
        values.append(int(m.group(1)))
        i = m.end()
    w, h, maxval = values[0], values[1], values[2] if len(values) > 2 else 1
    if not 1 <= maxval <= 65535:
        raise corrupt("PNM", f"maximum value {maxval}")
    channels = 3 if kind in (3, 6) else 1
    left = len(d) - i - 1  # after the single whitespace that ends the header
    if kind == 4:
        need = (w + 7) // 8 * h
    elif kind in (5, 6):
        need = w * h * channels * (2 if maxval > 255 else 1)
    else:  # plain (ASCII) samples: at least one character each, with separators except in P1
        need = w * h if kind == 1 else 2 * w * h * channels - 1
    if left < need:
        raise short("PNM", f"{w}x{h} pixels need {need:,} bytes of data; the file has {max(left, 0):,}")
    return sized("PNM", w, h)
