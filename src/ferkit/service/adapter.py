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
    """A predicted face as JSON: box {x, y, w, h}, landmarks [[x, y], ...] or None, probs, label, score.

    Coordinates are rounded to 0.01 px and probabilities to 1e-6 (float32 holds no more).
    """
    x, y, w, h = (round(v, 2) for v in _floats(face.box))
    landmarks = None
    if getattr(face, "landmarks", None) is not None:
        points = np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)
        landmarks = [[round(float(a), 2), round(float(b), 2)] for a, b in points]
    probs = {str(k): round(float(v), 6) for k, v in dict(face.probs).items()}
    label = str(face.label)
    score = round(float(getattr(face, "score", probs.get(label, 0.0))), 6)
    return {"box": {"x": x, "y": y, "w": w, "h": h}, "landmarks": landmarks, "probs": probs, "label": label,
            "score": score}  # fmt: skip


def model_info(predictor: Any) -> dict[str, Any]:
    """Name, architecture, classes, preprocessing and metrics of the predictor's model, as far as it tells.

    Reads ``predictor.info`` (``ferkit.inference.backends.ModelInfo``) and ``predictor.backend.name`` when present.
    """
    info = getattr(predictor, "info", None)
    prep = getattr(info, "preprocessing", None) or {}
    if hasattr(prep, "to_dict"):
        prep = prep.to_dict()
    arch = getattr(info, "arch", None) or None
    backend = getattr(getattr(predictor, "backend", None), "name", None)
    return {
        "name": str(getattr(predictor, "name", None) or arch or type(predictor).__name__),
        "arch": arch,
        "classes": [str(c) for c in predictor.classes],
        "preprocessing": dict(prep),
        "temperature": float(getattr(info, "temperature", 1.0)),
        "metrics": dict(getattr(info, "metrics", None) or {}),
        "backend": None if backend is None else str(backend),
        "head": getattr(predictor, "head", None),
        "prior": getattr(predictor, "prior", None),
        "ferkit_version": ferkit.__version__,
    }


def predict_decoded(predictor: Any, image: np.ndarray) -> list[Any]:
    """Faces of an already decoded (H, W, 3) BGR image; ``predict_array`` skips the predictor's own input checks."""
    fn = getattr(predictor, "predict_array", None) or predictor.predict
    return list(fn(image))


def annotate(image: np.ndarray, faces: list[Any]) -> np.ndarray:
    """The image with each face's box, label and probability bars (``ferkit.inference.annotate``); small images
    come back enlarged so that the text stays readable."""
    from ferkit.inference.annotate import annotate as draw

    return draw(image, faces)
