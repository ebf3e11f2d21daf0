"""What the service needs from a predictor, and the small translations between it and JSON.

The service talks to any object with ``predict(image: np.ndarray) -> list[Face]`` and ``classes``; these
helpers turn its faces and metadata into plain JSON-ready values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

import ferkit


class PredictorLike(Protocol):
    """The part of ``ferkit.inference.predictor.Predictor`` the service uses."""

    @property
    def classes(self) -> Sequence[str]: ...

    def predict(self, image: Any) -> list[Any]: ...


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def face_to_dict(face: Any) -> dict[str, Any]:
    """A predicted face as JSON: box {x, y, w, h}, landmarks [[x, y], ...] or None, probs, label, score."""
    x, y, w, h = _floats(face.box)
    landmarks = None
    if getattr(face, "landmarks", None) is not None:
        landmarks = [[float(a), float(b)] for a, b in np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)]
    probs = {str(k): float(v) for k, v in dict(face.probs).items()}
    label = str(face.label)
    score = float(getattr(face, "score", probs.get(label, 0.0)))
    return {"box": {"x": x, "y": y, "w": w, "h": h}, "landmarks": landmarks, "probs": probs, "label": label,
            "score": score}  # fmt: skip


def model_info(predictor: Any) -> dict[str, Any]:
    """Name, architecture, classes, preprocessing and metrics of the predictor's model, as far as it tells."""
    meta = dict(getattr(predictor, "metadata", None) or {})
    prep = getattr(predictor, "preprocessing", None) or meta.get("preprocessing") or {}
    if hasattr(prep, "to_dict"):
        prep = prep.to_dict()
    arch = meta.get("arch") or getattr(predictor, "arch", None)
    name = meta.get("name") or getattr(predictor, "name", None) or arch or type(predictor).__name__
    backend = meta.get("backend") or getattr(predictor, "backend_name", None)
    return {
        "name": str(name),
        "arch": None if arch is None else str(arch),
        "classes": [str(c) for c in predictor.classes],
        "preprocessing": dict(prep),
        "metrics": dict(meta.get("metrics") or getattr(predictor, "metrics", None) or {}),
        "backend": None if backend is None else str(backend),
        "ferkit_version": ferkit.__version__,
    }


def annotate(image: np.ndarray, faces: list[Any]) -> np.ndarray:
    """The image with each face's box and label drawn on it (a copy)."""
    import cv2

    out = image.copy()
    for face in faces:
        x, y, w, h = (round(v) for v in _floats(face.box))
        cv2.rectangle(out, (x, y), (x + w, y + h), (80, 200, 60), 2)
        text = f"{face.label} {float(getattr(face, 'score', 0.0)):.2f}"
        cv2.putText(out, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (80, 200, 60), 1, cv2.LINE_AA)
    return out
