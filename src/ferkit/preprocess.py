"""Preprocessing that travels inside every model file, shared by training, evaluation and inference.

A model takes (B, 1, size, size) float32 grey levels in [0, 1]; standardisation happens inside the model.
The face-crop parameters say how a detected face box becomes that square (see ``ferkit.inference.preprocess``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Preprocessing:
    """How faces are turned into model input.

    Attributes:
        size: side of the square grayscale input.
        margin: extra border around a detected face box, as a fraction of the box side, before resizing.
        align: rotate the face upright from the detector's eye landmarks when it has them.
    """

    size: int = 48
    margin: float = 0.0
    align: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(**{k: d[k] for k in ("size", "margin", "align") if k in d})


def to_input(faces: np.ndarray) -> np.ndarray:
    """(B, H, W) uint8 faces -> (B, 1, H, W) float32 in [0, 1], the input every model takes."""
    return (faces.astype(np.float32) / 255.0)[:, None]
