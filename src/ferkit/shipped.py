"""The models shipped inside the package, chosen by name (``ferkit-l``, the accurate one; ``ferkit-s``, the fast one).

A shipped model ``NAME`` is files in ``ferkit/weights/``: ``NAME.ferkit`` (the model file, for torch: evaluation,
fine-tuning, distillation), and for ONNX Runtime ``NAME.onnx`` (fp32) and/or ``NAME.int8.onnx`` (static int8).
Its model card is ``NAME.md``. Torch-free: the core install resolves names too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from ferkit.errors import ModelFileError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT = "ferkit-l"  # the model ``Predictor.from_pretrained()`` loads; bench/ship.sh sets it
Backend = Literal["auto", "torch", "onnx"]


def shipped_models() -> list[str]:
    """The names of the models in this installation."""
    stems = {p.name.split(".")[0] for p in WEIGHTS_DIR.glob("*") if p.suffix in (".ferkit", ".onnx")}
    return sorted(stems)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def model_path(name: str | None = None, backend: Backend = "auto") -> Path:
    """The file of a shipped model for a backend.

    ``torch`` takes ``NAME.ferkit``; ``onnx`` takes ``NAME.onnx``, else ``NAME.int8.onnx``; ``auto`` takes the ONNX
    file when ONNX Runtime is installed (faster per face, and less slowed by a busy machine), else the model file.

    Raises:
        ModelFileError: no shipped model has that name, or it lacks a file for the backend.
    """
    name = name or DEFAULT
    if name not in shipped_models():
        known = ", ".join(shipped_models()) or "none"
        raise ModelFileError(f"{name}: not a shipped model (shipped: {known}); give a model file path instead")
    torch_file = WEIGHTS_DIR / f"{name}.ferkit"
    onnx_files = [WEIGHTS_DIR / f"{name}.onnx", WEIGHTS_DIR / f"{name}.int8.onnx"]
    onnx_file = next((p for p in onnx_files if p.is_file()), None)
    use_onnx = backend == "onnx" or (backend == "auto" and (_installed("onnxruntime") or not _installed("torch")))
    if use_onnx and onnx_file is not None:
        return onnx_file
    if not use_onnx and torch_file.is_file():
        return torch_file
    if backend == "auto":  # the other kind will do
        return onnx_file or torch_file
    have = ", ".join(p.name for p in [torch_file, *onnx_files] if p.is_file())
    raise ModelFileError(f"{name}: no {backend} file in this installation (it has {have})")


def resolve_model(model: str | Path | None, backend: Backend = "auto") -> Path:
    """A model given as a file path or as a shipped model's name (None: the default model) -> its file.

    Raises:
        ModelFileError: neither an existing file nor a shipped model's name.
    """
    if model is None:
        return model_path(None, backend)
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if str(model) in shipped_models():
        return model_path(str(model), backend)
    known = ", ".join(shipped_models()) or "none"
    raise ModelFileError(f"{model}: no such model file, and not a shipped model's name (shipped: {known})")
