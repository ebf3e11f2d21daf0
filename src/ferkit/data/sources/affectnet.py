"""AffectNet: ``{train_set,val_set}/images/<id>.jpg`` with ``{train_set,val_set}/annotations/<id>_exp.npy``.

The ``_exp.npy`` file holds the expression code (often as a string, ``'3'``). Codes 8 (none), 9 (uncertain) and
10 (no-face) are not expressions: they are dropped and counted in ``SourceData.skipped`` under either error policy.

Splits: ``train_set`` -> train, ``val_set`` -> **test**. AffectNet's own test set was never released, so published
AffectNet accuracies are val_set accuracies; ferkit names it ``test`` so that model selection never looks at it
(carve a validation split out of train instead).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, Split, one_hot
from ferkit.data.storage import Encoded, Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy

# Expression codes 0..7, in this order.
TAXONOMY = Taxonomy(("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"))
DROPPED_CODES: dict[int, str] = {8: "none", 9: "uncertain", 10: "no-face"}
SET_SPLITS: dict[str, Split] = {"train_set": "train", "val_set": "test"}
_ANN_RE = re.compile(r"(?:^|/)(train_set|val_set)/annotations/([^/]+)_exp\.npy$")


def _read_code(data: bytes, where: str) -> int:
    try:
        value = np.load(io.BytesIO(data), allow_pickle=False).reshape(-1)
        if value.size != 1:
            raise ValueError(f"{value.size} values")
        return int(str(value[0]).strip())
    except Exception as e:  # noqa: BLE001  numpy's header parser raises many kinds on damaged bytes (no pickles)
        raise DataError(where, f"not a .npy file holding one expression code ({e})") from None


class Adapter:
    """AffectNet's ``train_set`` / ``val_set`` folders with per-image ``_exp.npy`` annotations."""

    name = "affectnet"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        return tree.focus is None and any(_ANN_RE.search(n) for n in tree.names())

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        found = False
        for set_name, split in SET_SPLITS.items():
            anns = {m.group(2): n for n in tree.names() if (m := _ANN_RE.search(n)) and m.group(1) == set_name}
            if not anns:
                continue
            found = True
            base = next(iter(anns.values())).rsplit("annotations/", 1)[0]
            images = {PurePosixPath(n).stem: n for n in tree.images(base + "images")}
            for key in sorted(anns.keys() | images.keys()):
                try:
                    if key not in images:
                        raise DataError(tree.where(f"{base}images/{key}.jpg"), "missing image for annotation")
                    if key not in anns:
                        raise DataError(tree.where(images[key]), f"no annotations/{key}_exp.npy for this image")
                    code = _read_code(tree.read(anns[key]), tree.where(anns[key]))
                    if code in DROPPED_CODES:
                        policy.drop(tree.where(anns[key]), f"code {code} ({DROPPED_CODES[code]}) is not an expression")
                        continue
                    if not 0 <= code < len(TAXONOMY):
                        raise DataError(tree.where(anns[key]), f"unknown expression code {code} (expected 0..10)")
                    image = Encoded(tree.read(images[key]), tree.where(images[key]))
                except DataError as e:
                    policy.handle(e)
                    continue
                yield Sample(f"{set_name}/{key}", image, split, one_hot(TAXONOMY, TAXONOMY.classes[code]))
        if not found:
            raise DataError(tree.path, "no {train_set,val_set}/annotations/*_exp.npy found (AffectNet layout)")
