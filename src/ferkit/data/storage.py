"""Read-only file trees: a folder, a .zip, a tar archive (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``,
``.tar.xz``) or one compressed file (``fer2013.csv.gz``, ``.bz2``, ``.xz``), listed and read the same way. Nothing
is extracted to disk: a zip is read entry by entry, a tar or a compressed file is unpacked into memory once, on the
first read (up to ``MAX_UNPACKED_BYTES``)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ferkit.errors import DataError, ImageError
from ferkit.imaging import IMAGE_SUFFIXES, decode, to_face

MAX_IMAGE_BYTES = 512 * 2**20  # one image file; a 50-megapixel 16-bit TIFF is about 300 MiB
MAX_FILE_BYTES = 4 * 2**30  # any other file (the FER-2013 CSV is 287 MiB)
HASHED_FILE_BYTES = 64 * 2**20  # label tables up to this size are part of a folder's cache key by content
LABEL_TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".json")
MAX_UNPACKED_BYTES = 2 * 2**30  # a tar archive or a compressed file, unpacked into memory: larger ones are extracted
SINGLE_FILE_CODECS = {".gz": gzip, ".bz2": bz2, ".xz": lzma}  # one compressed file, e.g. fer2013.csv.gz


class Tree:
    """A folder or a zip archive, addressed by posix paths relative to its root.

    A zip whose entries all sit under one top folder is rooted at that folder, so ``fer2013.zip`` containing
    ``fer2013/train/...`` reads the same as one containing ``train/...``.

    A plain file (e.g. ``fer2013new.csv``) is read as its folder, listing only the files beside it (not below),
    with ``focus`` naming the file the user pointed at, so adapters can find a companion file next to it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(self.path, "no such file or folder")
        if not self.path.is_file() and not self.path.is_dir():
            raise DataError(self.path, "not a regular file or a folder (a pipe or a device)")
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        self._root = self.path
        self.focus: str | None = None
        self._last: tuple[str, bytes] | None = None
        self._packed: dict[str, int] | None = None  # a tar or a compressed file: its files' unpacked sizes
        self._unpacked: dict[str, bytes] | None = None  # ... and their bytes, once read
        zipped = self.path.is_file() and zipfile.is_zipfile(self.path)
        tar = self.path.is_file() and not zipped and _is_tar(self.path)
        plain = self.path.is_file() and not zipped and not tar
        if tar:
            self._packed = self._tar_sizes()
            self._names = sorted(self._packed)
        elif plain and self.path.suffix.lower() in SINGLE_FILE_CODECS:  # one compressed file: a tree of it alone
            self._names, self.focus = [self.path.stem], self.path.stem
            self._packed = {self.path.stem: len(self._unpack()[self.path.stem])}  # unpacked now: read anyway
        elif plain:
            self._root = self.path.parent
            self.focus = self.path.name
            self._names = sorted(p.name for p in self._root.iterdir() if p.is_file() and not _hidden(p.name))
        elif zipped:
            self._zip = zipfile.ZipFile(self.path)
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            self._prefix = _top_folder(names)
            self._names = sorted(n[len(self._prefix) :] for n in names if not _hidden(n))
        else:
            self._names = sorted(
                p.relative_to(self.path).as_posix()
                for p in self.path.rglob("*")
                if p.is_file() and not _hidden(p.relative_to(self.path).as_posix())
            )

    def names(self) -> list[str]:
        """All file paths in the tree, sorted."""
        return self._names

    def exists(self, name: str) -> bool:
        return name in self._name_set

    @property
    def _name_set(self) -> set[str]:
        if not hasattr(self, "_set"):
            self._set = set(self._names)
        return self._set

    def read(self, name: str) -> bytes:
        """The bytes of one file; a missing, oversized (a zip bomb, say) or unreadable file, or a damaged,
        encrypted or oddly compressed zip entry, is a DataError naming it. The last file read is kept, so a label
        table that an adapter reads for its classes and then for its rows is read (and unzipped) once."""
        if self._last is None or self._last[0] != name:
            self._last = (name, self._bytes(name, None))
        return self._last[1]

    def head(self, name: str, n: int = 4096) -> bytes:
        """The first ``n`` bytes of one file, without reading the rest (format detection peeks at headers)."""
        return self._bytes(name, n)

    def _bytes(self, name: str, n: int | None) -> bytes:
        if not self.exists(name):
            raise DataError(self.where(name), "missing file")
        if self._packed is not None:
            data = self._unpack()[name]
            return data if n is None else data[:n]
        try:
            if n is None:  # the whole file: refuse one too large to be a face or a label file before reading it
                limit = MAX_IMAGE_BYTES if name.lower().endswith(IMAGE_SUFFIXES) else MAX_FILE_BYTES
                size = (self._zip.getinfo(self._prefix + name).file_size if self._zip is not None
                        else (self._root / name).stat().st_size)  # fmt: skip
                if size > limit:
                    raise DataError(self.where(name), f"{size / 2**20:.0f} MiB (unpacked), over the "
                                    f"{limit / 2**20:.0f} MiB ferkit reads per file")  # fmt: skip
            with self._zip.open(self._prefix + name) if self._zip is not None else open(self._root / name, "rb") as f:
                return f.read() if n is None else f.read(n)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError, zlib.error) as e:
            raise DataError(self.where(name), f"cannot read it ({type(e).__name__}: {e})") from None

    def where(self, name: str) -> str:
        """A human-readable location for a file of this tree (used in errors)."""
        if self._zip is not None or self._packed is not None:
            return f"{self.path}!{self._prefix}{name}"
        return str(self._root / name)

    def _tar_sizes(self) -> dict[str, int]:
        """The regular files of a tar archive and their sizes, rooted like a zip (one top folder is the root)."""
        members, total = [], 0
        try:
            with tarfile.open(self.path) as tf:
                for m in tf:  # header by header: a tar bomb is refused at the member that crosses the limit
                    if m.isfile():
                        members.append(m)
                        total += m.size
                    if total > MAX_UNPACKED_BYTES:
                        raise self._too_big()
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as e:
            raise DataError(self.path, f"cannot read it as a tar archive ({type(e).__name__}: {e})") from None
        names = [_member_name(m) for m in members]
        self._prefix = _top_folder(names)
        return {n[len(self._prefix) :]: m.size for n, m in zip(names, members, strict=True) if not _hidden(n)}

    def _too_big(self) -> DataError:
        limit = f"{MAX_UNPACKED_BYTES / 2**20:.0f} MiB"
        return DataError(self.path, f"over the {limit} ferkit unpacks in memory: extract it")

    def _unpack(self) -> dict[str, bytes]:
        """Every file of a tar archive or a compressed file, unpacked into memory in one pass (a compressed stream
        cannot be read out of order cheaply); a damaged or truncated archive is a DataError naming it."""
        if self._unpacked is not None:
            return self._unpacked
        try:
            if self.focus is not None:  # one compressed file
                with SINGLE_FILE_CODECS[self.path.suffix.lower()].open(self.path, "rb") as f:
                    data = f.read(MAX_UNPACKED_BYTES + 1)
                if len(data) > MAX_UNPACKED_BYTES:
                    raise self._too_big()
                self._unpacked = {self.focus: data}
            else:
                out: dict[str, bytes] = {}
                with tarfile.open(self.path) as tf:
                    for m in tf:
                        name = _member_name(m)[len(self._prefix) :]
                        if m.isfile() and name in self._name_set:
                            f = tf.extractfile(m)
                            out[name] = f.read() if f is not None else b""
                self._unpacked = out
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as e:
            raise DataError(self.path, f"cannot unpack it ({type(e).__name__}: {e})") from None
        return self._unpacked

    def images(self, under: str = "") -> list[str]:
        """Image files (by suffix) below a folder of the tree."""
        pre = under.rstrip("/") + "/" if under else ""
        return [n for n in self._names if n.startswith(pre) and n.lower().endswith(IMAGE_SUFFIXES)]

    def content_key(self) -> str:
        """A cheap fingerprint of the tree's content: names, sizes and CRCs (zip) or sizes and mtimes, and the file
        the user pointed at (two CSV files in one folder are two datasets). In a folder, label tables (``.csv``,
        ``.txt``, ``.tsv``, ``.json``) up to ``HASHED_FILE_BYTES`` are hashed by content too: a label edited in
        place keeps its size, and a copy or an unpacked archive can bring back an old mtime. (AffectNet's
        per-image ``.npy`` labels, a million files, are left to size and mtime.)"""
        import hashlib

        h = hashlib.sha256(f"focus\0{self.focus}\n".encode() if self.focus is not None else b"")
        if self._packed is not None:  # the archive itself: its size, time and first and last MiB
            st = self.path.stat()
            h.update(f"{st.st_size}\0{st.st_mtime_ns}\n".encode())
            with open(self.path, "rb") as f:
                h.update(f.read(2**20))
                f.seek(max(0, st.st_size - 2**20))
                h.update(f.read())
        elif self._zip is not None:
            for info in sorted(self._zip.infolist(), key=lambda i: i.filename):
                h.update(f"{info.filename}\0{info.file_size}\0{info.CRC}\n".encode())
        else:
            for n in self._names:
                st = (self._root / n).stat()
                h.update(f"{n}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
                if st.st_size <= HASHED_FILE_BYTES and n.lower().endswith(LABEL_TABLE_SUFFIXES):
                    h.update(hashlib.sha256(self.read(n)).digest())
        return h.hexdigest()


def _top_folder(names: list[str]) -> str:
    """The one top folder every file of an archive sits under, with its slash ("fer2013/"), or "" (the root)."""
    tops = {n.split("/", 1)[0] for n in names}
    return tops.pop() + "/" if len(tops) == 1 and all("/" in n for n in names) else ""


def _member_name(m: tarfile.TarInfo) -> str:
    """A tar member's path without a leading ``./`` or ``/``."""
    name = m.name
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error, lzma.LZMAError):
        return False


def _hidden(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def decode_image(data: bytes, where: str, *, gray: bool = True) -> np.ndarray:
    """Decode image bytes (EXIF orientation applied) to uint8 gray (H, W) or BGR (H, W, 3), with the checks of
    ``ferkit.imaging.decode``.

    Raises:
        DataError: empty, truncated, corrupt, unsupported or oversized data, naming ``where``.
    """
    try:
        return decode(data, where, gray=gray)
    except ImageError as e:
        raise DataError(e.where or where, e.reason) from None


@dataclass(frozen=True)
class Encoded:
    """A face's image bytes, read but not decoded yet.

    Adapters yield these so that ``read_source`` can decode many at once on a thread pool (OpenCV's decoders
    release the GIL); ``face()`` gives the same array that ``to_face(decode_image(data, where))`` would.
    """

    data: bytes
    where: str

    def face(self) -> np.ndarray:
        return to_face(decode_image(self.data, self.where))
