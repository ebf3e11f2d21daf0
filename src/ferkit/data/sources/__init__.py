"""Dataset adapters, one per storage format, and ``load_source`` which picks one by looking at the path.

An adapter is a class with ``name``, ``taxonomy`` (the source's own class order), ``detect(tree) -> bool`` and
``read(tree, policy) -> Iterator[Sample]``. An adapter whose classes depend on the files (the generic ``folder``
adapter) also has ``taxonomy_of(tree) -> Taxonomy``. Adapters only parse storage; remapping and fusion live
elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ferkit.data.errors import ErrorPolicy, OnError
from ferkit.data.sample import Sample, SourceData, from_samples
from ferkit.data.sources import affectnet, ckplus, fer2013, ferplus, folder, jaffe, rafdb
from ferkit.data.storage import Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy


class Adapter(Protocol):
    name: str
    taxonomy: Taxonomy

    @staticmethod
    def detect(tree: Tree) -> bool: ...

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> object: ...


# Detection order matters: more specific layouts first, the generic class-folder layout last.
ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a
    for a in (
        ferplus.FolderAdapter,
        ferplus.CsvAdapter,
        fer2013.CsvAdapter,
        fer2013.FolderAdapter,
        rafdb.BasicAdapter,
        rafdb.FolderAdapter,
        affectnet.Adapter,
        ckplus.Adapter,
        jaffe.Adapter,
        folder.Adapter,  # any <class>/* tree: always last
    )
}


def detect_format(tree: Tree) -> str:
    """The name of the first adapter that recognises the tree; a DataError listing the formats otherwise."""
    for name, adapter in ADAPTERS.items():
        if adapter.detect(tree):
            return name
    raise DataError(tree.path, f"cannot tell the dataset format; pass --format, one of {sorted(ADAPTERS)}")


def read_source(path: str | Path, format: str | None = None, on_error: OnError = "raise") -> SourceData:
    """Read a dataset into arrays, without the cache. See ``ferkit.data.load_source``."""
    tree = Tree(path)
    fmt = format or detect_format(tree)
    if fmt not in ADAPTERS:
        raise DataError(path, f"unknown format {fmt!r}; known: {sorted(ADAPTERS)}")
    adapter = ADAPTERS[fmt]
    policy = ErrorPolicy(on_error)
    taxonomy_of = getattr(adapter, "taxonomy_of", None)
    taxonomy = taxonomy_of(tree) if taxonomy_of else adapter.taxonomy
    samples: list[Sample] = list(adapter.read(tree, policy))
    if not samples:
        first = f"; first: {policy.skipped[0].where}: {policy.skipped[0].reason}" if policy.skipped else ""
        raise DataError(path, f"no usable samples found as format {fmt!r} ({len(policy.skipped)} skipped{first})")
    name = Path(path).name.split(".")[0] or fmt
    return from_samples(samples, name=name, format=fmt, path=str(path), taxonomy=taxonomy, skipped=policy.skipped)
