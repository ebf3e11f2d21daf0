"""A run's training data: load and fuse the configured sources, split off validation, group shared faces, and the
order in which an epoch visits them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ferkit.config import TrainConfig
from ferkit.data import kaggle
from ferkit.data.cache import load_source
from ferkit.data.fusion import Fused, fuse, shared_faces
from ferkit.data.sources import PHOTO_VARIANTS, detect_format, open_tree
from ferkit.engine.distributed import DistInfo
from ferkit.engine.extend import check_new_heads, kept_heads
from ferkit.errors import ConfigError, DataError
from ferkit.heads import DEFAULT, Head, column_names, head_slices
from ferkit.taxonomy import Taxonomy


@dataclass
class Data:
    train: Fused
    val: Fused
    sampled: np.ndarray  # (N_train,) bool: draw a hard label each epoch (vote policy "probability")
    faces: np.ndarray  # (F, R) int64: the training rows of each sample, padded with -1 (one row each, ungrouped)
    heads: list[Head]  # the model's heads; with several, ``train`` and ``val`` are in their columns (``to_columns``)
    kept: int = 0  # how many of ``heads`` (the first ones) are kept unchanged from model.init (model.keep_heads)


def prepare_data(cfg: TrainConfig) -> Data:
    """Load, fuse and split the configured sources (validation never touches test splits)."""
    if not cfg.data.sources:
        raise ConfigError("data.sources is empty: give at least one dataset path")
    for i, s in enumerate(cfg.data.sources):  # every path checked before any is read (or downloaded)
        if kaggle.is_kaggle(s.path):  # a Kaggle dataset by name, fetched by load_source on first use
            try:
                kaggle.parse(s.path)
            except DataError as e:
                raise ConfigError(f"data.sources[{i}].path: {s.path!r}: {e.reason}") from None
        elif not Path(s.path).exists():
            raise ConfigError(f"data.sources[{i}].path: {s.path!r} does not exist")
    sources = [
        load_source(s.path, _format(s.path, s.format, cfg.data.photos), s.on_error, labels=s.labels)
        for s in cfg.data.sources
    ]
    target = Taxonomy.from_names(cfg.data.classes) if cfg.data.classes else None
    policies = [s.votes for s in cfg.data.sources]
    fused = fuse(sources, target, policies, leak_free=cfg.data.dedupe)
    for name, src in zip(fused.names, sources, strict=True):  # what the adapters skipped, counted beside fusion's
        for skip in src.skipped:
            key = f"skipped: {skip.reason}"
            fused.dropped[name][key] = fused.dropped[name].get(key, 0) + 1
    kept = kept_heads(cfg)
    if kept:  # own classes: the init file's heads, unchanged, then a head per new source (its name by default)
        names = [s.head or n.split("#")[0] for s, n in zip(cfg.data.sources, fused.names, strict=True)]
        new, source_head = plan_heads(names, fused, whole_taxonomy=False)
        check_new_heads(kept, new, _class_counts(fused, new, source_head))
        heads, source_head = kept + new, source_head + len(kept)
    else:
        heads, source_head = plan_heads([s.head for s in cfg.data.sources], fused)
    train, val = fused.split("train"), fused.split("val")
    if cfg.data.holdout > 0:
        train, val = _holdout(train, cfg.data.holdout, cfg.seed)
    if cfg.limit:
        pick = np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.limit]
        train = train.select(np.sort(pick))
    if len(train) == 0:
        raise ConfigError("no training faces after fusion (check data.sources and data.classes)")
    sampled = np.array([policies[k] == "probability" for k in train.source], bool)
    faces = shared_faces(train) if cfg.data.group_faces else np.arange(len(train))[:, None]
    if len(heads) > 1 or kept:
        train, val = to_columns(train, heads, source_head), to_columns(val, heads, source_head)
    return Data(train, val, sampled, faces, heads, len(kept))


def _format(path: str, fmt: str | None, photos: bool) -> str | None:
    """A source's format: as given, but class folders and label tables with ``data.photos`` are their photo
    variants (``folder-photos``, ``labels-csv-photos``)."""
    if not photos or fmt not in (None, *PHOTO_VARIANTS):
        return fmt
    return PHOTO_VARIANTS.get(fmt or detect_format(open_tree(path)), fmt)


def plan_heads(names: list[str], fused: Fused, whole_taxonomy: bool = True) -> tuple[list[Head], np.ndarray]:
    """The heads that sources with these head names (one per source, "" = the default head) train, and the head
    index of each source. A head's classes are those its sources can express, in the taxonomy's order (with one
    head and ``whole_taxonomy``, the whole target taxonomy, as before heads existed)."""
    names = [n or DEFAULT for n in names]
    order = list(dict.fromkeys(names))
    source_head = np.array([order.index(n) for n in names], np.int64)
    heads = []
    for i, name in enumerate(order):
        rows = np.isin(fused.source, np.flatnonzero(source_head == i))
        have = fused.masks[rows].any(0)
        classes = tuple(c for c, h in zip(fused.taxonomy.classes, have, strict=True) if h)
        if len(order) == 1 and whole_taxonomy:
            classes = tuple(fused.taxonomy.classes)  # one head: the whole target taxonomy, as before heads existed
        sources = tuple(fused.names[k] for k in np.flatnonzero(source_head == i))
        heads.append(Head(name, classes, sources))
    return heads, source_head


def _class_counts(fused: Fused, heads: list[Head], source_head: np.ndarray) -> dict[str, dict[str, int]]:
    """Per head, its faces per class (hard labels, all splits)."""
    label = fused.targets.argmax(1)
    out = {}
    for i, h in enumerate(heads):
        rows = source_head[fused.source] == i
        out[h.name] = {c: int((label[rows] == fused.taxonomy.index(c)).sum()) for c in h.classes}
    return out


def to_columns(part: Fused, heads: list[Head], source_head: np.ndarray) -> Fused:
    """A fused split moved into the columns of a multi-head model: each row's targets and mask go to the columns of
    its source's head, and every other column is masked, so the partial-label loss trains only that head."""
    cols = column_names(heads)
    targets = np.zeros((len(part), len(cols)), np.float32)
    masks = np.zeros((len(part), len(cols)), bool)
    row_head = source_head[part.source]
    for i, (h, sl) in enumerate(zip(heads, head_slices(heads).values(), strict=True)):
        rows = row_head == i
        if not rows.any():  # a kept head (model.keep_heads): no source of this run trains it
            continue
        idx = [part.taxonomy.index(c) for c in h.classes]
        targets[rows, sl] = part.targets[rows][:, idx]
        masks[rows, sl] = part.masks[rows][:, idx]
    return dataclasses.replace(part, taxonomy=Taxonomy(tuple(cols)), targets=targets, masks=masks)


def _holdout(train: Fused, fraction: float, seed: int) -> tuple[Fused, Fused]:
    """A stratified (per source and class) random split of the training rows."""
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(train), bool)
    strata = train.source * 1000 + train.targets.argmax(1)
    for s in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == s))
        is_val[idx[: int(round(len(idx) * fraction))]] = True
    val = train.select(is_val)
    val.splits = np.full(len(val), "val")
    return train.select(~is_val), val


def class_weights(train: Fused) -> torch.Tensor:
    """Inverse-square-root class frequency, normalised to mean 1 over the classes present."""
    freq = train.targets.sum(0)
    w = np.where(freq > 0, 1.0 / np.sqrt(np.maximum(freq, 1e-9)), 0.0)
    return torch.tensor(w / w[freq > 0].mean(), dtype=torch.float32)


def epoch_order(data: Data, cfg: TrainConfig, epoch: int, info: DistInfo) -> np.ndarray:
    """Sample (face) order for one epoch, from the seed and epoch alone (so a resumed run repeats it), by rank."""
    rng = np.random.default_rng([cfg.seed, epoch])
    n = len(data.faces)
    if cfg.balance == "sampler":
        labels = data.train.targets[data.faces[:, 0]].argmax(1)  # a grouped face is drawn by its first label
        freq = np.bincount(labels, minlength=data.train.targets.shape[1]).astype(float)
        p = 1.0 / freq[labels]
        order = rng.choice(n, size=n, replace=True, p=p / p.sum())
    else:
        order = rng.permutation(n)
    per_rank = len(order) // info.world
    return order[info.rank * per_rank : (info.rank + 1) * per_rank]


def data_summary(data: Data) -> dict:
    """What training used: faces per source and split, and what fusion dropped and why."""
    return {
        "classes": list(data.train.taxonomy.classes),
        "heads": [h.to_dict() for h in data.heads],
        "train": {n: int((data.train.source == k).sum()) for k, n in enumerate(data.train.names)},
        "val": {n: int((data.val.source == k).sum()) for k, n in enumerate(data.val.names)},
        "samples_per_epoch": len(data.faces),
        "faces_with_several_labels": int(((data.faces >= 0).sum(1) > 1).sum()),
        "dropped": data.train.dropped,
    }
