"""GIF: the block chain of every frame, checked against the file's length."""

from __future__ import annotations

import struct

from ferkit.imaging.formats.header import ImageHeader, corrupt, short, sized


def _gif_blocks(d: bytes, i: int) -> int:
    """The offset after a chain of data sub-blocks starting at ``i``."""
    n = len(d)
    while True:
        if i >= n:
            raise short("GIF", "ends inside a data block")
        k = d[i]
        i += 1 + k
        if k == 0:
            return i


def check_gif(d: bytes) -> ImageHeader:
    n = len(d)
    if n < 13:
        raise short("GIF", "no screen descriptor")
    w, h, packed = struct.unpack("<HHB", d[6:11])
    if w < 1 or h < 1:
        raise corrupt("GIF", f"declares an empty screen {w}x{h}")
    i, frames = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0), 0
    while True:
        if i >= n:
            raise short("GIF", "no trailer")
        b = d[i]
        if b == 0x3B:  # trailer
            if not frames:
                raise corrupt("GIF", "no image")
            return sized("GIF", w, h)
        if b == 0x21:  # extension: label, then sub-blocks
            i = _gif_blocks(d, i + 2)
        elif b == 0x2C:  # image descriptor
            if i + 11 > n:
                raise short("GIF", "ends inside an image descriptor")
            x, y, fw, fh, fpacked = struct.unpack("<HHHHB", d[i + 1 : i + 10])
            if fw < 1 or fh < 1 or x + fw > w or y + fh > h:
                raise corrupt("GIF", f"frame {fw}x{fh} at ({x}, {y}) outside the {w}x{h} screen")
            i += 10 + (3 << ((fpacked & 7) + 1) if fpacked & 0x80 else 0)
            if i >= n or not 1 <= d[i] <= 11:
                raise corrupt("GIF", "bad LZW code size")
            i = _gif_blocks(d, i + 1)
            frames += 1
        else:
            raise corrupt("GIF", f"unknown block 0x{b:02x} at byte {i}")
