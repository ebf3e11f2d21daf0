"""CK+ as the common CK+48 re-upload: ``CK+48/<emotion>/S###_###_########.png``, 48x48 gray.

CK+ has no official split: every face is ``train``. File names are ``<subject>_<sequence>_<frame>``, and each
sequence contributes several near-identical frames, so any split of CK+ must be subject-wise: ``subject(id)``
gives the subject of a sample id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, one_hot
from ferkit.data.storage import Encoded, Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy

# The class folders, in alphabetical order (the re-upload's own spellings).
TAXONOMY = Taxonomy(("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"))
_FILE_RE = re.compile(r"(?:^|/)([a-z]+)/(S\d{3})_\d{3}_\d{8}\.png$", re.IGNORECASE)


def subject(sample_id: str) -> str:
    """The CK+ subject (``S010``) of a sample id such as ``anger/S010_004_00000017.png``."""
    return PurePosixPath(sample_id).name.split("_", 1)[0]


class Adapter:
    """``CK+48/<anger|contempt|disgust|fear|happy|sadness|surprise>/S###_###_########.png``; all ``train``."""

    name = "ckplus"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        if tree.focus:
            return False
        return any((m := _FILE_RE.search(n)) and m.group(1).lower() in TAXONOMY for n in tree.images())

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        files = tree.images()
        if not files:
            raise DataError(tree.path, "no images found (CK+48 layout <emotion>/S###_###_########.png)")
        for name in files:
            parts = PurePosixPath(name).parts
            try:
                cls = parts[-2].lower() if len(parts) >= 2 else ""
                if cls not in TAXONOMY:
                    raise DataError(tree.where(name), f"unknown class folder {cls!r}; known {list(TAXONOMY)}")
                image = Encoded(tree.read(name), tree.where(name))
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(f"{cls}/{parts[-1]}", image, "train", one_hot(TAXONOMY, cls))
