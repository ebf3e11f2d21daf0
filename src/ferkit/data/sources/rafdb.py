"""RAF-DB basic: the official layout and a common re-upload. Both use the codes 1..7 below.

- official: ``basic/EmoLabel/list_patition_label.txt`` (sic) with lines ``train_00001.jpg 5`` and the aligned
  faces ``basic/Image/aligned/train_00001_aligned.jpg`` (100x100 RGB). The path may be ``basic/``, its parent,
  or a zip of either.
- re-upload: ``DATASET/{train,test}/<1-7>/*.jpg`` plus optional ``train_labels.csv`` / ``test_labels.csv``
  (``image,label``); where both a folder and a CSV give a label they must agree.

Splits: the ``train_`` / ``test_`` name prefix (or the top folder). RAF-DB has no validation split: carve one
out of train for model selection, never use test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, Split, one_hot
from ferkit.data.sources.text import csv_records, decode_text
from ferkit.data.storage import Encoded, Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy

# RAF-DB codes 1..7, in this order (index = code - 1). Not the FER-2013 order.
TAXONOMY = Taxonomy(("surprise", "fear", "disgust", "happy", "sad", "angry", "neutral"))
LABEL_FILE = "EmoLabel/list_patition_label.txt"
PREFIX_SPLITS: dict[str, Split] = {"train": "train", "test": "test"}


def _code(text: str, where: str, line: int | None = None) -> str:
    """The class name of a RAF-DB code given as text; a DataError for anything but 1..7."""
    try:
        code = int(text.strip())
    except ValueError:
        raise DataError(where, f"label {text!r} is not an integer", row=line) from None
    if not 1 <= code <= len(TAXONOMY):
        raise DataError(where, f"unknown label code {code} (expected 1..7)", row=line)
    return TAXONOMY.classes[code - 1]


def _split_of(name: str, where: str, line: int | None = None) -> Split:
    split = PREFIX_SPLITS.get(name.split("_", 1)[0])
    if split is None:
        raise DataError(where, f"file name {name!r} must start with train_ or test_", row=line)
    return split


# ---- official layout ----------------------------------------------------------------------------------------


def _base(tree: Tree) -> str | None:
    for n in tree.names():
        if n == LABEL_FILE or n.endswith("/" + LABEL_FILE):
            return n[: -len(LABEL_FILE)]
    return None


class BasicAdapter:
    """``basic/EmoLabel/list_patition_label.txt`` + ``basic/Image/aligned/*_aligned.jpg``."""

    name = "rafdb"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        return _base(tree) is not None

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        base = _base(tree)
        if base is None:
            raise DataError(tree.path, f"no {LABEL_FILE} found (RAF-DB basic layout)")
        where = tree.where(base + LABEL_FILE)
        for i, line in enumerate(decode_text(tree.read(base + LABEL_FILE)).splitlines()):
            if not line.strip():
                continue
            try:
                fields = line.split()
                if len(fields) != 2:
                    raise DataError(where, f"expected '<image> <label>', found {line!r}", row=i + 1)
                fname, code = fields
                cls = _code(code, where, i + 1)
                split = _split_of(fname, where, i + 1)
                image_name = f"{base}Image/aligned/{PurePosixPath(fname).stem}_aligned.jpg"
                image = Encoded(tree.read(image_name), tree.where(image_name))
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(PurePosixPath(fname).stem, image, split, one_hot(TAXONOMY, cls))


# ---- re-upload: DATASET/{train,test}/<1-7>/ -----------------------------------------------------------------

_FOLDER_RE = re.compile(r"(?:^|/)(train|test)/([1-7])/[^/]+$")
_SPLIT_RE = re.compile(r"(?:^|/)(train|test)/")


def _csv_labels(tree: Tree, split: str, policy: ErrorPolicy) -> dict[str, tuple[str, str, int]]:
    """``{image file name: (class, csv file, row)}`` from ``<split>_labels.csv`` anywhere in the tree (first found)."""
    name = next((n for n in tree.names() if PurePosixPath(n).name == f"{split}_labels.csv"), None)
    if name is None:
        return {}
    where = tree.where(name)
    rows = list(csv_records(decode_text(tree.read(name)), where, policy))
    if not rows or rows[0][0] != 1 or [h.strip().lower() for h in rows[0][1][:2]] != ["image", "label"]:
        raise DataError(where, "expected a header 'image,label'", row=1)
    out: dict[str, tuple[str, str, int]] = {}
    for i, row in rows[1:]:
        if not any(f.strip() for f in row):
            continue
        try:
            if len(row) < 2:
                raise DataError(where, f"expected 2 fields, found {len(row)}", row=i)
            out[row[0].strip()] = (_code(row[1], where, i), where, i)
        except DataError as e:
            policy.handle(e)
    return out


class FolderAdapter:
    """``DATASET/{train,test}/<1-7>/*.jpg`` with optional ``{train,test}_labels.csv``."""

    name = "rafdb-folders"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        return tree.focus is None and any(_FOLDER_RE.search(n) for n in tree.images())

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        files = [(n, m) for n in tree.images() if (m := _FOLDER_RE.search(n))]
        if not files:
            raise DataError(tree.path, "no images under {train,test}/<1-7>/ (RAF-DB re-upload layout)")
        csv_labels = {s: _csv_labels(tree, s, policy) for s in PREFIX_SPLITS}
        for n in tree.images():  # e.g. train/8/x.jpg: not silently ignored
            if _SPLIT_RE.search(n) and not _FOLDER_RE.search(n):
                policy.handle(DataError(tree.where(n), "expected {train,test}/<label 1-7>/<file>"))
        seen = {(m.group(1), PurePosixPath(n).name) for n, m in files}
        for split, labels in csv_labels.items():
            for fname, (_, where, row) in labels.items():
                if (split, fname) not in seen:  # a labelled image that is not there is never dropped silently
                    policy.handle(DataError(where, f"{fname} is not under {split}/<1-7>/", row=row))
        for name, m in files:
            split, code = m.group(1), m.group(2)
            fname = PurePosixPath(name).name
            try:
                cls = _code(code, tree.where(name))
                if fname in csv_labels[split] and csv_labels[split][fname][0] != cls:
                    csv_cls, csv_file, row = csv_labels[split][fname]
                    raise DataError(
                        tree.where(name),
                        f"folder says {cls!r} but {csv_file}, row {row} says {csv_cls!r} (labels disagree)",
                    )
                image = Encoded(tree.read(name), tree.where(name))
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(f"{split}/{code}/{fname}", image, PREFIX_SPLITS[split], one_hot(TAXONOMY, cls))
