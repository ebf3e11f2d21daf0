"""Emotion taxonomies: ordered class names, aliases, and remapping between taxonomies.

Labels are names. Every dataset declares its own class order once, as a ``Taxonomy``; indices only exist
relative to one taxonomy, and moving between two taxonomies always goes through the names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# The ferkit taxonomy, in this order. Models trained on fewer classes carry their own subset.
FERKIT_CLASSES: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
    "contempt",
    "confused",
)

# Spellings found in datasets and papers -> ferkit name. Keys are lower-case.
ALIASES: dict[str, str] = {
    # angry
    "anger": "angry",
    "angry": "angry",
    "an": "angry",
    "ang": "angry",
    "mad": "angry",
    # disgust
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "dis": "disgust",
    # fear
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "fe": "fear",
    # happy
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "ha": "happy",
    "hap": "happy",
    # sad
    "sad": "sad",
    "sadness": "sad",
    "sa": "sad",
    # surprise
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "sur": "surprise",
    # neutral
    "neutral": "neutral",
    "ne": "neutral",
    "neu": "neutral",
    "calm": "neutral",
    # contempt
    "contempt": "contempt",
    "contemptuous": "contempt",
    "co": "contempt",
    # confused
    "confused": "confused",
    "confusion": "confused",
}


def canonical_name(name: str) -> str | None:
    """Return the ferkit class name for a spelling (``"happiness"`` -> ``"happy"``), or None if unknown."""
    return ALIASES.get(name.strip().lower())


def class_key(name: str) -> str:
    """The ferkit name of a spelling, or the lower-cased spelling itself when it has no alias."""
    return canonical_name(name) or name.strip().lower()


@dataclass(frozen=True)
class Taxonomy:
    """An ordered tuple of class names.

    Attributes:
        classes: class names in index order. For source taxonomies these are the source's own spellings.
    """

    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"duplicate class names in taxonomy: {self.classes}")
        if not self.classes:
            raise ValueError("a taxonomy needs at least one class")

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self):
        return iter(self.classes)

    def __contains__(self, name: object) -> bool:
        return name in self.classes

    def index(self, name: str) -> int:
        """Index of a class name; raises KeyError naming the known classes."""
        try:
            return self.classes.index(name)
        except ValueError:
            raise KeyError(f"class {name!r} is not in taxonomy {list(self.classes)}") from None

    def canonical(self) -> tuple[str | None, ...]:
        """Each class resolved through the aliases to a ferkit name (None where it maps to nothing)."""
        return tuple(canonical_name(c) for c in self.classes)

    def remap_to(self, target: Taxonomy) -> np.ndarray:
        """Index table from this taxonomy into ``target``, by name through the aliases.

        A name with no alias (a user's own class folder, ``bored``) matches the same name, case-insensitively.

        Returns:
            int64 array of len(self); entry i is the target index of class i, or -1 where it cannot map.
        """
        target_names = [class_key(c) for c in target.classes]
        table = np.full(len(self), -1, dtype=np.int64)
        for i, c in enumerate(self.classes):
            if class_key(c) in target_names:
                table[i] = target_names.index(class_key(c))
        return table

    def subset(self, names: Iterable[str]) -> Taxonomy:
        """The classes of this taxonomy that appear in ``names``, in this taxonomy's order."""
        keep = set(names)
        return Taxonomy(tuple(c for c in self.classes if c in keep))

    def to_list(self) -> list[str]:
        return list(self.classes)

    @classmethod
    def from_names(cls, names: Sequence[str]) -> Taxonomy:
        """A taxonomy of ferkit names resolved through the aliases; unknown names are an error."""
        resolved = []
        for n in names:
            c = canonical_name(n)
            if c is None:
                raise KeyError(f"unknown emotion name {n!r}; known: {list(FERKIT_CLASSES)} (and aliases)")
            resolved.append(c)
        return cls(tuple(resolved))


FERKIT = Taxonomy(FERKIT_CLASSES)
