"""Many images: listing inputs (folders, globs, files) and writing results as they come (JSONL or CSV).

Each image gives one record, written and flushed at once, so that a crash loses at most the image in progress
and ``resume`` can skip what is already written. A bad file gives an error record; the run goes on.
"""

from __future__ import annotations

import csv
import glob
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ferkit.errors import FerkitError
from ferkit.imaging import IMAGE_SUFFIXES, load_image
from ferkit.inference.predictor import Face, Predictor

T = TypeVar("T")
R = TypeVar("R")


def list_images(inputs: Sequence[str]) -> list[str]:
    """Image files named by paths, folders (searched recursively, by suffix) and globs, in order, without repeats.

    Raises:
        FerkitError: an input that is neither a file, a folder, nor a glob with matches.
    """
    out: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.exists() or not glob.has_magic(item):
            found = [item]  # a missing plain path stays: it becomes an error record, not a silent skip
        else:
            found = sorted(f for f in glob.glob(item, recursive=True) if Path(f).is_file())
            if not found:
                raise FerkitError(f"{item}: no files match")
        out.extend(found)
    return list(dict.fromkeys(out))


def prefetch(fn: Callable[[T], R], items: Iterable[T], workers: int = 2, ahead: int = 8) -> Iterator[R]:
    """``map(fn, items)`` in order, computed by ``workers`` threads at most ``ahead`` items in advance
    (bounded, unlike ``Executor.map``, so that a folder of a million images is not decoded into memory at once)."""
    it = iter(items)
    with ThreadPoolExecutor(workers) as pool:
        queue = deque(pool.submit(fn, x) for _, x in zip(range(ahead), it, strict=False))
        while queue:
            result = queue.popleft().result()
            for x in it:
                queue.append(pool.submit(fn, x))
                break
            yield result


def predict_paths(
    predictor: Predictor,
    paths: Iterable[str],
    batch: int = 8,
    workers: int = 2,
    read: Callable[[str], np.ndarray] | None = None,
) -> Iterator[tuple[str, np.ndarray | None, list[Face] | None, str | None]]:
    """Predict many image files: decoding runs ahead in threads, and the faces of up to ``batch`` images are
    classified together.

    Args:
        read: path -> BGR image, raising ``FerkitError`` for a bad file (default: ``load_image`` with the
            predictor's pixel limit); ``ferkit.inference.cluster`` passes one that also reads URIs.

    Yields:
        (path, BGR image or None, faces or None, error message or None) per path, in order.
    """

    def load(path: str) -> tuple[str, np.ndarray | None, str | None]:
        try:
            image = read(path) if read is not None else load_image(path, max_pixels=predictor.max_pixels)
            return path, image, None
        except FerkitError as e:
            return path, None, str(e)

    chunk: list[tuple[str, np.ndarray | None, str | None]] = []

    def flush() -> Iterator[tuple[str, np.ndarray | None, list[Face] | None, str | None]]:
        good = [c[1] for c in chunk if c[1] is not None]
        results = iter(predictor.predict_arrays(good))
        for path, image, error in chunk:
            yield path, image, (next(results) if image is not None else None), error
        chunk.clear()

    for item in prefetch(load, paths, workers, ahead=2 * batch):
        chunk.append(item)
        if len(chunk) >= batch:
            yield from flush()
    yield from flush()


def face_record(path: str, faces: list[Face] | None = None, error: str | None = None) -> dict[str, Any]:
    if error is not None:
        return {"path": path, "error": error}
    return {"path": path, "faces": [f.to_dict() for f in faces or []]}


class ResultWriter:
    """Append records to a ``.jsonl`` or ``.csv`` file, flushing after each image.

    CSV has one row per face (``path, face, x, y, w, h, label, score, <class probabilities>, error``); an image
    without faces or with an error still gets one row, so that ``resume`` knows it was done.

    Args:
        path: the output file; its suffix picks the format (``.csv``, else JSONL).
        classes: the model's classes (CSV columns).
        resume: keep an existing file and report its images in ``done``; otherwise it must not exist
            unless ``overwrite``.
        overwrite: replace an existing file.
    """

    def __init__(self, path: str | Path, classes: Sequence[str], resume: bool = False, overwrite: bool = False):
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        self.classes = list(classes)
        self.columns = ["path", "face", "x", "y", "w", "h", "label", "score", *self.classes, "error"]
        self.done: set[str] = set()
        if self.path.exists() and not resume and not overwrite:
            raise FerkitError(f"{self.path}: exists; pass --resume to continue it or --force to replace it")
        if resume and self.path.exists():
            self.done = self._read_done()
            mode = "a"
        else:
            mode = "w"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, mode, newline="" if self.csv else None, encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._f) if self.csv else None
        if self.csv and mode == "w":
            self._csv.writerow(self.columns)

    def _read_done(self) -> set[str]:
        """Paths already written; a last line cut by a crash is removed, so that the file stays well-formed."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
            with open(self.path, "r+b") as f:
                f.truncate(len(data))
        lines = data.decode("utf-8").splitlines()
        if self.csv:
            if lines and lines[0].split(",")[: len(self.columns)] != self.columns:
                raise FerkitError(f"{self.path}: CSV columns differ from this model's; cannot resume into it")
            return {row[0] for row in csv.reader(lines[1:]) if row}
        done = set()
        for line in lines:
            try:
                done.add(json.loads(line)["path"])
            except (ValueError, KeyError, TypeError):
                continue
        return done

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is None:
            self._f.write(json.dumps(record) + "\n")
        else:
            for row in self._csv_rows(record):
                self._csv.writerow(row)
        self._f.flush()  # a crashed process loses nothing already written

    def _csv_rows(self, r: dict[str, Any]) -> Iterable[list[Any]]:
        if "error" in r:
            return [[r["path"], "", "", "", "", "", "", "", *[""] * len(self.classes), r["error"]]]
        if not r["faces"]:
            return [[r["path"], "", "", "", "", "", "", "", *[""] * len(self.classes), ""]]
        return [
            [r["path"], i, *f["box"], f["label"], f["score"], *(f["probs"].get(c, "") for c in self.classes), ""]
            for i, f in enumerate(r["faces"])
        ]

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
