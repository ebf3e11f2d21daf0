"""A label table: images anywhere in a folder or zip, and a CSV that names each image's file and label.

The layout of many re-uploads: ``legend.csv`` (``user.id,image,emotion``) beside ``images/``; ``labels.csv``
(``pth,label``) beside class folders; ``train.csv`` / ``test.csv`` (``image_id,emotion``) beside ``images/``.
Detected before the generic class-folder layout, when a CSV (or TSV) in the tree has a file column and a label
column by name and its first rows name images of the tree.

- File column: ``image``, ``file``, ``filename``, ``path``, ``pth``, ``img``, ``image_id``, ... (any case or
  punctuation). A value is found relative to the table's folder, then to the tree's root, then by its file name
  alone anywhere in the tree, with or without its extension; a value that matches no image, or several, is an
  error naming the table's row.
- Label column: the FER-2013 CSV's names (``emotion``, ``label``, ``expression``, ``class``, ...). Labels are
  classes as written, spellings of one class merged (``happiness``, ``HAPPINESS`` and ``happy`` are ``happy``),
  like class folders: a label that names no known emotion, a number included (``3``: no order of codes can be
  assumed), stays a class of its own. A blank label is an error naming the row.
- Split: a split column (``Usage``, ``split``, ``set``: ``Training`` / ``train`` / ``PublicTest`` / ``val`` / ...),
  else a split word in the table's file name (``train_labels.csv``), else the image's top folder (``train/``),
  else ``train``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import PurePosixPath

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, Split, one_hot
from ferkit.data.sources import folder
from ferkit.data.sources.fer2013 import COLUMNS, split_value
from ferkit.data.sources.text import DELIMITERS, column_names, csv_records, decode_text, first_line
from ferkit.data.storage import Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy, class_key

FILE_COLUMNS = ("image", "images", "img", "file", "filename", "files", "path", "filepath", "pth", "imagepath",
                "imgpath", "imagename", "imagefile", "imageid", "imgname", "imgid", "picture", "photo")  # fmt: skip
TABLE_SUFFIXES = (".csv", ".tsv")
PROBE_ROWS = 20  # a table is one when one of its first rows names an image of the tree


def parse_table_header(line: str) -> tuple[str, int, int, int | None] | None:
    """(delimiter, file column, label column, split column or None) of a label table's header line, or None."""
    line = line.lstrip("\ufeff")
    for delimiter in DELIMITERS:
        names = column_names(line, delimiter)
        files = [i for i, n in enumerate(names) if n in FILE_COLUMNS]
        labels = [i for i, n in enumerate(names) if n in COLUMNS["emotion"]]
        if files and labels:
            splits = [i for i, n in enumerate(names) if n in COLUMNS["usage"]]
            return delimiter, files[0], labels[0], splits[0] if splits else None
    return None


def is_table_file(tree: Tree) -> bool:
    """Whether the tree is one file (the path a user gave) with a label table's header."""
    if tree.focus is None or not tree.focus.lower().endswith(TABLE_SUFFIXES):
        return False
    return parse_table_header(first_line(decode_text(tree.head(tree.focus)))) is not None


class _Images:
    """The images of a tree, found by a table's file value (see the module docstring)."""

    def __init__(self, tree: Tree) -> None:
        self.names = set(tree.images())
        self.by_name: dict[str, list[str]] = {}
        self.by_stem: dict[str, list[str]] = {}
        for n in sorted(self.names):
            base = PurePosixPath(n).name.lower()
            self.by_name.setdefault(base, []).append(n)
            self.by_stem.setdefault(base.rsplit(".", 1)[0], []).append(n)

    def find(self, value: str, base: str) -> list[str]:
        v = value.strip().replace("\\", "/")  # Windows separators too
        while v.startswith(("./", "/")):
            v = v[1:] if v.startswith("/") else v[2:]
        if not v:
            return []
        for cand in (posixpath.normpath(f"{base}{v}"), v):  # data/../images/a.png = images/a.png
            if cand in self.names:
                return [cand]
        base = PurePosixPath(v).name.lower()
        return self.by_name.get(base) or self.by_stem.get(base, [])


def _tables(tree: Tree) -> list[tuple[str, tuple[str, int, int, int | None]]]:
    """The label tables of a tree: (name, parsed header), for each CSV / TSV whose header has a file and a label
    column and whose first rows name an image of the tree."""
    if tree.focus is not None or not tree.images():
        return []
    images, found = None, []
    for name in tree.names():
        if not name.lower().endswith(TABLE_SUFFIXES):
            continue
        text = decode_text(tree.head(name, 1 << 16))
        header = parse_table_header(first_line(text))
        if header is None:
            continue
        images = images or _Images(tree)
        base = _folder_of(name)
        rows = [r for _, r in csv_records(text, name, ErrorPolicy("skip"), header[0])][1 : PROBE_ROWS + 1]
        if any(len(r) > header[1] and images.find(r[header[1]], base) for r in rows):
            found.append((name, header))
    return found


def _folder_of(name: str) -> str:
    """The folder of a tree path, with its slash ("" at the root): where a table's relative file values start."""
    return name.rsplit("/", 1)[0] + "/" if "/" in name else ""


def _rows(tree: Tree, policy: ErrorPolicy) -> Iterator[tuple[str, int, str, str, Split | None]]:
    """(table, file line, image name, label as written, split or None) of every good row of every table. An image
    listed twice is an error at its second row (a face counted twice, or with two labels)."""
    images, seen = _Images(tree), {}
    for name, (delimiter, file_col, label_col, split_col) in _tables(tree):
        where, base = tree.where(name), _folder_of(name)
        table_split = folder.split_in_name(PurePosixPath(name).stem)
        width = max(c for c in (file_col, label_col, split_col) if c is not None) + 1
        for line, row in csv_records(decode_text(tree.read(name)), where, policy, delimiter):
            if line == 1 or not any(f.strip() for f in row):  # the header; blank lines
                continue
            try:
                if len(row) < width:
                    raise DataError(where, f"expected at least {width} fields, found {len(row)}", row=line)
                hits = images.find(row[file_col], base)
                if len(hits) != 1:
                    what = f"{len(hits)} images ({', '.join(hits[:3])})" if hits else "no image in the dataset"
                    raise DataError(where, f"file {row[file_col].strip()!r} names {what}", row=line)
                if hits[0] in seen:
                    raise DataError(where, f"{hits[0]} is listed again (first: {seen[hits[0]]})", row=line)
                label = row[label_col].strip()
                if not label:
                    raise DataError(where, "blank label", row=line)
                split = table_split
                if split_col is not None:
                    split = split_value(row[split_col])
                    if split is None:
                        raise DataError(where, f"unknown split {row[split_col].strip()!r}", row=line)
            except DataError as e:
                policy.handle(e)
                continue
            seen[hits[0]] = f"{where}, row {line}"
            yield name, line, hits[0], label, split


class Adapter:
    """Images named by a label table (CSV / TSV with a file column and a label column)."""

    name = "labels-csv"
    taxonomy = Taxonomy(("<table labels>",))  # placeholder: the real one depends on the table, see taxonomy_of

    @staticmethod
    def detect(tree: Tree) -> bool:
        return bool(_tables(tree))

    @staticmethod
    def taxonomy_of(tree: Tree) -> Taxonomy:
        """The labels of the tables, one class per spelling group: its ferkit name, or the label lower-cased."""
        classes = {class_key(label) for *_, label, _ in _rows(tree, ErrorPolicy("skip"))}
        if not classes:
            raise DataError(tree.path, "no label table row names an image with a label")
        return Taxonomy(tuple(sorted(classes)))

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        return _read(tree, policy, photos=False)


class PhotosAdapter(Adapter):
    """A label table of face crops and whole photos (images over ``PHOTO_SIDE`` px): photos' faces are cropped, as
    in format ``folder-photos``."""

    name = "labels-csv-photos"
    cache_salt = staticmethod(folder.PhotosAdapter.cache_salt)  # the crop settings key the cache

    @staticmethod
    def detect(tree: Tree) -> bool:
        return False  # asked for by name only (``format``, ``data.photos``)

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        return _read(tree, policy, photos=True)


def _read(tree: Tree, policy: ErrorPolicy, photos: bool) -> Iterator[Sample]:
    taxonomy = Adapter.taxonomy_of(tree)
    faces = folder.FaceFiles(tree, policy, photos)
    for _, _, name, label, split in _rows(tree, policy):
        try:
            if (image := faces(name)) is None:
                continue
        except DataError as e:
            policy.handle(e)
            continue
        if split is None:
            top = name.split("/", 1)[0].lower() if "/" in name else ""
            split = folder.SPLIT_FOLDERS.get(top, "train")
        yield Sample(name, image, split, one_hot(taxonomy, class_key(label)))
