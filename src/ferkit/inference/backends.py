"""Classifier backends: the same ``logits(x)`` over torch (a ferkit model file) or ONNX Runtime (an exported file).

``x`` is (B, 1, size, size) float32 in [0, 1]; the result is (B, C) float32 logits in the model's class order.
torch is imported only by the torch backend, so inference works with onnxruntime alone.
An exported ONNX file carries the same metadata as a model file, as JSON under the ``ferkit`` metadata key.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ferkit.errors import Int8SaturationWarning, ModelFileError
from ferkit.heads import DEFAULT, Head, pick_head
from ferkit.inference.cpu import INT8_KEY, int8_saturates
from ferkit.preprocess import Preprocessing

ONNX_META_KEY = "ferkit"
BackendName = Literal["auto", "torch", "onnx"]


@dataclass(frozen=True)
class ModelInfo:
    """What a classifier needs besides its weights: the classes it outputs, its input, its calibration.

    Attributes:
        classes: names of the logit columns (class names for a single-head model, ``head/class`` for several).
        preprocessing: how a face becomes input.
        temperature: logits are divided by this before softmax (the default head's).
        arch: registered architecture name.
        arch_kwargs: its keyword arguments.
        metrics: evaluation results stored with the model.
        heads: the classifier heads in column order (``ferkit.heads``); empty means one head over ``classes``.
    """

    classes: tuple[str, ...]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    temperature: float = 1.0
    arch: str = ""
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    heads: tuple[Head, ...] = ()

    def __post_init__(self) -> None:
        if not self.heads:
            object.__setattr__(self, "heads", (Head(DEFAULT, tuple(self.classes), temperature=self.temperature),))

    def head(self, name: str | None = None) -> tuple[ModelInfo, slice]:
        """The model as seen through one head (None: the default head): its classes and temperature, and the
        columns of the full logits it owns.

        Raises:
            ModelFileError: the model has no head of that name (the message lists its heads).
        """
        try:
            h, cols = pick_head(self.heads, name)
        except KeyError as e:
            raise ModelFileError(str(e.args[0])) from None
        view = replace(self, classes=h.classes, temperature=h.temperature, heads=(h,))
        return view, cols

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": "ferkit-onnx",
                "version": 1,
                "classes": list(self.classes),
                "preprocessing": self.preprocessing.to_dict(),
                "temperature": self.temperature,
                "arch": self.arch,
                "arch_kwargs": self.arch_kwargs,
                "metrics": self.metrics,
                "heads": [h.to_dict() for h in self.heads],
            }
        )

    @classmethod
    def from_model_file(cls, mf: Any) -> ModelInfo:
        """The metadata of a ``ferkit.engine.checkpoint.ModelFile``."""
        return cls(
            classes=tuple(mf.classes),
            preprocessing=mf.preprocessing,
            temperature=mf.temperature,
            arch=mf.arch,
            arch_kwargs=mf.arch_kwargs,
            metrics=mf.metrics,
            heads=tuple(mf.heads_now()),
        )

    @classmethod
    def from_json(cls, text: str, where: str) -> ModelInfo:
        try:
            d = json.loads(text)
            return cls(
                classes=tuple(d["classes"]),
                preprocessing=Preprocessing.from_dict(d.get("preprocessing", {})),
                temperature=float(d.get("temperature", 1.0)),
                arch=d.get("arch", ""),
                arch_kwargs=dict(d.get("arch_kwargs", {})),
                metrics=dict(d.get("metrics", {})),
                heads=tuple(Head.from_dict(h) for h in d.get("heads", [])),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ModelFileError(f"{where}: bad ferkit metadata ({type(e).__name__}: {e})") from None


class Backend(Protocol):
    """(B, 1, H, W) float32 in [0, 1] -> (B, C) float32 logits."""

    name: str

    def logits(self, x: np.ndarray) -> np.ndarray: ...


class HeadBackend:
    """One head of a multi-head backend: the columns of its logits that the head owns."""

    def __init__(self, inner: Backend, cols: slice) -> None:
        self.inner, self.cols = inner, cols
        self.name = inner.name

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.inner.logits(x)[:, self.cols]


class TorchBackend:
    """A torch module in eval mode, run under ``torch.inference_mode``.

    Args:
        model: the classifier.
        threads: ``torch.set_num_threads`` (process-wide in torch); None leaves it alone.
    """

    name = "torch"

    def __init__(self, model: Any, threads: int | None = None) -> None:
        import torch

        self._torch = torch
        self.model = model.eval()
        if threads:
            torch.set_num_threads(threads)

    def logits(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.model(self._torch.from_numpy(np.ascontiguousarray(x, np.float32))).float().numpy()


class OnnxBackend:
    """An ONNX Runtime CPU session.

    Args:
        model: path to an .onnx file, or its bytes.
        threads: ``intra_op_num_threads``; 1 gives the lowest latency per face when other work shares the CPU,
            None lets ONNX Runtime use every core.
    """

    name = "onnx"

    def __init__(self, model: str | Path | bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = threads
        where = "<bytes>" if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:
            raise ModelFileError(f"{where}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from None
        self._input = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = ModelInfo.from_json(meta[ONNX_META_KEY], where) if ONNX_META_KEY in meta else None
        if self.info is not None and int8_saturates():
            _warn_8bit_int8(model, meta, where)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(x, np.float32)})[0]


def _warn_8bit_int8(model: str | Path | bytes, meta: dict[str, str], where: str) -> None:
    """Warn when a ferkit int8 file has 8-bit weights: an export of an earlier ferkit (no ``INT8_KEY`` mark; its
    graph holds quantised operators) or one marked so. Called only on CPUs where such weights saturate."""
    if INT8_KEY in meta:
        try:
            bits = int(json.loads(meta[INT8_KEY]).get("weight_bits", 8))
        except (ValueError, TypeError, AttributeError):
            bits = 8
        if bits <= 7:
            return
        origin = f"marked {bits}-bit"
    else:
        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        if not any(op in data for op in (b"QuantizeLinear", b"ConvInteger", b"MatMulInteger")):
            return  # a float export
        origin = "exported by a ferkit before 7-bit int8 weights"
    warnings.warn(
        f"{where}: an int8 file with 8-bit weights ({origin}); this CPU has no VNNI, so ONNX Runtime's int8 "
        "products saturate and accuracy falls (2.5 points on FER-2013 for the shipped models): export it again "
        "from its model file with this ferkit (`ferkit export MODEL.ferkit --int8 ...`)",
        Int8SaturationWarning,
        stacklevel=4,
    )


def select_head(backend: Backend, info: ModelInfo, head: str | None = None) -> tuple[Backend, ModelInfo]:
    """The backend and model info of one head (None: the default head); a single-head model is returned as is.

    Raises:
        ModelFileError: the model has no head of that name.
    """
    view, cols = info.head(head)
    if len(info.heads) == 1:
        return backend, view
    return HeadBackend(backend, cols), view


def _is_onnx(path: Path) -> bool:
    if path.suffix.lower() == ".onnx":
        return True
    with open(path, "rb") as f:
        return f.read(2) != b"PK"  # a ferkit model file is a torch zip archive; ONNX is a protobuf


def load_backend(
    path: str | Path, backend: BackendName = "auto", threads: int | None = None
) -> tuple[Backend, ModelInfo]:
    """Open a ferkit model file or an exported ONNX file with the asked backend.

    Args:
        path: ``.ferkit`` model file (torch) or ``.onnx`` export.
        backend: ``torch``, ``onnx``, or ``auto`` (the file's own kind). ``onnx`` on a model file exports it
            in memory first (needs torch, takes about a second).
        threads: classifier threads (see the backends).

    Raises:
        ModelFileError: a missing or unreadable file, an ONNX file without ferkit metadata, or torch asked for
            an ONNX file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if backend not in ("auto", "torch", "onnx"):
        raise ModelFileError(f"unknown backend {backend!r}; known: auto, torch, onnx")
    if _is_onnx(path):
        if backend == "torch":
            raise ModelFileError(f"{path}: an ONNX file runs with the onnx backend, not torch")
        onnx_backend = OnnxBackend(path, threads)
        if onnx_backend.info is None:
            raise ModelFileError(f"{path}: ONNX file without ferkit metadata (export it with `ferkit export`)")
        return onnx_backend, onnx_backend.info
    try:
        from ferkit.engine.checkpoint import load_model_file
    except ModuleNotFoundError as e:
        raise ModelFileError(
            f"{path}: a ferkit model file needs torch ({e}); install ferkit[train] or use the exported .onnx file"
        ) from None
    mf = load_model_file(path)
    info = ModelInfo.from_model_file(mf)
    if backend == "onnx":
        from ferkit.export import onnx_bytes

        return OnnxBackend(onnx_bytes(mf), threads), info
    return TorchBackend(mf.build(), threads), info
