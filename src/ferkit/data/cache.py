"""On-disk cache of decoded sources, keyed by the source files' content, format and error policy."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ferkit.data.errors import OnError
from ferkit.data.relabel import Labels, relabel
from ferkit.data.sample import Skip, SourceData
from ferkit.data.sources import adapter_for, detect_format, open_tree, read_source
from ferkit.data.storage import Tree
from ferkit.taxonomy import Taxonomy

CACHE_VERSION = 1


def cache_dir() -> Path:
    """``$FERKIT_CACHE`` or ``~/.cache/ferkit``."""
    return Path(os.environ.get("FERKIT_CACHE", Path.home() / ".cache" / "ferkit"))


def _key(tree: Tree, fmt: str, on_error: OnError) -> str:
    # An adapter whose output depends on more than the files (JAFFE: the face detector) says so in cache_salt().
    salt_of = getattr(adapter_for(fmt), "cache_salt", None)
    salt = f"\0{salt_of()}" if salt_of else ""
    h = hashlib.sha256(f"v{CACHE_VERSION}\0{fmt}\0{on_error}\0{tree.content_key()}{salt}".encode())
    return h.hexdigest()[:32]


def load_source(
    path: str | Path,
    format: str | None = None,
    on_error: OnError = "raise",
    cache: bool = True,
    threads: int | None = None,
    labels: Labels | None = None,
) -> SourceData:
    """Read a dataset in any supported layout, through the on-disk cache.

    Args:
        path: a dataset folder, zip, or CSV file, or a Kaggle dataset by name (``kaggle:msambare/fer2013``, fetched
            with kagglehub on first use; see ``ferkit.data.kaggle``).
        format: force an adapter by name instead of detecting it.
        on_error: ``raise`` on the first bad record, or ``skip`` it and report it in ``skipped``.
        cache: read and write the decoded cache.
        threads: image-decoding threads (default: the CPU count, at most 8).
        labels: names for numbered classes (a table's or folder's ``3``): a code order such as ``"fer2013"`` or a
            mapping ``{"3": "happy", ...}`` (``ferkit.data.relabel``); applied after the cache, which it does not key.
    """
    if labels is not None:
        return relabel(load_source(path, format, on_error, cache, threads), labels)
    if not cache:
        return read_source(path, format, on_error, threads)
    tree = open_tree(path)
    fmt = format or detect_format(tree)
    file = cache_dir() / f"{_key(tree, fmt, on_error)}.npz"
    if file.exists():
        try:
            return _load(file, path)
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            file.unlink(missing_ok=True)
    src = read_source(path, fmt, on_error, threads)
    _save(file, src)
    return src


def _save(file: Path, src: SourceData) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": src.name,
        "format": src.format,
        "taxonomy": list(src.taxonomy.classes),
        "skipped": [[s.where, s.reason] for s in src.skipped],
    }
    tmp = file.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(
        tmp,
        images=src.images,
        targets=src.targets,
        splits=src.splits,
        ids=src.ids,
        meta=np.array(json.dumps(meta)),
    )
    os.replace(tmp, file)


def _load(file: Path, path: str | Path) -> SourceData:
    with np.load(file, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return SourceData(
            name=meta["name"],
            format=meta["format"],
            path=str(path),
            taxonomy=Taxonomy(tuple(meta["taxonomy"])),
            images=z["images"],
            targets=z["targets"],
            splits=z["splits"],
            ids=z["ids"],
            skipped=[Skip(w, r) for w, r in meta["skipped"]],
        )
