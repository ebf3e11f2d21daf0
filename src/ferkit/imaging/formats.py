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

import re
import struct
import zlib
from dataclasses import dataclass

from ferkit.errors import ImageError, UnsupportedImageError

FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF", "PNM")
MAX_JPEG_SCANS = 64  # a progressive JPEG has about 10; each scan costs a pass over every block
MAX_PNG_CHUNKS = 100_000  # a 100 MB PNG written in 8 KB IDAT chunks has 12,000


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


def _corrupt(fmt: str, why: str) -> ImageError:
    return ImageError(f"corrupt {fmt}: {why}")


def _short(fmt: str, why: str) -> ImageError:
    return ImageError(f"truncated {fmt}: {why}")


def _size(fmt: str, w: int, h: int, **kw: int | bool) -> ImageHeader:
    if w < 1 or h < 1:
        raise _corrupt(fmt, f"declares an empty size {w}x{h}")
    return ImageHeader(fmt.lower(), w, h, **kw)


# ---- JPEG -------------------------------------------------------------------------------------------------------

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # the end of entropy-coded data: a marker other than RSTn


def _jpeg(d: bytes) -> ImageHeader:
    n, i, size, scans, progressive = len(d), 2, None, 0, False
    while True:
        if i + 2 > n:
            raise _short("JPEG", "no end-of-image marker")
        if d[i] != 0xFF:
            raise _corrupt("JPEG", f"no marker at byte {i}")
        m = d[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m == 0xD9:  # end of image
            if size is None or scans == 0:
                raise _corrupt("JPEG", "ends before any image data")
            return _size("JPEG", *size, end=i, progressive=progressive)
        if m == 0x01 or 0xD0 <= m <= 0xD8:  # markers without a length
            if m == 0xD8:
                raise _corrupt("JPEG", f"a second start-of-image marker at byte {i}")
            i += 2
            continue
        if i + 4 > n:
            raise _short("JPEG", "ends inside a marker segment")
        (length,) = struct.unpack(">H", d[i + 2 : i + 4])
        if length < 2:
            raise _corrupt("JPEG", f"marker segment at byte {i} declares {length} bytes")
        if i + 2 + length > n:
            raise _short("JPEG", f"marker segment at byte {i} declares {length} bytes, past the end of the file")
        if m in _SOF:
            if size is not None:
                raise _corrupt("JPEG", "two frame headers")
            if length < 8:
                raise _corrupt("JPEG", "frame header too short")
            h, w, ncomp = struct.unpack(">HHB", d[i + 5 : i + 10])
            if h == 0:
                raise UnsupportedImageError("JPEG with its height in a DNL marker is not supported")
            if not 1 <= ncomp <= 4 or length != 8 + 3 * ncomp:
                raise _corrupt("JPEG", f"frame header with {ncomp} components")
            size, progressive = (w, h), m in (0xC2, 0xC6, 0xCA, 0xCE)
        i += 2 + length
        if m == 0xDA:  # start of scan: entropy-coded data runs to the next marker
            if size is None:
                raise _corrupt("JPEG", "image data before the frame header")
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise _corrupt("JPEG", f"more than {MAX_JPEG_SCANS} scans")
            found = _MARKER.search(d, i)
            if found is None:
                raise _short("JPEG", "no end-of-image marker")
            i = found.start()


# ---- PNG --------------------------------------------------------------------------------------------------------

_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


def _png(d: bytes) -> ImageHeader:
    n, i, size, idat, chunks = len(d), 8, None, False, 0
    while True:
        if i + 8 > n:
            raise _short("PNG", "no IEND chunk")
        length, kind = struct.unpack(">I4s", d[i : i + 8])
        name = kind.decode("latin-1")
        if not kind.isalpha():
            raise _corrupt("PNG", f"chunk at byte {i} has an invalid type {kind!r}")
        if length > 0x7FFFFFFF or i + 12 + length > n:
            raise _short("PNG", f"chunk {name} at byte {i} declares {length:,} bytes, past the end of the file")
        (crc,) = struct.unpack(">I", d[i + 8 + length : i + 12 + length])
        if zlib.crc32(d[i + 4 : i + 8 + length]) != crc:
            raise _corrupt("PNG", f"chunk {name} at byte {i} fails its CRC check")
        body = d[i + 8 : i + 8 + length]
        if size is None and kind != b"IHDR":
            raise _corrupt("PNG", "the first chunk is not IHDR")
        if kind == b"IHDR":
            if size is not None or length != 13:
                raise _corrupt("PNG", "bad IHDR chunk")
            w, h, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
            if depth not in _PNG_DEPTHS.get(color, ()) or comp or filt or interlace > 1:
                raise _corrupt("PNG", f"IHDR declares an invalid bit depth {depth} or colour type {color}")
            if w > 0x7FFFFFFF or h > 0x7FFFFFFF:
                raise _corrupt("PNG", f"IHDR declares {w}x{h}")
            size = (w, h)
        elif kind == b"IDAT":
            idat = True
        elif kind == b"fcTL" and length == 26:  # an APNG frame must lie inside the image
            fw, fh, fx, fy = struct.unpack(">IIII", body[4:20])
            if fw < 1 or fh < 1 or fx + fw > size[0] or fy + fh > size[1]:
                raise _corrupt(
                    "PNG", f"animation frame {fw}x{fh} at ({fx}, {fy}) outside the {size[0]}x{size[1]} image"
                )
        elif kind == b"IEND":
            if not idat:
                raise _corrupt("PNG", "no image data (IDAT chunk)")
            return _size("PNG", *size)
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise _corrupt("PNG", f"more than {MAX_PNG_CHUNKS:,} chunks")
        i += 12 + length


# ---- GIF --------------------------------------------------------------------------------------------------------


def _gif_blocks(d: bytes, i: int) -> int:
    """The offset after a chain of data sub-blocks starting at ``i``."""
    n = len(d)
    while True:
        if i >= n:
            raise _short("GIF", "ends inside a data block")
        k = d[i]
        i += 1 + k
        if k == 0:
            return i


def _gif(d: bytes) -> ImageHeader:
    n = len(d)
    if n < 13:
        raise _short("GIF", "no screen descriptor")
    w, h, packed = struct.unpack("<HHB", d[6:11])
    if w < 1 or h < 1:
        raise _corrupt("GIF", f"declares an empty screen {w}x{h}")
    i, frames = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0), 0
    while True:
        if i >= n:
            raise _short("GIF", "no trailer")
        b = d[i]
        if b == 0x3B:  # trailer
            if not frames:
                raise _corrupt("GIF", "no image")
            return _size("GIF", w, h)
        if b == 0x21:  # extension: label, then sub-blocks
            i = _gif_blocks(d, i + 2)
        elif b == 0x2C:  # image descriptor
            if i + 11 > n:
                raise _short("GIF", "ends inside an image descriptor")
            x, y, fw, fh, fpacked = struct.unpack("<HHHHB", d[i + 1 : i + 10])
            if fw < 1 or fh < 1 or x + fw > w or y + fh > h:
                raise _corrupt("GIF", f"frame {fw}x{fh} at ({x}, {y}) outside the {w}x{h} screen")
            i += 10 + (3 << ((fpacked & 7) + 1) if fpacked & 0x80 else 0)
            if i >= n or not 1 <= d[i] <= 11:
                raise _corrupt("GIF", "bad LZW code size")
            i = _gif_blocks(d, i + 1)
            frames += 1
        else:
            raise _corrupt("GIF", f"unknown block 0x{b:02x} at byte {i}")


# ---- BMP --------------------------------------------------------------------------------------------------------


def _bmp(d: bytes) -> ImageHeader:
    n = len(d)
    if n < 26:
        raise _short("BMP", "no header")
    declared, offset, dib = struct.unpack("<I4xII", d[2:18])
    if declared > n:
        raise _short("BMP", f"declares {declared:,} bytes; the file has {n:,}")
    if dib == 12:
        w, h, planes, bpp = struct.unpack("<HHHH", d[18:26])
        comp = 0
    elif dib in (40, 52, 56, 64, 108, 124) and n >= 54:
        w, h, planes, bpp, comp = struct.unpack("<iiHHI", d[18:34])
    else:
        raise _corrupt("BMP", f"unknown header size {dib}")
    if planes != 1 or bpp not in (1, 4, 8, 16, 24, 32):
        raise _corrupt("BMP", f"{planes} planes of {bpp} bits")
    if comp not in (0, 1, 2, 3, 6):
        raise UnsupportedImageError(f"BMP compression {comp} is not supported")
    w, h = w, abs(h)
    if offset > n:
        raise _short("BMP", "pixel data starts past the end of the file")
    if comp in (0, 3, 6) and w > 0 and offset + (w * bpp + 31) // 32 * 4 * h > n:
        raise _short("BMP", f"the file is shorter than its {w}x{h} pixels")
    return _size("BMP", w, h)


# ---- WebP -------------------------------------------------------------------------------------------------------


def _webp(d: bytes) -> ImageHeader:
    (riff,) = struct.unpack("<I", d[4:8])
    end = 8 + riff
    if end > len(d):
        raise _short("WebP", f"declares {end:,} bytes; the file has {len(d):,}")
    i, size, canvas, image = 12, None, None, False
    while i + 8 <= end:
        kind, length = d[i : i + 4], struct.unpack("<I", d[i + 4 : i + 8])[0]
        body = d[i + 8 : i + 8 + length]
        if i + 8 + length > end:
            raise _short("WebP", f"chunk {kind!r} at byte {i} declares {length:,} bytes, past the end")
        if kind == b"VP8 ":
            if length < 10 or body[3:6] != b"\x9d\x01\x2a":
                raise _corrupt("WebP", "bad VP8 frame header")
            fw, fh = (v & 0x3FFF for v in struct.unpack("<HH", body[6:10]))
            size, image = size or (fw, fh), True
        elif kind == b"VP8L":
            if length < 5 or body[0] != 0x2F:
                raise _corrupt("WebP", "bad VP8L header")
            bits = int.from_bytes(body[1:5], "little")
            size, image = size or (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)), True
        elif kind == b"VP8X":
            if length < 10 or i != 12:
                raise _corrupt("WebP", "bad VP8X header")
            canvas = (1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little"))
            size = canvas
        elif kind == b"ANMF":
            if canvas is None or length < 16:
                raise _corrupt("WebP", "animation frame without a canvas")
            x, y = 2 * int.from_bytes(body[0:3], "little"), 2 * int.from_bytes(body[3:6], "little")
            fw, fh = 1 + int.from_bytes(body[6:9], "little"), 1 + int.from_bytes(body[9:12], "little")
            if x + fw > canvas[0] or y + fh > canvas[1]:
                raise _corrupt("WebP", f"frame {fw}x{fh} at ({x}, {y}) outside the {canvas[0]}x{canvas[1]} canvas")
            image = True
        elif i == 12:
            raise _corrupt("WebP", f"unknown first chunk {kind!r}")
        i += 8 + length + (length & 1)
    if not image or size is None:
        raise _corrupt("WebP", "no image data")
    return _size("WebP", *size)


# ---- TIFF -------------------------------------------------------------------------------------------------------

_TIFF_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TIFF_CODECS = {1, 2, 3, 4, 5, 7, 8, 32773, 32946, 34925, 50000, 50001}  # what libtiff decodes (not old JPEG)
MAX_TIFF_TILE = 1 << 24  # pixels in one tile; libtiff allocates a tile at a time


def _tiff(d: bytes) -> ImageHeader:
    n, e = len(d), "<" if d[:2] == b"II" else ">"
    (magic,) = struct.unpack(e + "H", d[2:4])
    if magic == 43:
        raise UnsupportedImageError("BigTIFF is not supported")
    if n < 8:
        raise _short("TIFF", "no header")
    (ifd,) = struct.unpack(e + "I", d[4:8])
    if ifd < 8 or ifd + 2 > n:
        raise _short("TIFF", f"first directory at byte {ifd:,} is past the end of the file")
    (count,) = struct.unpack(e + "H", d[ifd : ifd + 2])
    if count == 0 or ifd + 2 + 12 * count > n:
        raise _short("TIFF", f"directory of {count} entries runs past the end of the file")
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
                raise _short("TIFF", f"tag {tag} points past the end of the file")
        if kind in (3, 4) and tag in (256, 257, 258, 259, 277, 278, 284, 273, 279, 322, 323, 324, 325):
            fmt = e + ("H" if kind == 3 else "I") * num
            tags[tag] = struct.unpack(fmt, d[at : at + nbytes])
    if 256 not in tags or 257 not in tags:
        raise _corrupt("TIFF", "no image width or length")
    w, h = tags[256][0], tags[257][0]
    spp = tags.get(277, (1,))[0]
    if not 1 <= spp <= 8 or any(b not in (1, 2, 4, 8, 16, 32, 64) for b in tags.get(258, (1,))):
        raise _corrupt("TIFF", f"{spp} samples of {tags.get(258)} bits per pixel")
    codec = tags.get(259, (1,))[0]
    if codec not in _TIFF_CODECS:
        raise UnsupportedImageError(f"TIFF compression {codec} is not supported")
    if 322 in tags or 323 in tags:  # tiled
        tw, th = tags.get(322, (0,))[0], tags.get(323, (0,))[0]
        if tw < 1 or th < 1 or tw * th > MAX_TIFF_TILE:
            raise _corrupt("TIFF", f"tiles of {tw}x{th}")
        offsets, sizes = tags.get(324, ()), tags.get(325, ())
    else:
        offsets, sizes = tags.get(273, ()), tags.get(279, ())
    if not offsets or len(offsets) != len(sizes):
        raise _corrupt("TIFF", f"{len(offsets)} data offsets and {len(sizes)} byte counts")
    if max(o + s for o, s in zip(offsets, sizes, strict=True)) > n:
        raise _short("TIFF", "image data past the end of the file")
    return _size("TIFF", w, h)


# ---- PNM --------------------------------------------------------------------------------------------------------

_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n)*(\d+)")


def _pnm(d: bytes) -> ImageHeader:
    kind, i, values = d[1] - ord("0"), 2, []
    for _ in range(2 if kind in (1, 4) else 3):
        m = _PNM_TOKEN.match(d, i)
        if m is None or m.end() - i > 4096:
            raise _corrupt("PNM", "bad header")
        values.append(int(m.group(1)))
        i = m.end()
    w, h, maxval = values[0], values[1], values[2] if len(values) > 2 else 1
    if not 1 <= maxval <= 65535:
        raise _corrupt("PNM", f"maximum value {maxval}")
    channels = 3 if kind in (3, 6) else 1
    left = len(d) - i - 1  # after the single whitespace that ends the header
    if kind == 4:
        need = (w + 7) // 8 * h
    elif kind in (5, 6):
        need = w * h * channels * (2 if maxval > 255 else 1)
    else:  # plain (ASCII) samples: at least one character each, with separators except in P1
        need = w * h if kind == 1 else 2 * w * h * channels - 1
    if left < need:
        raise _short("PNM", f"{w}x{h} pixels need {need:,} bytes of data; the file has {max(left, 0):,}")
    return _size("PNM", w, h)


# ---- dispatch ---------------------------------------------------------------------------------------------------


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


_CHECKS = {"jpeg": _jpeg, "png": _png, "gif": _gif, "bmp": _bmp, "webp": _webp, "tiff": _tiff, "pnm": _pnm}


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
        raise _short(fmt.upper() if fmt != "webp" else "WebP", "ends inside its header") from None
