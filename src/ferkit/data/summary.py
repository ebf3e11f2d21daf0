"""What a source holds, by ferkit class name: per-split counts, unmapped classes, skipped records, a face grid."""

from __future__ import annotations

import re
from collections import Counter

import cv2
import numpy as np

from ferkit.data.sample import FACE_SIZE, SourceData
from ferkit.taxonomy import FERKIT_CLASSES, canonical_name


def row_labels(src: SourceData) -> np.ndarray:
    """Each row's class index in the source taxonomy: the unique largest target, or -1 for a vote tie."""
    t = src.targets
    top = t.max(axis=1, keepdims=True)
    ties = (t == top).sum(axis=1) > 1
    return np.where(ties, -1, t.argmax(axis=1))


def summarize(src: SourceData) -> dict:
    """Counts of a source by ferkit class name.

    Returns:
        ``path``, ``format``, ``size``; ``classes``: the ferkit classes the source can express, in ferkit order;
        ``splits``: ``{split: {class: count}}`` (only the splits the source has); ``unmapped``: rows whose source
        class has no ferkit name (FER+ ``unknown``/``NF``, a user folder such as ``bored``), by source name;
        ``ties``: vote rows with no unique majority; ``skipped``: count and ``{reason: count}``.
    """
    names = [canonical_name(c) for c in src.taxonomy.classes]
    classes = [c for c in FERKIT_CLASSES if c in names]
    labels = row_labels(src)
    splits: dict[str, dict[str, int]] = {}
    unmapped: Counter[str] = Counter()
    for split in src.split_names():
        counts = dict.fromkeys(classes, 0)
        for i, n in Counter(labels[src.splits == split].tolist()).items():
            if i < 0:
                continue
            if names[i] is None:
                unmapped[src.taxonomy.classes[i]] += n
            else:
                counts[names[i]] += n
        splits[split] = counts
    reasons = Counter(_kind(s.reason) for s in src.skipped)
    return {
        "path": src.path,
        "format": src.format,
        "size": len(src),
        "classes": classes,
        "splits": splits,
        "unmapped": dict(unmapped),
        "ties": int((labels < 0).sum()),
        "skipped": {"count": len(src.skipped), "reasons": dict(reasons.most_common())},
    }


def _kind(reason: str) -> str:
    """A skip reason without its per-file detail, for counting: ``truncated PNG: chunk IDAT at byte 33 ...`` ->
    ``truncated PNG``."""
    m = re.match(r"(truncated|corrupt) [A-Za-z]+(?=: )", reason)
    return m.group(0) if m else reason


def face_grid(src: SourceData, per_class: int = 10, scale: int = 2, seed: int = 0) -> np.ndarray:
    """A gray image with one row of sample faces per source class, its name written on the left.

    Returns:
        (classes * 48 * scale, (per_class * 48 + 120) * scale) uint8.
    """
    rng = np.random.default_rng(seed)
    labels = row_labels(src)
    side, label_w = FACE_SIZE, 120
    rows = []
    for i, name in enumerate(src.taxonomy.classes):
        idx = np.nonzero(labels == i)[0]
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else idx
        row = np.full((side, label_w + per_class * side), 255, np.uint8)
        for k, j in enumerate(sorted(pick)):
            row[:, label_w + k * side : label_w + (k + 1) * side] = src.images[j]
        cv2.putText(row, f"{name[:10]} {len(idx)}", (2, side // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 0, 1)
        rows.append(row)
    grid = np.concatenate(rows)
    return cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
