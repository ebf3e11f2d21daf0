"""Codec noise off: OpenCV's own log lines, and the lines libjpeg, libpng and FFmpeg print straight to stderr.

A corrupt file already gives one clear ``ImageError``; the decoders' own lines ("Corrupt JPEG data: premature end
of data segment", "[ERROR:0@1.2] global grfmt_tiff.cpp:... TIFF_Error ...") only repeat it less clearly, in the
middle of a progress bar or a server log. OpenCV's are turned off through its log level. libjpeg and libpng write
with ``fprintf(stderr)``, which no API reaches, so while ``quiet_codecs()`` is active file descriptor 2 is a pipe,
and a thread copies every line to the real stderr except those of the codecs (``NOISE_STARTS``).

The library never does this by itself (it would change a host program's stderr); the CLI wraps each command in it,
and a program may too::

    with ferkit.imaging.quiet_codecs():
        faces = predictor.predict(upload)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

import cv2

NOISE_STARTS = (  # how the codecs' stderr lines begin (libjpeg warnings, libpng's default handlers)
    b"Corrupt JPEG data",
    b"Premature end of JPEG file",
    b"Invalid JPEG file structure",
    b"Warning: unknown JFIF",
    b"Unsupported marker type",
    b"Bogus ",
    b"Inconsistent progression",
    b"Huffman table",
    b"JPEG datastream",
    b"Not a JPEG file",
    b"Invalid SOS parameters",
    b"Unknown Adobe color transform",
    b"Application transferred too",
    b"Warning: thumbnail image size",
    b"libpng warning",
    b"libpng error",
)
FFMPEG_TAG = b" @ 0x"  # FFmpeg's own lines (a damaged video): "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55e...] moov atom ..."


def _noise(line: bytes) -> bool:
    return line.startswith(NOISE_STARTS) or (line.startswith(b"[") and FFMPEG_TAG in line[:80])


def _maybe_noise(start: bytes) -> bool:
    """Whether a line that begins so may still turn out to be codec noise (then it waits for its end). FFmpeg writes
    its tag and its message in separate writes, so a line that has its tag already is held for the rest."""
    return any(p.startswith(start[: len(p)]) for p in NOISE_STARTS) or (
        start.startswith(b"[") and (FFMPEG_TAG in start[:80] or (len(start) < 80 and b"]" not in start))
    )


_lock = threading.Lock()
_depth = 0


def _copy(read_fd: int, write_fd: int) -> None:
    """Copy lines from the pipe to the real stderr, leaving out codec noise, until the pipe closes; then close
    both descriptors (they are this thread's own)."""
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe, os.fdopen(write_fd, "wb", buffering=0) as out:
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not _noise(line))
            if pending and not _maybe_noise(pending):
                kept, pending = kept + pending, b""  # a line still being written (a progress bar): pass it now
            if kept:
                out.write(kept)
        if pending and not _noise(pending):
            out.write(pending)


@contextlib.contextmanager
def quiet_codecs() -> Iterator[None]:
    """Within this block OpenCV logs nothing and codec warnings on stderr are dropped; other stderr output passes.

    Re-entrant; the outermost block installs the filter and removes it (and the pipe) on exit.
    """
    global _depth
    with _lock:
        _depth += 1
        outer = _depth == 1
        if outer:
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            try:
                sys.stderr.flush()
                real = os.dup(2)
                r, w = os.pipe()
                os.dup2(w, 2)
                os.close(w)
                thread = threading.Thread(target=_copy, args=(r, os.dup(real)), name="ferkit-stderr", daemon=True)
                thread.start()
            except OSError:  # no usable fd 2 (a detached process): OpenCV's level is all we can do
                real = -1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if outer:
                cv2.utils.logging.setLogLevel(level)
                if real >= 0:
                    with contextlib.suppress(Exception):
                        sys.stderr.flush()
                    os.dup2(real, 2)  # the pipe's last writer is gone: the thread drains it and ends
                    os.close(real)
                    thread.join(timeout=2.0)
