"""FER-2013: the original CSV (``emotion,pixels,Usage``) and the Kaggle folder layout, in a folder or a zip.

Splits: ``Training`` -> train, ``PublicTest`` -> val, ``PrivateTest`` -> test. The Kaggle layout merges both test
splits into ``test/``; the ``PublicTest_`` / ``PrivateTest_`` file-name prefix tells them apart.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import FACE_SIZE, Sample, Split
from ferkit.data.storage import Encoded, Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy

# The CSV's emotion codes 0..6, in this order.
TAXONOMY = Taxonomy(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
USAGE_SPLITS: dict[str, Split] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
PREFIX_SPLITS: dict[str, Split] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def _one_hot(i: int) -> np.ndarray:
    t = np.zeros(len(TAXONOMY), np.float32)
    t[i] = 1.0
    return t


# ---- original CSV -------------------------------------------------------------------------------------------


def find_csv(tree: Tree) -> str | None:
    """The FER-2013 CSV in a tree (``fer2013.csv`` or any CSV whose header is emotion,pixels,Usage)."""
    for name in ([tree.focus] if tree.focus else []) + tree.names():
        if name.lower().endswith(".csv"):
            head = tree.read(name)[:64].decode("utf-8", "replace").lstrip("\ufeff").lower()
            if head.replace(" ", "").startswith("emotion,pixels"):
                return name
    return None


def read_csv_rows(data: bytes, where: str, policy: ErrorPolicy) -> Iterator[tuple[int, Sample]]:
    """Parse FER-2013 CSV bytes; yields (0-based data row index, sample). Row numbers in errors are 1-based
    file lines (the header is line 1)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    header = [h.strip().lower() for h in next(reader, [])]
    if header[:2] != ["emotion", "pixels"]:
        raise DataError(where, f"expected a header 'emotion,pixels,Usage', found {','.join(header)!r}", row=1)
    has_usage = len(header) > 2
    for idx, row in enumerate(reader):
        line = idx + 2
        try:
            if len(row) < (3 if has_usage else 2):
                raise DataError(where, f"expected {len(header)} fields, found {len(row)}", row=line)
            try:
                code = int(row[0])
            except ValueError:
                raise DataError(where, f"emotion {row[0]!r} is not an integer", row=line) from None
            if not 0 <= code < len(TAXONOMY):
                raise DataError(where, f"unknown emotion code {code} (expected 0..6)", row=line)
            try:
                pixels = np.array(row[1].split(), dtype=np.int64)
            except ValueError:
                raise DataError(where, "pixels are not all integers", row=line) from None
            if pixels.size != FACE_SIZE * FACE_SIZE:
                raise DataError(where, f"expected 2304 pixels (48x48), found {pixels.size}", row=line)
            if pixels.min() < 0 or pixels.max() > 255:
                raise DataError(where, "pixel values outside 0..255", row=line)
            usage = row[2].strip() if has_usage else "Training"
            if usage not in USAGE_SPLITS:
                raise DataError(where, f"unknown Usage {usage!r} (expected {list(USAGE_SPLITS)})", row=line)
        except DataError as e:
            policy.handle(e)
            continue
        image = pixels.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE)
        yield idx, Sample(f"row{idx}", image, USAGE_SPLITS[usage], _one_hot(code))


class CsvAdapter:
    """The original ``fer2013.csv``."""

    name = "fer2013-csv"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        if tree.focus:  # pointed at a file: it must be the FER-2013 CSV itself
            return find_csv(tree) == tree.focus
        return find_csv(tree) is not None and not any(n.endswith("fer2013new.csv") for n in tree.names())

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        name = find_csv(tree)
        if name is None:
            raise DataError(tree.path, "no FER-2013 CSV (header emotion,pixels,Usage) found")
        for _, sample in read_csv_rows(tree.read(name), tree.where(name), policy):
            yield sample


# ---- Kaggle folders -----------------------------------------------------------------------------------------


class FolderAdapter:
    """Kaggle ``train/<emotion>/*.jpg`` and ``test/<emotion>/{PublicTest,PrivateTest}_*.jpg``."""

    name = "fer2013"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        if tree.focus:
            return False
        names = tree.images()
        return any(n.startswith("train/") and "/Training_" in n for n in names) or any(
            "/PrivateTest_" in n for n in names
        )

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        files = [n for n in tree.images() if n.split("/", 1)[0] in ("train", "test")]
        if not files:
            raise DataError(tree.path, "no images under train/ or test/")
        for name in files:
            parts = PurePosixPath(name).parts
            try:
                if len(parts) != 3:
                    raise DataError(tree.where(name), "expected <train|test>/<emotion>/<file>")
                top, cls, fname = parts
                if cls not in TAXONOMY:
                    raise DataError(tree.where(name), f"unknown class folder {cls!r}; known {list(TAXONOMY)}")
                prefix = fname.split("_", 1)[0]
                split = PREFIX_SPLITS.get(prefix)
                if top == "train":
                    split = "train"
                elif split is None or split == "train":
                    raise DataError(tree.where(name), "test file name must start with PublicTest_ or PrivateTest_")
                image = Encoded(tree.read(name), tree.where(name))
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(name, image, split, _one_hot(TAXONOMY.index(cls)))
