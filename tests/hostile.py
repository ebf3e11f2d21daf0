"""Hostile image files: small valid seeds of every accepted format, the known attacks, and a mutator.

Used by ``tests/test_fuzz.py`` (a few hundred mutants) and ``bench/fuzz.py`` (tens of thousands). Every mutant is
made from a seed by one of ``MUTATIONS`` with a seeded RNG, so a failure is reproduced by its (seed, index).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import cv2
import numpy as np


def picture(w: int = 96, h: int = 72) -> np.ndarray:
    """A BGR picture with a cartoon face on a textured background (so that codecs have real work to do)."""
    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    cx, cy, s = w // 2, h // 2, min(w, h) // 3
    cv2.ellipse(img, (cx, cy), (int(s * 0.8), s), 0, 0, 360, (150, 180, 220), -1)
    for dx in (-0.35, 0.35):
        cv2.circle(img, (int(cx + dx * s), int(cy - 0.2 * s)), max(1, s // 8), (40, 30, 20), -1)
    cv2.ellipse(img, (cx, int(cy + 0.45 * s)), (int(s * 0.3), int(s * 0.12)), 0, 0, 180, (60, 60, 160), 2)
    return img


def _enc(ext: str, img: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok, ext
    return buf.tobytes()


def png_chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
    n = len(data) if length is None else length
    return struct.pack(">I", n) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def tiff(w: int, h: int, pixels: bytes | None = None) -> bytes:
    """An uncompressed 8-bit gray TIFF declaring w x h, one strip holding ``pixels`` (default: w * h zeros)."""
    pixels = bytes(w * h) if pixels is None else pixels
    entries = [
        (256, 4, 1, w),  # ImageWidth
        (257, 4, 1, h),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 0),  # StripOffsets: patched below
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, h),  # RowsPerStrip
        (279, 4, 1, len(pixels)),  # StripByteCounts
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    data_at = 8 + ifd_size
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = data_at if tag == 273 else value
        packed = struct.pack("<H2x", value) if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    return out + b"\x00\x00\x00\x00" + pixels


def seeds() -> dict[str, bytes]:
    """One small valid file per accepted format and common variant."""
    img = picture()
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return {
        "jpeg": _enc(".jpg", img),
        "jpeg_progressive": _enc(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        "jpeg_gray": _enc(".jpg", gray),
        "png": _enc(".png", img),
        "png_gray16": _enc(".png", (gray.astype(np.uint16) * 257)),
        "png_alpha": _enc(".png", cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)),
        "gif": _enc(".gif", img),
        "bmp": _enc(".bmp", img),
        "webp": _enc(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 80]),
        "webp_lossless": _enc(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101]),
        "tiff": _enc(".tif", img),
        "tiff_plain": tiff(img.shape[1], img.shape[0], gray.tobytes()),
        "pgm": _enc(".pgm", gray),
        "ppm": _enc(".ppm", img),
    }


# ---- the known attacks (issue #12) ------------------------------------------------------------------------------


def png_huge_idat() -> bytes:
    """A 69-byte PNG whose IDAT chunk declares 0x7FFFFFF0 bytes (libpng allocates it)."""
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"\x78\x9c", 0x7FFFFFF0)
    return data + png_chunk(b"IEND", b"")[:-4]


def tiff_65535() -> bytes:
    """A TIFF of a few hundred bytes declaring 65535 x 65535."""
    return tiff(65535, 65535, bytes(256))


def tiff_30000() -> bytes:
    """A TIFF declaring 30000 x 30000 gray pixels, their zeros in one strip of about 900 KB."""
    return tiff(30000, 30000, bytes(900_000))


def jpeg_cut_and_closed(seed: bytes | None = None) -> bytes:
    """A JPEG cut in the middle of its image data, with an end-of-image marker appended."""
    data = seed or _enc(".jpg", picture(256, 192))
    return data[: len(data) // 2] + b"\xff\xd9"


def attacks() -> dict[str, bytes]:
    return {
        "png_huge_idat": png_huge_idat(),
        "tiff_65535": tiff_65535(),
        "tiff_30000": tiff_30000(),
        "jpeg_cut_and_closed": jpeg_cut_and_closed(),
    }


# ---- mutations --------------------------------------------------------------------------------------------------

EXTREMES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFF0, 0x7FFFFFFF, 0xFFFFFFFF)


def flip_bytes(d: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(d)
    for i in rng.integers(0, len(b), int(rng.integers(1, 9))):
        b[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def random_bytes(d: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(d)
    start = int(rng.integers(0, len(b)))
    n = int(rng.integers(1, 65))
    b[start : start + n] = rng.integers(0, 256, min(n, len(b) - start), dtype=np.uint8).tobytes()
    return bytes(b)


def truncate(d: bytes, rng: np.random.Generator) -> bytes:
    return d[: int(rng.integers(0, len(d)))]


def truncate_keep_end(d: bytes, rng: np.random.Generator) -> bytes:
    """Cut the middle out and keep the last bytes, so that end markers (JPEG EOI, PNG IEND, GIF trailer) stay."""
    cut = int(rng.integers(8, max(9, len(d) - 16)))
    return d[:cut] + d[-int(rng.integers(1, 17)) :]


def header_field(d: bytes, rng: np.random.Generator) -> bytes:
    """An extreme 1, 2 or 4 byte value, big- or little-endian, somewhere in the first 64 bytes (the headers)."""
    size = int(rng.choice([1, 2, 4]))
    at = int(rng.integers(0, max(1, min(64, len(d)) - size)))
    value = int(rng.choice(EXTREMES)) & ((1 << (8 * size)) - 1)
    return d[:at] + value.to_bytes(size, str(rng.choice(["big", "little"]))) + d[at + size :]


def _lengths(d: bytes) -> list[tuple[int, int, str]]:
    """(offset, byte count, byte order) of the length fields of the file's chunks, segments or entries."""
    out: list[tuple[int, int, str]] = []
    if d[:8] == b"\x89PNG\r\n\x1a\n":
        i = 8
        while i + 8 <= len(d):
            out.append((i, 4, "big"))
            i += 12 + int.from_bytes(d[i : i + 4], "big")
    elif d[:2] == b"\xff\xd8":
        i = 2
        while i + 4 <= len(d) and d[i] == 0xFF and d[i + 1] not in (0xD9, 0xDA):
            out.append((i + 2, 2, "big"))
            i += 2 + int.from_bytes(d[i + 2 : i + 4], "big")
        if i + 4 <= len(d) and d[i + 1] == 0xDA:
            out.append((i + 2, 2, "big"))
    elif d[:4] == b"RIFF":
        out.append((4, 4, "little"))
        i = 12
        while i + 8 <= len(d):
            out.append((i + 4, 4, "little"))
            i += 8 + int.from_bytes(d[i + 4 : i + 8], "little") + 1 & ~1
    elif d[:2] in (b"II", b"MM"):
        order = "little" if d[:2] == b"II" else "big"
        out.append((4, 4, order))
        ifd = int.from_bytes(d[4:8], order)
        if ifd + 2 <= len(d):
            for k in range(int.from_bytes(d[ifd : ifd + 2], order)):
                at = ifd + 2 + 12 * k
                if at + 12 <= len(d):
                    out += [(at + 4, 4, order), (at + 8, 4, order)]  # the count and the value (or its offset)
    elif d[:3] == b"GIF":
        out += [(6, 2, "little"), (8, 2, "little")]
    elif d[:2] == b"BM":
        out += [(2, 4, "little"), (10, 4, "little"), (18, 4, "little"), (22, 4, "little")]
    return out


def chunk_length(d: bytes, rng: np.random.Generator) -> bytes:
    """A chunk, segment or directory length (or count, or offset) set to an extreme or near-by value."""
    fields = _lengths(d)
    if not fields:
        return header_field(d, rng)
    at, size, order = fields[int(rng.integers(0, len(fields)))]
    old = int.from_bytes(d[at : at + size], order)
    value = int(rng.choice(EXTREMES)) if rng.random() < 0.5 else old + int(rng.integers(-8, 9))
    value &= (1 << (8 * size)) - 1
    return d[:at] + value.to_bytes(size, order) + d[at + size :]


def splice(d: bytes, rng: np.random.Generator) -> bytes:
    """A block of the file repeated or removed."""
    a = int(rng.integers(0, len(d)))
    b = min(len(d), a + int(rng.integers(1, 257)))
    return d[:b] + d[a:] if rng.random() < 0.5 else d[:a] + d[b:]


def magic_then_noise(d: bytes, rng: np.random.Generator) -> bytes:
    """The format's first 16 bytes, then random bytes."""
    return d[:16] + rng.integers(0, 256, int(rng.integers(0, 2048)), dtype=np.uint8).tobytes()


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "flip_bytes": flip_bytes,
    "random_bytes": random_bytes,
    "truncate": truncate,
    "truncate_keep_end": truncate_keep_end,
    "header_field": header_field,
    "chunk_length": chunk_length,
    "splice": splice,
    "magic_then_noise": magic_then_noise,
}


def mutants(n: int, seed: int = 0):
    """``n`` (seed format, mutation, bytes) triples, cycling through formats and mutations, reproducible."""
    rng = np.random.default_rng(seed)
    base = seeds()
    names, kinds = list(base), list(MUTATIONS)
    for i in range(n):
        fmt, kind = names[i % len(names)], kinds[(i // len(names)) % len(kinds)]
        yield fmt, kind, MUTATIONS[kind](base[fmt], rng)


def damage(d: bytes, rng: np.random.Generator, max_run: int = 50) -> bytes:
    """Text-file damage: one to five edits, each a replaced byte, a few inserted bytes, a deleted run (up to
    ``max_run`` bytes) or a cut (used on CSV and label files)."""
    b = bytearray(d)
    for _ in range(int(rng.integers(1, 6))):
        i = int(rng.integers(0, max(len(b), 1)))
        op = int(rng.integers(0, 4))
        if op == 0 and b:
            b[min(i, len(b) - 1)] = int(rng.integers(0, 256))
        elif op == 1:
            b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8))
        elif op == 2:
            del b[i : i + int(rng.integers(1, max_run))]
        else:
            b = b[:i]
    return bytes(b)
