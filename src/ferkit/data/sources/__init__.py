"""Dataset adapters, one per storage format, and ``read_source`` which picks one by looking at the path.

An adapter is a class with ``name``, ``taxonomy`` (the source's own class order), ``detect(tree) -> bool`` and
``read(tree, policy) -> Iterator[Sample]`` (a sample's image may be the ``Encoded`` file, decoded later on a thread
pool). An adapter whose classes depend on the files (the generic ``folder``
adapter) also has ``taxonomy_of(tree) -> Taxonomy``. Adapters only parse storage; remapping and fusion live
elsewhere.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from ferkit.data import kaggle
from ferkit.data.errors import ErrorPolicy, OnError
from ferkit.data.sample import Sample, SourceData, from_samples
from ferkit.data.sources import affectnet, ckplus, fer2013, ferplus, folder, jaffe, parquet, rafdb, table
from ferkit.data.storage import Encoded, Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy


class Adapter(Protocol):
    name: str
    taxonomy: Taxonomy

    @staticmethod
    def detect(tree: Tree) -> bool: ...

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> object: ...


# Detection order matters: more specific layouts first, the generic class-folder layout last.
ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a
    for a in (
        ferplus.FolderAdapter,
        ferplus.CsvAdapter,
        fer2013.CsvAdapter,
        fer2013.FolderAdapter,
        rafdb.BasicAdapter,
        rafdb.FolderAdapter,
        affectnet.Adapter,
        affectnet.ListsAdapter,
        ckplus.Adapter,
        ckplus.OfficialAdapter,
        jaffe.Adapter,
        parquet.Adapter,
        table.Adapter,  # images named by a label table: before class folders, which such a tree may also have
        folder.Adapter,  # any <class>/* tree: always last
    )
}

# Formats never detected, only asked for by name (``format``, ``data.photos``): a variant of a detected layout.
VARIANTS: dict[str, type[Adapter]] = {a.name: a for a in (folder.PhotosAdapter, table.PhotosAdapter)}
PHOTO_VARIANTS = {folder.Adapter.name: folder.PhotosAdapter.name, table.Adapter.name: table.PhotosAdapter.name}


# Formats that read the one file a path names (with the companions beside it that the format needs); every other
# format reads a folder or a zip, and is refused for a file rather than left to read the files beside it.
FILE_FORMATS = (fer2013.CsvAdapter.name, ferplus.CsvAdapter.name, parquet.Adapter.name)


def adapter_for(fmt: str) -> type[Adapter] | None:
    """The adapter of a format name (detected formats and variants), or None."""
    return ADAPTERS.get(fmt) or VARIANTS.get(fmt)


COMPRESSED = (".7z", ".rar", ".zst", ".lz4", ".z")  # .zip, tar archives and .gz / .bz2 / .xz files are read


def detect_format(tree: Tree) -> str:
    """The name of the first adapter that recognises the tree; a DataError listing the formats otherwise."""
    for name, adapter in ADAPTERS.items():
        if adapter.detect(tree):
            return name
    if tree.focus is not None and tree.path.stat().st_size == 0:
        raise DataError(tree.path, "empty file")
    if ferplus.votes_without_faces(tree):
        raise DataError(tree.path, ferplus.MISSING_FER2013)
    if table.is_table_file(tree):
        raise DataError(tree.path, "a label table of image files: pass the folder (or zip) that holds it and the "
                        "images (format labels-csv)")  # fmt: skip
    if fer2013.unlabelled_csv(tree):
        raise DataError(tree.path, "faces without labels: a pixels column and no emotion column (like the Kaggle "
                        "challenge's test.csv); a dataset needs a label per face")  # fmt: skip
    if tree.path.name.lower().endswith(COMPRESSED):
        raise DataError(tree.path, "a compressed file ferkit does not open (it reads .zip, tar archives and "
                        ".gz / .bz2 / .xz files): extract it, or pass a folder")  # fmt: skip
    raise DataError(tree.path, f"cannot tell the dataset format; pass --format, one of {sorted(ADAPTERS)}")


def open_tree(path: str | Path) -> Tree:
    """The file tree of a dataset path: a folder, zip or file, or a Kaggle dataset by name (``kaggle:OWNER/DATASET``,
    fetched on first use; see ``ferkit.data.kaggle``). Every source is opened here."""
    return Tree(kaggle.resolve(path))


def source_name(path: str | Path) -> str:
    """A source's short name in reports: the file or folder name without suffixes, or the Kaggle dataset's name."""
    return kaggle.parse(path).dataset if kaggle.is_kaggle(path) else Path(path).name.split(".")[0]


def read_source(
    path: str | Path, format: str | None = None, on_error: OnError = "raise", threads: int | None = None
) -> SourceData:
    """Read a dataset into arrays, without the cache. See ``ferkit.data.load_source``."""
    tree = open_tree(path)
    fmt = format or detect_format(tree)
    adapter = adapter_for(fmt)
    if adapter is None:
        raise DataError(path, f"unknown format {fmt!r}; known: {sorted([*ADAPTERS, *VARIANTS])}")
    if tree.focus is not None and fmt not in FILE_FORMATS:
        raise DataError(path, f"format {fmt!r} reads a folder or a .zip, not one file: pass the folder that holds it")
    policy = ErrorPolicy(on_error)
    taxonomy_of = getattr(adapter, "taxonomy_of", None)
    taxonomy = taxonomy_of(tree) if taxonomy_of else adapter.taxonomy
    samples = decode_all(adapter.read(tree, policy), policy, threads)
    if not samples:
        first = f"; first: {policy.skipped[0].where}: {policy.skipped[0].reason}" if policy.skipped else ""
        raise DataError(path, f"no usable samples found as format {fmt!r} ({len(policy.skipped)} skipped{first})")
    name = source_name(path) or fmt
    return from_samples(samples, name=name, format=fmt, path=str(path), taxonomy=taxonomy, skipped=policy.skipped)


CHUNK = 64  # faces decoded per task: per-task overhead would dominate a 48x48 JPEG's decoding
SMALL = 8192  # mean bytes per file under which a chunk is decoded in line (FER-2013's JPEGs are about 1.5 KB)


def _decode(images: list[np.ndarray | Encoded]) -> list[np.ndarray | DataError]:
    out: list[np.ndarray | DataError] = []
    for image in images:
        try:
            out.append(image.face() if isinstance(image, Encoded) else image)
        except DataError as e:
            out.append(e)
    return out


def decode_all(samples: Iterable[Sample], policy: ErrorPolicy, threads: int | None = None) -> list[Sample]:
    """The samples with every ``Encoded`` image decoded, on ``threads`` threads (default: CPU count, at most 8).

    Faces are decoded in chunks while the adapter reads the next files, and only a few chunks of encoded images are
    held at once. A face that does not decode goes to ``policy`` like any other bad record, in file order: under
    ``raise`` the first bad record is the one reported, and under ``skip`` the skipped list reads the same for any
    thread count.
    """
    threads = threads or min(8, os.cpu_count() or 1)
    out: list[Sample] = []
    held: list[tuple[int, DataError]] = []  # (adapter skips recorded before this sample, its decode error)
    chunk: list[Sample] = []
    marks: list[int] = []
    pending: deque[tuple[list[Sample], list[int], Future[list[np.ndarray | DataError]]]] = deque()

    def finish(samples: list[Sample], marks: list[int], faces: Future[list[np.ndarray | DataError]]) -> None:
        for sample, mark, face in zip(samples, marks, faces.result(), strict=True):
            if not isinstance(face, DataError):
                out.append(sample if face is sample.image else replace(sample, image=face))
            elif policy.on_error == "raise":
                raise face
            else:
                held.append((mark, face))

    with ThreadPoolExecutor(threads) as pool:

        def flush() -> None:
            if not chunk:
                return
            images = [s.image for s in chunk]
            size = sum(len(i.data) for i in images if isinstance(i, Encoded))
            if threads == 1 or size < SMALL * len(images):  # small files: a hand-off costs more than it saves
                done: Future[list[np.ndarray | DataError]] = Future()
                done.set_result(_decode(images))
                pending.append((chunk[:], marks[:], done))
            else:
                pending.append((chunk[:], marks[:], pool.submit(_decode, images)))
            chunk.clear()
            marks.clear()

        records = iter(samples)
        while True:
            try:
                s = next(records)
            except StopIteration:
                break
            except DataError:  # the adapter raised on a later record: report any earlier bad image first
                flush()
                while pending:
                    finish(*pending.popleft())
                raise
            chunk.append(s)
            marks.append(len(policy.skipped))
            if len(chunk) == CHUNK:
                flush()
                if len(pending) > 2 * threads:
                    finish(*pending.popleft())
        flush()
        while pending:
            finish(*pending.popleft())
    adapter_skips, j = list(policy.skipped), 0  # merge the decode errors into the adapter's skips, in file order
    policy.skipped.clear()
    for mark, err in held:
        policy.skipped.extend(adapter_skips[j:mark])
        j = max(j, mark)
        policy.handle(err)
    policy.skipped.extend(adapter_skips[j:])
    return out
