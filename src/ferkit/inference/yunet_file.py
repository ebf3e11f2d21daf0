"""The YuNet model file: found at an explicit path, at ``$FERKIT_YUNET``, or in the user cache, where it is
downloaded once from the official OpenCV Zoo release and checked against its sha256.

A download on demand (the first time a detector is needed) waits at most ``ON_DEMAND_TIMEOUT`` seconds for the
network, and a failure is remembered in the cache for ``RETRY_AFTER`` seconds, so that a machine without network
(or behind a proxy that never answers) pays for it once, not in every process. ``ferkit fetch-models`` downloads
on purpose, with a longer timeout and whatever was remembered.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import urllib.request
from pathlib import Path

from ferkit.errors import DetectorError

# OpenCV Zoo's 2026may YuNet: the 2023mar network re-exported with a dynamic input size (what ONNX Runtime needs
# to run it on any image size). The media URL serves the file itself; raw URLs of this Git LFS file serve a pointer.
YUNET_FILE = "face_detection_yunet_2026may.onnx"
YUNET_URL = (
    "https://media.githubusercontent.com/media/opencv/opencv_zoo/main/models/face_detection_yunet/"
    "face_detection_yunet_2026may.onnx"
)
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"  # 229,738 bytes
# The older 2023mar release (fixed 640x640 input, 232,589 bytes,
# sha256 8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4) also works, through OpenCV's DNN module.
YUNET_LEGACY_FILES = ("face_detection_yunet_2023mar.onnx",)
ON_DEMAND_TIMEOUT = 5.0  # seconds without an answer before a download on first use gives up
FETCH_TIMEOUT = 60.0  # the same for `ferkit fetch-models`
RETRY_AFTER = 3600.0  # seconds during which a failed download is not tried again on demand


def cache_path() -> Path:
    """Where the downloaded YuNet file lives: ``$FERKIT_CACHE`` or ``~/.cache/ferkit``."""
    return Path(os.environ.get("FERKIT_CACHE", Path.home() / ".cache" / "ferkit")) / YUNET_FILE


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def failure_path() -> Path:
    """Where a failed download on demand is remembered (its time and reason)."""
    return cache_path().with_name(YUNET_FILE + ".failed")


def download_yunet(
    dest: str | Path | None = None, url: str = YUNET_URL, sha256: str = YUNET_SHA256, timeout: float = FETCH_TIMEOUT
) -> Path:
    """Download the YuNet model once into the user cache and check its sha256.

    The file is written to a temporary name and renamed only after the checksum matches, so a failed or
    tampered download never leaves a file that a later run would trust.

    Raises:
        DetectorError: the download failed or the checksum does not match.
    """
    dest = Path(dest) if dest is not None else cache_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                while chunk := r.read(1 << 16):
                    f.write(chunk)
        except Exception as e:
            raise DetectorError(f"could not download YuNet from {url}: {e}") from None
        got = sha256_file(tmp)
        if got != sha256:
            raise DetectorError(f"YuNet download from {url} has sha256 {got}, expected {sha256}; file discarded")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def find_yunet(path: str | Path | None = None, download: bool = False) -> Path:
    """The YuNet model file: ``path``, else ``$FERKIT_YUNET``, else the user cache (downloading if asked).

    Raises:
        DetectorError: no file found (and no download asked), or the download failed.
    """
    if path is not None:
        if not Path(path).is_file():
            raise DetectorError(f"{path}: no such YuNet model file")
        return Path(path)
    env = os.environ.get("FERKIT_YUNET")
    if env:
        if not Path(env).is_file():
            raise DetectorError(f"FERKIT_YUNET={env}: no such file")
        return Path(env)
    cached = cache_path()
    for candidate in (cached, *(cached.with_name(n) for n in YUNET_LEGACY_FILES)):
        if candidate.is_file():
            return candidate
    if download:
        return _download_on_demand(cached)
    raise DetectorError(f"no YuNet model file: pass a path, set FERKIT_YUNET, or download it to {cached}")


def _download_on_demand(dest: Path) -> Path:
    """``download_yunet`` with a short timeout, unless it failed less than ``RETRY_AFTER`` seconds ago."""
    failed = failure_path()
    try:
        age = time.time() - failed.stat().st_mtime
    except OSError:
        age = None
    if age is not None and age < RETRY_AFTER:
        reason = failed.read_text(errors="replace").strip()
        raise DetectorError(
            f"{reason} ({age / 60:.0f} min ago; tried again after {RETRY_AFTER / 60:.0f} min, or now by "
            "`ferkit fetch-models`)"
        )
    try:
        path = download_yunet(dest, timeout=ON_DEMAND_TIMEOUT)
    except DetectorError as e:
        with contextlib.suppress(OSError):
            failed.parent.mkdir(parents=True, exist_ok=True)
            failed.write_text(str(e) + "\n")
        raise
    failed.unlink(missing_ok=True)
    return path


def fetch_yunet() -> Path:
    """Download YuNet into the user cache now (unless it is there), whatever failure was remembered.

    Raises:
        DetectorError: the download failed or the checksum does not match.
    """
    cached = cache_path()
    if cached.is_file():
        return cached
    path = download_yunet(cached, timeout=FETCH_TIMEOUT)
    failure_path().unlink(missing_ok=True)
    return path
