"""Any folder of class folders: ``root/<class>/*`` or ``root/<split>/<class>/*``. Detected last.

The source taxonomy is the class folder names as given, sorted; ``Taxonomy.canonical`` resolves spellings such as
``Happiness`` or ``anger`` to ferkit names, and a folder that names no known emotion (``bored``) stays a class of
its own. Split folders: ``train``/``training``, ``val``/``valid``/``validation``, ``test``/``testing``
(case-insensitive); without split folders every image is ``train``. Wrapper folders holding everything
(``my_faces/dataset/<class>/*``) are looked through.

Format ``folder-photos`` (never detected: asked for by ``format`` or ``data.photos``) is the same layout with face
crops and whole photos mixed: an image wider or taller than ``PHOTO_SIDE`` pixels is a photo, whose most confident
face is found and cropped by the inference crop (as for JAFFE); a photo without a face is skipped and counted
(``skipped``), under either error policy. Two class folders that name the same class (``happiness`` and
``happy``) are an error: merge them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, Split, one_hot
from ferkit.data.storage import Encoded, Tree, decode_image
from ferkit.errors import DataError
from ferkit.imaging import PHOTO_SIDE, header_size
from ferkit.taxonomy import Taxonomy, class_key

SPLIT_FOLDERS: dict[str, Split] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


# Words that name a split in a file's path (``train-00000-of-00001.parquet``, ``test_labels.csv``, ``PublicTest``).
SPLIT_WORDS: dict[str, Split] = {**SPLIT_FOLDERS, "dev": "val", "publictest": "val", "privatetest": "test"}


def split_in_name(name: str) -> Split | None:
    """The split that the words of a path name, when they name exactly one (``data/validation-0000.parquet``)."""
    words = set(re.split(r"[^a-z]+", name.lower()))
    hits = {SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS}
    return hits.pop() if len(hits) == 1 else None


def _layout(tree: Tree) -> tuple[str, bool]:
    """(wrapper prefix, whether the folders below it are split folders)."""
    names, prefix = tree.images(), ""
    while names and all(n.count("/") >= 2 for n in names):
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) != 1 or next(iter(tops)).lower() in SPLIT_FOLDERS:
            break
        prefix += tops.pop() + "/"
        names = [n.split("/", 1)[1] for n in names]
    tops = {n.split("/", 1)[0].lower() for n in names if "/" in n}
    return prefix, bool(tops) and tops <= SPLIT_FOLDERS.keys()


def _class_of(name: str, prefix: str, with_splits: bool) -> str | None:
    parts = PurePosixPath(name[len(prefix) :]).parts
    depth = 3 if with_splits else 2
    return parts[depth - 2] if len(parts) == depth else None


class Adapter:
    """``root/<class>/*`` or ``root/<split>/<class>/*``, classes named by their folders."""

    name = "folder"
    taxonomy = Taxonomy(("<class folders>",))  # placeholder: the real one depends on the tree, see taxonomy_of

    @staticmethod
    def detect(tree: Tree) -> bool:
        return tree.focus is None and any("/" in n for n in tree.images())

    @staticmethod
    def taxonomy_of(tree: Tree) -> Taxonomy:
        """The class folder names found in ``tree``, sorted."""
        prefix, with_splits = _layout(tree)
        names = {c for n in tree.images() if (c := _class_of(n, prefix, with_splits)) is not None}
        if not names:
            raise DataError(tree.path, "no class folders with images (expected <class>/* or <split>/<class>/*)")
        same: dict[str, list[str]] = {}
        for n in sorted(names):
            same.setdefault(class_key(n), []).append(n)
        for cls, folders in same.items():
            if len(folders) > 1:
                raise DataError(
                    tree.path, f"class folders {' and '.join(folders)} are the same class ({cls}); merge them into one"
                )
        return Taxonomy(tuple(sorted(names)))

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        return _read(tree, policy, photos=False)


class PhotosAdapter(Adapter):
    """Class folders of face crops and whole photos (images over ``PHOTO_SIDE`` px): photos' faces are cropped."""

    name = "folder-photos"

    @staticmethod
    def detect(tree: Tree) -> bool:
        return False  # asked for by name only

    @staticmethod
    def cache_salt() -> str:
        """The crop settings and the photo threshold key the cache too."""
        from ferkit.data.sources.jaffe import PREPROCESSING
        from ferkit.inference.detectors import CLOSE_UP

        return f"photos>{PHOTO_SIDE}\0close_up={CLOSE_UP}\0{PREPROCESSING.to_dict()}"

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        return _read(tree, policy, photos=True)


class FaceFiles:
    """Image files of a tree as training faces: a face crop as it is (``Encoded``, decoded later); with ``photos``,
    a photo (wider or taller than ``PHOTO_SIDE``) as its most confident face, cropped as at inference (the detector
    built on first use), or None for a photo without a face (recorded in ``policy`` under either error policy)."""

    def __init__(self, tree: Tree, policy: ErrorPolicy, photos: bool) -> None:
        self.tree, self.policy, self.photos = tree, policy, photos
        self.detector = None

    def __call__(self, name: str) -> Encoded | np.ndarray | None:
        data, where = self.tree.read(name), self.tree.where(name)
        size = header_size(data) if self.photos else None
        if size is None or max(size) <= PHOTO_SIDE:
            return Encoded(data, where)
        from ferkit.data.sources import jaffe

        self.detector = self.detector or jaffe._detector()
        try:
            return jaffe.face_of(decode_image(data, where, gray=False), self.detector, where)
        except DataError as e:
            if e.reason != "no face found":
                raise
            self.policy.drop(where, "no face found in the photo")
            return None


def _read(tree: Tree, policy: ErrorPolicy, photos: bool) -> Iterator[Sample]:
    taxonomy = Adapter.taxonomy_of(tree)
    prefix, with_splits = _layout(tree)
    faces = FaceFiles(tree, policy, photos)
    for name in tree.images():
        try:
            cls = _class_of(name, prefix, with_splits)
            if cls is None:
                layout = "<split>/<class>/<file>" if with_splits else "<class>/<file>"
                raise DataError(tree.where(name), f"not in the layout {layout}")
            if (image := faces(name)) is None:
                continue
        except DataError as e:
            policy.handle(e)
            continue
        split = SPLIT_FOLDERS[name[len(prefix) :].split("/", 1)[0].lower()] if with_splits else "train"
        yield Sample(name, image, split, one_hot(taxonomy, cls))
