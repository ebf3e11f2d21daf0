"""Tiny synthetic datasets in real layouts, made by the tests themselves (no real faces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def pattern_face(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A learnable 48x48 uint8 image: a bright bar whose position encodes the label, plus noise."""
    img = rng.normal(90, 20, (size, size))
    y = 4 + label * 6
    img[y : y + 4, 6:42] += 120
    return np.clip(img, 0, 255).astype(np.uint8)


def write_fer2013_csv(path: Path, n_per_class: dict[str, int] | None = None, seed: int = 0) -> Path:
    """A FER-2013 CSV (emotion,pixels,Usage) with learnable faces; default 8 train + 2 val + 2 test per class."""
    rng = np.random.default_rng(seed)
    rows = ["emotion,pixels,Usage"]
    usages = ["Training"] * 8 + ["PublicTest"] * 2 + ["PrivateTest"] * 2
    for code in range(7):
        for usage in usages:
            px = " ".join(map(str, pattern_face(code, rng).ravel().tolist()))
            rows.append(f"{code},{px},{usage}")
    path.write_text("\n".join(rows) + "\n")
    return path
