"""JAFFE: ``<subject>.<EXPR><n>.<id>.tiff`` (e.g. ``KA.AN1.39.tiff``), 256x256 gray photos with background.

Faces are found and cropped by the same code that inference uses (``ferkit.inference``), so training crops match
what the model sees at run time. An image with no face found is a DataError naming the file. JAFFE has no
official split: every face is ``train``; the subject (``KA``) leads the id, for subject-wise splits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import FACE_SIZE, Sample, one_hot
from ferkit.data.storage import Tree, decode_image
from ferkit.errors import DataError
from ferkit.preprocess import Preprocessing
from ferkit.taxonomy import Taxonomy

if TYPE_CHECKING:
    from ferkit.imaging import Detection
    from ferkit.inference.detectors import Detector

# The expression codes of the file names, in this order.
TAXONOMY = Taxonomy(("AN", "DI", "FE", "HA", "NE", "SA", "SU"))
_FILE_RE = re.compile(r"(?:^|/)([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.tiff?$", re.IGNORECASE)
PREPROCESSING = Preprocessing(size=FACE_SIZE)  # default margin and eye alignment, as a model file would carry


def _detector() -> Detector:
    """The face detector inference uses by default (YuNet, else Haar with a warning); imported lazily."""
    from ferkit.inference.detectors import make_detector

    return make_detector(lazy=False)  # built now: its name keys the cache


def _crop(image: np.ndarray, detection: Detection) -> np.ndarray:
    from ferkit.imaging import crop_face

    return crop_face(image, detection, PREPROCESSING)


def face_of(image: np.ndarray, detector: Detector, where: str) -> np.ndarray:
    """The (48, 48) uint8 crop of the most confident (then largest) face; a DataError when none is found."""
    found = detector.detect(image)
    if not found:
        raise DataError(where, "no face found")
    best = max(found, key=lambda d: (d.score, d.box[2] * d.box[3]))
    return _crop(image, best)


class Adapter:
    """JAFFE ``.tiff`` files named ``<subject>.<EXPR><n>.<id>.tiff``, in any folder; all ``train``."""

    name = "jaffe"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        return tree.focus is None and any(_FILE_RE.search(n) for n in tree.names())

    @staticmethod
    def cache_salt() -> str:
        """The detector and crop settings, so that cached crops are redone when either changes."""
        det = _detector()
        return f"{det.name}\0close_up={getattr(det, 'close_up', None)}\0{PREPROCESSING.to_dict()}"

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        files = [(n, m) for n in tree.names() if (m := _FILE_RE.search(n))]
        if not files:
            raise DataError(tree.path, "no JAFFE files (<subject>.<EXPR><n>.<id>.tiff) found")
        detector = _detector()
        for name, m in files:
            subject, expr = m.group(1).upper(), m.group(2).upper()
            try:
                if expr not in TAXONOMY:
                    raise DataError(tree.where(name), f"unknown expression code {expr!r}; known {list(TAXONOMY)}")
                image = face_of(decode_image(tree.read(name), tree.where(name)), detector, tree.where(name))
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(f"{subject}/{PurePosixPath(name).name}", image, "train", one_hot(TAXONOMY, expr))
