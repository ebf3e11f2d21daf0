"""Where ``ferkit.inference.cluster``'s work comes from and goes to: the photos and videos that paths, folders,
globs, list files and URIs name, an image read from a local path or a URI, and the output folder (local or URI) with
the resume that skips sources already in it.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Literal

import numpy as np

from ferkit.errors import FerkitError, ImageError
from ferkit.imaging import IMAGE_SUFFIXES, MAX_FILE_BYTES, MAX_PIXELS, decode, load_image
from ferkit.inference.batch import list_images

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
LIST_SUFFIXES = (".txt", ".lst")  # a SOURCE with this suffix lists one path or URI per line
Format = Literal["parquet", "jsonl"]


# ---- sources -------------------------------------------------------------------------------------------------


def _is_uri(s: str) -> bool:
    return "://" in s


def _uri_files(uri: str) -> list[str]:
    """Image and video files at a URI (a file, or everything below a prefix), read through pyarrow's file
    systems: the ones Ray's own readers use (``s3://``, ``gs://``, ``hdfs://``, ``file://``)."""
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(uri)
    scheme = uri.split("://", 1)[0]
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.File:
        return [uri]
    if info.type != fs.FileType.Directory:
        raise FerkitError(f"{uri}: no such file or prefix")
    wanted = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    return sorted(f"{scheme}://{f.path}" for f in found if f.is_file and Path(f.path).suffix.lower() in wanted)


def list_sources(sources: list[str]) -> tuple[list[str], list[str]]:
    """Photos and videos named by paths, folders, globs, list files (``.txt``/``.lst``, one per line) and URIs.

    Photos are listed as ``ferkit predict`` lists them (``list_images``); folders and globs also give their videos.

    Returns:
        (photos, videos), each in order without repeats.
    """
    photos: list[str] = []
    videos: list[str] = []
    for s in sources:
        if _is_uri(s):
            found = _uri_files(s)
        elif Path(s).is_file() and Path(s).suffix.lower() in LIST_SUFFIXES:
            lines = Path(s).read_text(encoding="utf-8").splitlines()
            listed = [x.strip() for x in lines if x.strip() and not x.strip().startswith("#")]
            more_photos, more_videos = list_sources(listed)
            photos += more_photos
            videos += more_videos
            continue
        elif Path(s).is_dir():
            found = list_images([s]) + [
                str(f) for f in sorted(Path(s).rglob("*")) if f.suffix.lower() in VIDEO_SUFFIXES
            ]
        else:
            found = list_images([s]) if glob.has_magic(s) and not Path(s).exists() else [s]
        for f in found:
            (videos if Path(f).suffix.lower() in VIDEO_SUFFIXES else photos).append(f)
    return list(dict.fromkeys(photos)), list(dict.fromkeys(videos))


def read_image(source: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A local path (as ``load_image`` reads it) or a URI (through pyarrow's file systems) -> BGR uint8.

    Raises:
        ImageError: unreadable or not an image, naming ``source``.
    """
    if not _is_uri(source):
        return load_image(source, max_pixels=max_pixels)
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(source)
        if (filesystem.get_file_info(path).size or 0) > MAX_FILE_BYTES:
            raise ImageError(f"files over {MAX_FILE_BYTES:,} bytes are not read", source)
        with filesystem.open_input_stream(path) as f:
            data = f.read()
    except (OSError, ValueError) as e:
        raise ImageError(f"cannot read ({e})", source) from None
    return decode(data, source, max_pixels)


# ---- output and resume -----------------------------------------------------------------------------------------


def _out_fs(out: str):
    from pyarrow import fs

    if _is_uri(out):
        return fs.FileSystem.from_uri(out)
    return fs.LocalFileSystem(), str(Path(out).resolve())


def done_sources(out: str, fmt: Format) -> set[str]:
    """Sources with rows in ``out`` already. A file a crash left unreadable is renamed ``*.partial`` (out of the
    table's way), and its sources are done again."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    filesystem, root = _out_fs(out)
    if filesystem.get_file_info(root).type != fs.FileType.Directory:
        return set()
    suffix = ".parquet" if fmt == "parquet" else ".json"
    done: set[str] = set()
    for f in filesystem.get_file_info(fs.FileSelector(root, recursive=True)):
        if not f.is_file or not f.path.endswith(suffix):
            continue
        try:
            if fmt == "parquet":
                done.update(pq.read_table(f.path, columns=["path"], filesystem=filesystem).column("path").to_pylist())
            else:
                with filesystem.open_input_stream(f.path) as s:
                    done.update(json.loads(line)["path"] for line in s.read().decode("utf-8").splitlines() if line)
        except (OSError, ValueError, KeyError):
            filesystem.move(f.path, f.path + ".partial")
    return done


def _prepare_out(out: str, fmt: Format, resume: bool, overwrite: bool) -> set[str]:
    from pyarrow import fs

    filesystem, root = _out_fs(out)
    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.File:
        raise FerkitError(f"{out}: is a file; --engine ray writes a folder of {fmt} files")
    if info.type == fs.FileType.Directory and filesystem.get_file_info(fs.FileSelector(root)):
        if resume:
            return done_sources(out, fmt)
        if not overwrite:
            raise FerkitError(f"{out}: exists; pass --resume to continue it or --force to replace it")
        filesystem.delete_dir_contents(root)
    return set()


__all__ = ["LIST_SUFFIXES", "VIDEO_SUFFIXES", "Format", "done_sources", "list_sources", "read_image"]
