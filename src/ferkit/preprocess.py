"""Preprocessing that travels inside every model file, shared by training, evaluation and inference.

A model takes (B, 1, size, size) float32 grey levels in [0, 1]; standardisation happens inside the model.
The face-crop parameters say how a detected face box becomes that square (see ``ferkit.imaging.crop``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np

TTA = Literal["none", "flip", "tencrop"]  # test-time augmentation: the views of a face averaged


@dataclass(frozen=True)
class Preprocessing:
    """How faces are turned into model input.

    Attributes:
        size: side of the square grayscale input.
        margin: extra border around a detected face box, as a fraction of the box side, before resizing.
        align: rotate the face upright from the detector's eye landmarks when it has them.
        zoom: the test-time view: the model sees the centre of a face, of side ``size / zoom``, resized back to
            ``size`` (``zoom_faces``); 1.0 = the face as it is. Files written before it existed load as 1.0.
    """

    size: int = 48
    margin: float = 0.0
    align: bool = True
    zoom: float = 1.0

    def __post_init__(self) -> None:
        if not self.zoom > 0:
            raise ValueError(f"preprocessing zoom must be > 0, got {self.zoom!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(**{k: d[k] for k in ("size", "margin", "align", "zoom") if k in d})


def to_input(faces: np.ndarray) -> np.ndarray:
    """(B, H, W) uint8 faces -> (B, 1, H, W) float32 in [0, 1], the input every model takes."""
    return (faces.astype(np.float32) / 255.0)[:, None]


def _zoom_matrix(n: int, zoom: float) -> np.ndarray:
    """(n, n) bilinear resampling matrix: output pixel i samples input ``c + (i - c) / zoom``, c the centre;
    positions past the edge take the edge pixel."""
    c = (n - 1) / 2
    src = np.clip(c + (np.arange(n) - c) / zoom, 0, n - 1)
    i0 = np.minimum(np.floor(src).astype(int), n - 2) if n > 1 else np.zeros(n, int)
    frac = src - i0
    m = np.zeros((n, n), np.float64)
    m[np.arange(n), i0] = 1 - frac
    if n > 1:
        m[np.arange(n), i0 + 1] += frac
    return m


def zoom_faces(faces: np.ndarray, zoom: float) -> np.ndarray:
    """(B, H, W) uint8 faces magnified ``zoom`` times about their centre, same shape: the centre square of side
    ``H / zoom`` resized back to H (bilinear; a zoom below 1 repeats the border). ``zoom == 1`` returns ``faces``."""
    if zoom == 1.0 or len(faces) == 0:
        return faces
    _, h, w = faces.shape
    out = _zoom_matrix(h, zoom) @ faces.astype(np.float64) @ _zoom_matrix(w, zoom).T  # (B, H, W), rows then columns
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def tta_views(faces: np.ndarray, tta: TTA, zoom: float = 1.0) -> list[np.ndarray]:
    """Test-time views of (B, H, W) uint8 faces, each the same shape: the faces themselves (``none``), plus their
    mirror images (``flip``), or four corner and one centre crop of 90% side, and their mirrors (``tencrop``).

    The views are taken of the faces zoomed by ``zoom`` (``Preprocessing.zoom``, see ``zoom_faces``): every path
    that turns faces into model input goes through here."""
    faces = zoom_faces(faces, zoom)
    if tta == "none":
        return [faces]
    flipped = faces[:, :, ::-1]
    if tta == "flip":
        return [faces, flipped]
    if tta != "tencrop":
        raise ValueError(f"unknown tta {tta!r} (known: none, flip, tencrop)")
    n, h, w = faces.shape
    c = int(round(h * 0.9))  # crop side; crops are resized back to the input size
    offs = [(0, 0), (0, w - c), (h - c, 0), (h - c, w - c), ((h - c) // 2, (w - c) // 2)]
    views = []
    for base in (faces, flipped):
        for y, x in offs:
            crop = base[:, y : y + c, x : x + c]
            views.append(np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in crop]))
    return views


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``: (N, C) -> (N, C) float32."""
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def mean_softmax_logits(logits: list[np.ndarray]) -> np.ndarray:
    """One logit row per face from several views' (B, K) logits: the log of the views' mean softmax."""
    if len(logits) == 1:
        return logits[0]
    return np.log(np.mean([softmax(z) for z in logits], axis=0) + 1e-12).astype(np.float32)
