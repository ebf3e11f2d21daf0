"""Faces to label: the least certain predictions of a folder, written as crops into ``DIR/<predicted class>/`` for
a person to sort (``ferkit predict FOLDER --review DIR --uncertain N``).

A person moves the wrong ones into the right class folders (new ones such as ``confused/`` too), and the folder is
then a training source as it is (``configs/own-classes.yaml``). Crops are the inference crop's square, at most
``REVIEW_SIDE`` pixels wide: small enough that the folder adapter takes them as crops, not as photos to detect in.
``DIR/review.csv`` links each crop to its source image and box.
"""

from __future__ import annotations

import csv
import heapq
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.imaging import Detection, crop_square
from ferkit.inference.predictor import Face
from ferkit.preprocess import Preprocessing

REVIEW_SIDE = 96  # pixels; the folder adapter treats images up to this side as face crops
COLUMNS = ["crop", "source", "face", "x", "y", "w", "h", "label", "score"]


@dataclass(order=True)
class _Item:
    certainty: float  # the top probability: the heap keeps the N lowest
    order: int
    path: str = field(compare=False)
    face: int = field(compare=False)
    found: Face = field(compare=False)
    crop: np.ndarray = field(compare=False)


class ReviewPicker:
    """Keeps the ``n`` least certain faces seen (lowest top probability; ties: the first seen), with their crops.

    Memory holds ``n`` crops at most, however many images pass.
    """

    def __init__(self, n: int, preprocessing: Preprocessing) -> None:
        if n < 1:
            raise FerkitError(f"--uncertain must be at least 1, got {n}")
        self.n, self.preprocessing, self.seen = n, preprocessing, 0
        self._heap: list[_Item] = []  # a max-heap on certainty, by negation

    def add(self, path: str, image: np.ndarray, faces: list[Face]) -> None:
        for i, f in enumerate(faces):
            self.seen += 1
            key = (-f.score, -self.seen)
            if len(self._heap) >= self.n and key <= (self._heap[0].certainty, self._heap[0].order):
                continue
            marks = np.asarray(f.landmarks, np.float32) if f.landmarks is not None else None
            square = crop_square(
                image,
                Detection(f.box, f.detection_score, marks, f.whole),
                self.preprocessing.margin,
                self.preprocessing.align,
            )
            if square.shape[0] > REVIEW_SIDE:
                square = cv2.resize(square, (REVIEW_SIDE, REVIEW_SIDE), interpolation=cv2.INTER_AREA)
            item = _Item(-f.score, -self.seen, path, i, f, square)
            if len(self._heap) < self.n:
                heapq.heappush(self._heap, item)
            else:
                heapq.heapreplace(self._heap, item)

    def picked(self) -> list[_Item]:
        """The kept faces, least certain first."""
        return sorted(self._heap, key=lambda it: (-it.certainty, -it.order))

    def write(self, out: str | Path) -> Path:
        """Crops into ``out/<predicted class>/`` and ``out/review.csv``; returns the CSV's path.

        Raises:
            FerkitError: ``out`` already holds a review (its CSV), or a crop cannot be written.
        """
        out = Path(out)
        table = out / "review.csv"
        if table.exists():
            raise FerkitError(f"{table}: exists; review into another folder, or move the sorted one away first")
        out.mkdir(parents=True, exist_ok=True)
        with open(table, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for k, it in enumerate(self.picked()):
                name = f"{it.found.label}/{k:05d}_{Path(it.path).stem}_{it.face}.png"
                (out / it.found.label).mkdir(exist_ok=True)
                if not cv2.imwrite(str(out / name), it.crop):
                    raise FerkitError(f"{out / name}: cannot write the crop")
                w.writerow(
                    [
                        name,
                        it.path,
                        it.face,
                        *(round(v, 1) for v in it.found.box),
                        it.found.label,
                        round(it.found.score, 4),
                    ]
                )
        return table
