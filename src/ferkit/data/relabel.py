"""Naming a source's numbered classes: ``3`` -> ``happy``, by a dataset's known code order or by a mapping.

Label tables, parquet files without a ``ClassLabel`` and class folders named ``0``..``6`` give classes that are
numbers: ferkit cannot know what a number means, so it keeps them as classes of their own, which no other source
shares. A user who knows the order says so: ``load_source(path, labels="fer2013")`` (or ``labels:`` of a source in a
training config, ``--labels`` on ``ferkit data inspect``), or a mapping ``{"0": "angry", ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from ferkit.data.sample import SourceData
from ferkit.data.sources import affectnet, ckplus, fer2013, ferplus, rafdb
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy, class_key

# Each dataset's codes, as its own files number them.
CODE_ORDERS: dict[str, dict[str, str]] = {
    "fer2013": {str(i): c for i, c in enumerate((*fer2013.TAXONOMY.classes, "contempt"))},  # 7: ckextended.csv
    "ferplus": {str(i): c for i, c in enumerate(ferplus.TAXONOMY.classes[:8])},
    "rafdb": {str(i + 1): c for i, c in enumerate(rafdb.TAXONOMY.classes)},
    "affectnet": {str(i): c for i, c in enumerate(affectnet.TAXONOMY.classes)},
    "ckplus": {str(i): c for i, c in enumerate(ckplus.OFFICIAL_TAXONOMY.classes)},
}
Labels = str | Mapping[object, str]


def _number(name: str) -> str:
    """A class name that is a number, written as an integer (``3.0`` -> ``3``); other names as they are."""
    try:
        f = float(name)
    except ValueError:
        return name.strip()
    return str(int(f)) if f.is_integer() else name.strip()


def numbered(classes: Iterable[str]) -> bool:
    """Whether some of these class names are numbers (``3``, ``3.0``): classes only a code order can name."""
    for c in classes:
        try:
            float(c)
        except ValueError:
            continue
        return True
    return False


def relabel(src: SourceData, labels: Labels) -> SourceData:
    """The source with its numbered classes named: ``labels`` is a code order of ``CODE_ORDERS`` or a mapping from
    codes to class names. Classes the mapping does not name keep their names; the faces and targets are unchanged.

    Raises:
        DataError: an unknown code order, a mapping that names none of the source's classes (a wrong order, or a
            typo), or two classes that would get one name.
    """
    if isinstance(labels, str):
        if labels not in CODE_ORDERS:
            raise DataError(src.path, f"unknown code order {labels!r}; known: {sorted(CODE_ORDERS)}")
        mapping = CODE_ORDERS[labels]
    else:
        mapping = {_number(str(k)): str(v) for k, v in labels.items()}
    old = src.taxonomy.classes
    hits = [c for c in old if _number(c) in mapping]
    if not hits:
        raise DataError(src.path, f"the labels {sorted(mapping)} name none of the source's classes {list(old)}")
    new = [mapping.get(_number(c), c) for c in old]
    seen: dict[str, str] = {}
    for before, after in zip(old, new, strict=True):
        key = class_key(after)
        if key in seen:
            raise DataError(src.path, f"classes {seen[key]!r} and {before!r} would both be {after!r}")
        seen[key] = before
    return replace(src, taxonomy=Taxonomy(tuple(new)))
