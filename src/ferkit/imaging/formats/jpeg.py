"""JPEG: segments, scans and the end marker, checked against the file's length."""

from __future__ import annotations

import re
import struct

from ferkit.errors import UnsupportedImageError
from ferkit.imaging.formats.header import ImageHeader, corrupt, short, sized

MAX_JPEG_SCANS = 64  # a progressive JPEG has about 10; each scan costs a pass over every block

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # the end of entropy-coded data: a marker other than RSTn


def check_jpeg(d: bytes) -> ImageHeader:
    n, i, size, scans, progressive = len(d), 2, None, 0, False
    while True:
        if i + 2 > n:
            raise short("JPEG", "no end-of-image marker")
        if d[i] != 0xFF:
            raise corrupt("JPEG", f"no marker at byte {i}")
        m = d[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m == 0xD9:  # end of image
            if size is None or scans == 0:
                raise corrupt("JPEG", "ends before any image data")
            return sized("JPEG", *size, end=i, progressive=progressive)
        if m == 0x01 or 0xD0 <= m <= 0xD8:  # markers without a length
            if m == 0xD8:
                raise corrupt("JPEG", f"a second start-of-image marker at byte {i}")
            i += 2
            continue
        if i + 4 > n:
            raise short("JPEG", "ends inside a marker segment")
        (length,) = struct.unpack(">H", d[i + 2 : i + 4])
        if length < 2:
            raise corrupt("JPEG", f"marker segment at byte {i} declares {length} bytes")
        if i + 2 + length > n:
            raise short("JPEG", f"marker segment at byte {i} declares {length} bytes, past the end of the file")
        if m in _SOF:
            if size is not None:
                raise corrupt("JPEG", "two frame headers")
            if length < 8:
                raise corrupt("JPEG", "frame header too short")
            h, w, ncomp = struct.unpack(">HHB", d[i + 5 : i + 10])
            if h == 0:
                raise UnsupportedImageError("JPEG with its height in a DNL marker is not supported")
            if not 1 <= ncomp <= 4 or length != 8 + 3 * ncomp:
                raise corrupt("JPEG", f"frame header with {ncomp} components")
            size, progressive = (w, h), m in (0xC2, 0xC6, 0xCA, 0xCE)
        i += 2 + length
        if m == 0xDA:  # start of scan: entropy-coded data runs to the next marker
            if size is None:
                raise corrupt("JPEG", "image data before the frame header")
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise corrupt("JPEG", f"more than {MAX_JPEG_SCANS} scans")
            found = _MARKER.search(d, i)
            if found is None:
                raise short("JPEG", "no end-of-image marker")
            i = found.start()
