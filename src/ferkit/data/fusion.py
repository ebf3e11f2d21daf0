"""Fuse sources with different label sets into one training set in a target taxonomy.

Each source's classes are remapped by name; rows whose label maps to nothing are dropped and counted. Every row
keeps a mask of the classes its source could express, so training can treat a class the source never offered
(a FER-2013 face was never offered ``contempt``) as unknown rather than absent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ferkit.data.sample import SourceData, Split
from ferkit.data.votes import VotePolicy, apply_votes, is_vote_source
from ferkit.taxonomy import FERKIT, Taxonomy


@dataclass
class Fused:
    """Several sources as one set of arrays in ``taxonomy``.

    Attributes:
        taxonomy: target classes (the ones some source can express, in ferkit order, unless given).
        images: (N, 48, 48) uint8.
        targets: (N, K) float32 distributions over ``taxonomy`` (zero outside ``masks``).
        masks: (N, K) bool, the classes each row's source could express.
        splits: (N,) split names.
        source: (N,) index into ``names``.
        names: source names.
        ids: (N,) sample ids within their source.
        dropped: per source, the count of rows dropped and why (unmappable class, vote policy, leak).
    """

    taxonomy: Taxonomy
    images: np.ndarray
    targets: np.ndarray
    masks: np.ndarray
    splits: np.ndarray
    source: np.ndarray
    names: list[str]
    ids: np.ndarray
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def select(self, keep: np.ndarray) -> Fused:
        return Fused(
            self.taxonomy,
            self.images[keep],
            self.targets[keep],
            self.masks[keep],
            self.splits[keep],
            self.source[keep],
            self.names,
            self.ids[keep],
            self.dropped,
        )

    def split(self, name: Split) -> Fused:
        return self.select(self.splits == name)

    def of_source(self, i: int) -> Fused:
        return self.select(self.source == i)


def expressible(src: SourceData, target: Taxonomy = FERKIT) -> list[str]:
    """The target classes a source can express, in target order."""
    table = src.taxonomy.remap_to(target)
    have = set(table[table >= 0].tolist())
    return [c for i, c in enumerate(target.classes) if i in have]


def remap(src: SourceData, target: Taxonomy, policy: VotePolicy = "crossentropy") -> tuple[SourceData, dict[str, int]]:
    """Targets of ``src`` moved into ``target`` columns; returns the remapped source and drop counts by reason."""
    table = src.taxonomy.remap_to(target)
    dropped: Counter[str] = Counter()
    if is_vote_source(src):
        n0 = len(src)
        src = apply_votes(src, policy, emotion_mask=table >= 0)
        dropped[f"votes:{policy}"] += n0 - len(src)
    out = np.zeros((len(src), len(target)), np.float32)
    for i, j in enumerate(table):
        if j >= 0:
            out[:, j] += src.targets[:, i]
    mass = out.sum(1)
    keep = mass > 0
    for lab in src.labels[~keep]:
        dropped[f"unmapped:{src.taxonomy.classes[lab]}"] += 1
    src = src.select(keep)
    src.targets = out[keep] / mass[keep, None]
    return src, dict(dropped)


def fuse(
    sources: list[SourceData],
    target: Taxonomy | None = None,
    policies: list[VotePolicy] | None = None,
    leak_free: bool = True,
) -> Fused:
    """Fuse sources into one set.

    Args:
        sources: sources in their own taxonomies.
        target: target taxonomy; default: the ferkit classes that at least one source can express.
        policies: vote policy per source (used only for vote-count sources); default crossentropy.
        leak_free: drop training rows that near-duplicate any val/test row of any source.
    """
    if target is None:
        can = set().union(*(expressible(s) for s in sources))
        target = FERKIT.subset(can)
    policies = policies or ["crossentropy"] * len(sources)
    parts, dropped = [], {}
    for k, (src, pol) in enumerate(zip(sources, policies, strict=True)):
        r, d = remap(src, target, pol)
        mask = np.zeros(len(target), bool)
        mask[[target.index(c) for c in expressible(src, target)]] = True
        parts.append((r, mask))
        dropped[_unique_name(src.name, k, sources)] = d
    names = list(dropped)
    fused = Fused(
        taxonomy=target,
        images=np.concatenate([r.images for r, _ in parts]),
        targets=np.concatenate([r.targets for r, _ in parts]),
        masks=np.concatenate([np.broadcast_to(m, (len(r), len(m))) for r, m in parts]),
        splits=np.concatenate([r.splits for r, _ in parts]),
        source=np.concatenate([np.full(len(r), k) for k, (r, _) in enumerate(parts)]),
        names=names,
        ids=np.concatenate([r.ids for r, _ in parts]),
        dropped=dropped,
    )
    if leak_free:
        fused = remove_leaks(fused)
    return fused


def _unique_name(name: str, k: int, sources: list[SourceData]) -> str:
    return name if [s.name for s in sources].count(name) == 1 else f"{name}#{k}"


def remove_leaks(fused: Fused) -> Fused:
    """Drop training rows that near-duplicate a val/test row (any source); counts go to ``dropped``."""
    from ferkit.data.dedupe import leak_mask_images

    train = fused.splits == "train"
    held = ~train
    leaks = np.zeros(len(fused), bool)
    leaks[np.flatnonzero(train)] = leak_mask_images(fused.images[train], fused.images[held])
    for k, name in enumerate(fused.names):
        n = int((leaks & (fused.source == k)).sum())
        if n:
            fused.dropped[name]["leak:near-duplicate of val/test"] = n
    return fused.select(~leaks)


def shared_faces(fused: Fused, threshold: int = 4, max_pixel_diff: float = 4.0) -> np.ndarray:
    """Rows of different sources that hold the same face, grouped: (F, S) row indices padded with -1.

    FER-2013 and FER+ label the same images (Kaggle's copies carry JPEG noise, FER+'s are lossless), so training can
    run each face once per step and score it against both labels. A row of source ``k`` joins the face of its nearest
    row in an earlier source (perceptual-hash distance at most ``threshold`` bits and mean absolute pixel difference
    at most ``max_pixel_diff``; on the shared data the pairs differ by 1.6 grey levels at most), one row per source
    per face, closest pairs first; the rest stay faces of their own. Faces are ordered by their first row.
    """
    from ferkit.data.dedupe import find_duplicates, phash

    n, hashes = len(fused), phash(fused.images)
    face = np.arange(n)  # each row's face, named by the face's first row
    for k in range(1, len(fused.names)):
        query, ref = np.flatnonzero(fused.source == k), np.flatnonzero(fused.source < k)
        if len(query) == 0 or len(ref) == 0:
            continue
        qi, ri, dist = find_duplicates(hashes[query], hashes[ref], threshold)
        q, r = query[qi], ref[ri]
        diff = np.abs(fused.images[q].astype(np.int16) - fused.images[r]).mean(axis=(1, 2))
        ok = diff <= max_pixel_diff
        q, r, dist, diff = q[ok], r[ok], dist[ok], diff[ok]
        taken_rows, taken_faces = set(), set()
        for i in np.lexsort((r, q, diff, dist)):  # closest pairs first; ties by row
            if q[i] not in taken_rows and face[r[i]] not in taken_faces:
                taken_rows.add(q[i])
                taken_faces.add(face[r[i]])
                face[q[i]] = face[r[i]]
    ids, face_index = np.unique(face, return_inverse=True)  # ids are first rows, so faces keep row order
    counts = np.bincount(face_index, minlength=len(ids))
    rows = np.argsort(face_index, kind="stable")
    out = np.full((len(ids), max(1, int(counts.max(initial=1)))), -1, np.int64)
    out[face_index[rows], np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)] = rows
    return out
