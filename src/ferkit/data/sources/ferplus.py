"""FER+ (Microsoft): 10 crowd votes per FER-2013 image.

Two layouts:
- generated: ``data/FER2013{Train,Valid,Test}/`` with ``label.csv`` (``name,"(0, 0, 48, 48)",<10 votes>``) and PNGs;
- ``fer2013new.csv`` (``Usage,Image name,<10 votes>``) next to a FER-2013 CSV, matched row by row by position.

Targets are the raw vote counts over the 10 columns below; ``ferkit.data.votes`` turns them into labels with one
of the FER+ paper's policies (and drops ``unknown`` / ``NF`` faces as the paper does).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, Split
from ferkit.data.sources.fer2013 import USAGE_SPLITS, find_csv, read_csv_rows
from ferkit.data.sources.text import csv_records, decode_text
from ferkit.data.storage import Encoded, Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy

# Vote columns, in file order. "unknown" and "NF" (not a face) map to no emotion.
TAXONOMY = Taxonomy(
    ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
)
FOLDER_SPLITS: dict[str, Split] = {"FER2013Train": "train", "FER2013Valid": "val", "FER2013Test": "test"}


def _votes(fields: list[str], where: str, line: int) -> np.ndarray:
    if len(fields) != len(TAXONOMY):
        raise DataError(where, f"expected {len(TAXONOMY)} vote columns, found {len(fields)}", row=line)
    try:
        votes = np.array([float(f) for f in fields], np.float32)
    except ValueError:
        raise DataError(where, f"votes must be numbers, found {fields}", row=line) from None
    if (votes < 0).any() or votes.sum() <= 0:
        raise DataError(where, "votes must be non-negative with a positive sum", row=line)
    return votes


def _label_dir(tree: Tree, folder: str) -> str | None:
    for n in tree.names():
        if n.endswith(f"{folder}/label.csv"):
            return n[: -len("label.csv")]
    return None


class FolderAdapter:
    """The generated layout, ``data/FER2013{Train,Valid,Test}/label.csv`` + PNGs."""

    name = "ferplus"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        return any(_label_dir(tree, f) for f in FOLDER_SPLITS)

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        found = False
        for folder, split in FOLDER_SPLITS.items():
            base = _label_dir(tree, folder)
            if base is None:
                continue
            found = True
            label_file = base + "label.csv"
            where = tree.where(label_file)
            for line, row in csv_records(decode_text(tree.read(label_file)), where, policy):
                if not any(f.strip() for f in row):
                    continue
                try:
                    if len(row) < 2 + len(TAXONOMY):
                        raise DataError(where, f"expected 12 fields, found {len(row)}", row=line)
                    votes = _votes(row[2 : 2 + len(TAXONOMY)], where, line)
                    name = base + row[0].strip()
                    image = Encoded(tree.read(name), tree.where(name))
                except DataError as e:
                    policy.handle(e)
                    continue
                yield Sample(f"{folder}/{row[0].strip()}", image, split, votes)
        if not found:
            raise DataError(tree.path, "no FER2013{Train,Valid,Test}/label.csv found")


MISSING_FER2013 = (
    "FER+ votes (fer2013new.csv) label the faces of FER-2013's fer2013.csv, which is not beside it: put "
    "the original fer2013.csv (emotion,pixels,Usage) in the same folder"
)


def votes_without_faces(tree: Tree) -> bool:
    """Whether the tree holds FER+'s fer2013new.csv (or is it) but no FER-2013 CSV whose faces it labels."""
    names = [tree.focus] if tree.focus else tree.names()
    return any(n.endswith("fer2013new.csv") for n in names) and find_csv(tree) is None


class CsvAdapter:
    """``fer2013new.csv`` together with the original ``fer2013.csv`` in the same folder or zip.

    The path may also be ``fer2013new.csv`` itself, with ``fer2013.csv`` beside it.
    """

    name = "ferplus-csv"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        if tree.focus and not tree.focus.endswith("fer2013new.csv"):
            return False
        return any(n.endswith("fer2013new.csv") for n in tree.names()) and find_csv(tree) is not None

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        new = next((n for n in tree.names() if n.endswith("fer2013new.csv")), None)
        old = find_csv(tree)
        if new is None or old is None:
            raise DataError(tree.path, MISSING_FER2013)
        where = tree.where(new)
        strict = ErrorPolicy("raise")  # the label file is all or nothing: its rows pair with fer2013.csv's by position
        rows = [row for _, row in csv_records(decode_text(tree.read(new)), where, strict)]
        if not rows or rows[0][:2] != ["Usage", "Image name"]:
            raise DataError(where, "expected header 'Usage,Image name,<10 votes>'", row=1)
        votes_rows = rows[1:]
        while votes_rows and not any(f.strip() for f in votes_rows[-1]):  # blank lines at the end are not rows
            votes_rows.pop()
        # Both files are in the same order: FER+ row i labels FER-2013 row i. Names are not row numbers.
        faces = {idx: s for idx, s in read_csv_rows(tree.read(old), tree.where(old), strict)}
        if len(faces) != len(votes_rows):
            raise DataError(where, f"{len(votes_rows)} label rows but {len(faces)} FER-2013 rows")
        for idx, row in enumerate(votes_rows):
            line = idx + 2
            try:
                if len(row) != 2 + len(TAXONOMY):
                    raise DataError(where, f"expected 12 fields, found {len(row)}", row=line)
                if not row[1].strip():
                    continue  # FER+ dropped this image (documented: 173 rows have no name)
                if row[0] not in USAGE_SPLITS:
                    raise DataError(where, f"unknown Usage {row[0]!r}", row=line)
                votes = _votes(row[2:], where, line)
            except DataError as e:
                policy.handle(e)
                continue
            face = faces[idx]
            yield Sample(row[1].strip(), face.image, USAGE_SPLITS[row[0]], votes)
