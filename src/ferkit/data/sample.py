"""What a sample is, apart from where it is stored.

Adapters yield ``Sample`` objects in their source's own taxonomy; ``SourceData`` holds one source as
in-memory arrays (the unit that is cached, fused and trained on).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ferkit.data.storage import Encoded
from ferkit.taxonomy import Taxonomy

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
FACE_SIZE = 48  # every adapter yields FACE_SIZE x FACE_SIZE uint8 grayscale faces


@dataclass(frozen=True)
class Sample:
    """One face with its label, in its source's taxonomy.

    Attributes:
        id: stable identifier within the source (e.g. ``train/angry/Training_10118481.jpg`` or ``row 17``).
        image: (48, 48) uint8 grayscale; adapters may yield the ``Encoded`` bytes instead, which ``read_source``
            decodes in parallel before anything else sees the sample.
        split: ``train``, ``val`` or ``test``.
        target: (C,) float32 over the source taxonomy: one-hot for a hard label, vote counts for crowd labels.
    """

    id: str
    image: np.ndarray | Encoded
    split: Split
    target: np.ndarray


@dataclass(frozen=True)
class Skip:
    """A record that was skipped with ``on_error="skip"``: where, and why."""

    where: str
    reason: str


@dataclass
class SourceData:
    """One dataset source as arrays.

    Attributes:
        name: short source name (e.g. ``fer2013``), used in reports.
        format: adapter name that read it.
        path: what the user pointed at.
        taxonomy: the source's own class order; ``targets`` columns follow it.
        images: (N, 48, 48) uint8.
        targets: (N, C) float32, one-hot or vote counts over ``taxonomy``.
        splits: (N,) array of split names.
        ids: (N,) array of sample ids.
        skipped: records dropped under ``on_error="skip"``.
    """

    name: str
    format: str
    path: str
    taxonomy: Taxonomy
    images: np.ndarray
    targets: np.ndarray
    splits: np.ndarray
    ids: np.ndarray
    skipped: list[Skip] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> np.ndarray:
        """Hard labels (argmax of targets), (N,) int64 in the source taxonomy."""
        return self.targets.argmax(axis=1).astype(np.int64)

    def split_names(self) -> list[Split]:
        """The splits this source has, in train/val/test order."""
        present = set(self.splits.tolist())
        return [s for s in SPLITS if s in present]

    def select(self, mask: np.ndarray) -> SourceData:
        """A copy holding only the rows where ``mask`` is true."""
        return SourceData(
            self.name,
            self.format,
            self.path,
            self.taxonomy,
            self.images[mask],
            self.targets[mask],
            self.splits[mask],
            self.ids[mask],
            list(self.skipped),
        )

    def split(self, name: Split) -> SourceData:
        return self.select(self.splits == name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per-split, per-class counts of hard labels, by source class name."""
        out: dict[str, dict[str, int]] = {}
        labels = self.labels
        for s in self.split_names():
            c = Counter(labels[self.splits == s].tolist())
            out[s] = {self.taxonomy.classes[i]: int(c.get(i, 0)) for i in range(len(self.taxonomy))}
        return out


def from_samples(
    samples: list[Sample], *, name: str, format: str, path: str, taxonomy: Taxonomy, skipped: list[Skip]
) -> SourceData:
    """Stack adapter samples into a ``SourceData``."""
    n, c = len(samples), len(taxonomy)
    images = np.zeros((n, FACE_SIZE, FACE_SIZE), np.uint8)
    targets = np.zeros((n, c), np.float32)
    for i, s in enumerate(samples):
        images[i] = s.image
        targets[i] = s.target
    return SourceData(
        name=name,
        format=format,
        path=path,
        taxonomy=taxonomy,
        images=images,
        targets=targets,
        splits=np.array([s.split for s in samples], dtype="<U5"),
        ids=np.array([s.id for s in samples], dtype=object).astype(str),
        skipped=skipped,
    )


def one_hot(taxonomy: Taxonomy, name: str) -> np.ndarray:
    """A (C,) float32 one-hot target for class ``name`` of ``taxonomy``."""
    t = np.zeros(len(taxonomy), np.float32)
    t[taxonomy.index(name)] = 1.0
    return t
