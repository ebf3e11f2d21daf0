"""ferkit: facial expression recognition, from dataset files to a fast predictor.

Importing ferkit is quiet and light: heavy modules (torch, the predictor) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferkit.taxonomy import FERKIT, FERKIT_CLASSES, Taxonomy

__version__ = "0.1.0"
__all__ = ["FERKIT", "FERKIT_CLASSES", "Face", "Predictor", "Taxonomy", "__version__"]

if TYPE_CHECKING:
    from ferkit.inference.predictor import Face, Predictor


def __getattr__(name: str) -> Any:
    if name in ("Predictor", "Face"):
        from ferkit.inference import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")
