"""AffectNet: ``{train_set,val_set}/images/<id>.jpg`` with ``{train_set,val_set}/annotations/<id>_exp.npy``.

The ``_exp.npy`` file holds the expression code (often as a string, ``'3'``). Codes 8 (none), 9 (uncertain) and
10 (no-face) are not expressions: they are dropped and counted in ``SourceData.skipped`` under either error policy.

Splits: ``train_set`` -> train, ``val_set`` -> **test**. AffectNet's own test set was never released, so published
AffectNet accuracies are val_set accuracies; ferkit names it ``test`` so that model selection never looks at it
(carve a validation split out of train instead).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, Split, one_hot
from ferkit.data.sources.text import column_names, csv_records, decode_text, first_line
from ferkit.data.storage import Encoded, Tree, decode_image
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


# ---- the original release: file lists with face boxes ------------------------------------------------------------

LIST_SPLITS: dict[str, Split] = {"training.csv": "train", "validation.csv": "test"}
LIST_COLUMNS = ("subdirectoryfilepath", "facex", "facey", "facewidth", "faceheight", "faciallandmarks", "expression")


def _list_header(tree: Tree, name: str) -> dict[str, int] | None:
    """The columns of an original-release file list (``subDirectory_filePath,face_x,...,expression,...``), or None."""
    if not name.endswith(tuple(LIST_SPLITS)):
        return None
    names = column_names(first_line(decode_text(tree.head(name))), ",")
    return {c: names.index(c) for c in LIST_COLUMNS} if set(LIST_COLUMNS) <= set(names) else None


@dataclass(frozen=True)
class BoxCrop(Encoded):
    """An image's bytes and the face box (and landmarks) a file list gives for it; ``face()`` decodes the image and
    crops that face as inference crops a detected one (so on the decoding thread pool, like any ``Encoded``)."""

    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    landmarks: np.ndarray | None = None

    def face(self) -> np.ndarray:
        from ferkit.data.sources.jaffe import PREPROCESSING
        from ferkit.imaging import Detection, crop_face

        image = decode_image(self.data, self.where, gray=False)
        (h, w), (x, y, bw, bh) = image.shape[:2], self.box
        if x >= w or y >= h or x + bw <= 0 or y + bh <= 0 or max(bw, bh) > 2 * max(w, h):
            raise DataError(self.where, f"face box {self.box} does not frame a face of this {w}x{h} image")
        return crop_face(image, Detection(self.box, 1.0, self.landmarks), PREPROCESSING)


def five_points(text: str) -> np.ndarray | None:
    """ferkit's five landmarks (the subject's right and left eye centres, nose tip, right and left mouth corners)
    from the 68 of a file list (``x1;y1;x2;y2;...``); None when the field is not 136 numbers."""
    try:
        pts = np.array([float(v) for v in text.replace(",", ";").split(";") if v.strip()], np.float32).reshape(68, 2)
    except ValueError:
        return None
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]]).astype(np.float32)


class ListsAdapter:
    """AffectNet as first released: ``Manually_Annotated_file_lists/{training,validation}.csv`` (one row per image:
    ``subDirectory_filePath``, the face box ``face_x, face_y, face_width, face_height``, 68 ``facial_landmarks``,
    ``expression``, ...) and the images under ``Manually_Annotated_Images/``. Each face is cropped from its image at
    the listed box, aligned by the eyes of its landmarks, as inference crops a detected face. Codes 8-10 are dropped
    and counted, as in ``affectnet``; ``training.csv`` -> train, ``validation.csv`` -> test. The automatically
    annotated list (noisy labels) is not read."""

    name = "affectnet-lists"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        return tree.focus is None and any(_list_header(tree, n) for n in tree.names())

    @staticmethod
    def cache_salt() -> str:
        from ferkit.data.sources.jaffe import PREPROCESSING

        return f"box crop\0{PREPROCESSING.to_dict()}"

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        by_tail = {"/".join(PurePosixPath(n).parts[-2:]): n for n in tree.images()}  # "689/737db2...jpg" -> name
        seen: dict[str, str] = {}
        for name in tree.names():
            cols = _list_header(tree, name)
            if cols is None:
                continue
            where, split = tree.where(name), LIST_SPLITS[PurePosixPath(name).name]
            for line, row in csv_records(decode_text(tree.read(name)), where, policy):
                if line == 1 or not any(f.strip() for f in row):
                    continue
                try:
                    sample = _list_row(tree, row, cols, by_tail, where, line, split, policy)
                    if sample is not None and sample.id in seen:
                        raise DataError(where, f"{sample.id} is listed again (first: {seen[sample.id]})", row=line)
                except DataError as e:
                    policy.handle(e)
                    continue
                if sample is not None:
                    seen[sample.id] = f"{where}, row {line}"
                    yield sample


def _list_row(tree: Tree, row: list[str], cols: dict[str, int], by_tail: dict[str, str], where: str, line: int,
              split: Split, policy: ErrorPolicy) -> Sample | None:  # fmt: skip
    """One file-list row as a sample; None for a code that is not an expression (dropped and counted)."""
    if len(row) <= max(cols.values()):
        raise DataError(where, f"expected at least {max(cols.values()) + 1} fields, found {len(row)}", row=line)
    path = row[cols["subdirectoryfilepath"]].strip().replace("\\", "/")
    image = by_tail.get("/".join(PurePosixPath(path).parts[-2:]))
    if image is None:
        raise DataError(where, f"image {path!r} is not in the dataset", row=line)
    try:
        code = int(float(row[cols["expression"]]))
        x, y, w, h = (float(row[cols[c]]) for c in ("facex", "facey", "facewidth", "faceheight"))
    except ValueError:
        raise DataError(where, "expression and face box must be numbers", row=line) from None
    if code in DROPPED_CODES:
        policy.drop(f"{where}, row {line}", f"code {code} ({DROPPED_CODES[code]}) is not an expression")
        return None
    if not 0 <= code < len(TAXONOMY):
        raise DataError(where, f"unknown expression code {code} (expected 0..10)", row=line)
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise DataError(where, f"empty or undefined face box ({x:g}, {y:g}, {w:g} x {h:g})", row=line)
    crop = BoxCrop(tree.read(image), tree.where(image), (x, y, w, h), five_points(row[cols["faciallandmarks"]]))
    return Sample(path, crop, split, one_hot(TAXONOMY, TAXONOMY.classes[code]))
