"""The ferkit model file: weights plus everything needed to rebuild and run the model.

A model file is a ``torch.save`` of plain data (loadable with ``weights_only=True``):
``{"format": "ferkit-model", "version": 2, "arch": ..., "arch_kwargs": {...}, "classes": [...], "heads": [...],
"preprocessing": {...}, "temperature": float, "config": {...}, "metrics": {...}, "state_dict": {...}}``.
``classes`` names the logit columns; ``heads`` says which columns each head owns (``ferkit.heads``). Version 1
files (one head, no ``heads`` key) still load. Weights may be stored as float16 (``"stored_dtype": "float16"``) or
as int8 with a scale per output channel (``"stored_dtype": "int8"``, ``"int8_scales": {key: (out,) float32}``,
version 3); loading gives float32 either way (``save_model_file``).
Writes are atomic: a temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ferkit.errors import ModelFileError
from ferkit.heads import DEFAULT, Head, column_names
from ferkit.models import build_model, head_of
from ferkit.models.layers import split_heads
from ferkit.preprocess import Preprocessing
from ferkit.taxonomy import Taxonomy

FORMAT = "ferkit-model"
VERSION = 2  # what files are written as; int8-stored files are INT8_VERSION
INT8_VERSION = 3
Storage = Literal["float32", "float16", "int8"]
STORAGES: tuple[str, ...] = ("float32", "float16", "int8")


@dataclass
class ModelFile:
    """A trained model and its metadata.

    Attributes:
        arch: registered model name.
        arch_kwargs: keyword arguments of ``build_model`` besides ``num_classes``.
        classes: the names of the logit columns: ferkit class names for one head, ``head/class`` for several.
        heads: the classifier heads, in column order; empty means one head over ``classes``.
        preprocessing: how faces become input.
        temperature: logits are divided by this before softmax (calibration; 1.0 = none); the default head's.
        config: the resolved training config.
        metrics: evaluation results (validation and test), by name.
        state_dict: the weights.
    """

    arch: str
    arch_kwargs: dict[str, Any]
    classes: list[str]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    temperature: float = 1.0
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    heads: list[Head] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.heads:
            self.heads = [Head(DEFAULT, tuple(self.classes), temperature=self.temperature)]
        if column_names(self.heads) != list(self.classes):
            raise ModelFileError(f"heads {[h.name for h in self.heads]} do not match the columns {self.classes}")

    def heads_now(self) -> list[Head]:
        """The heads, the default one with ``temperature`` (which calibration may have changed since)."""
        return [replace(self.heads[0], temperature=self.temperature), *self.heads[1:]]

    @property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy(tuple(self.classes))

    def build(self) -> nn.Module:
        """Rebuild the architecture and load the weights (eval mode)."""
        model = build_model(self.arch, num_classes=len(self.classes), **self.arch_kwargs)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as e:
            raise ModelFileError(f"weights do not fit architecture {self.arch!r}: {e}") from None
        heads = self.heads_now()
        if len(heads) > 1:  # each head its own product: a head added later leaves the others' logits as they were
            split_heads(model, head_of(model)[0], [len(h.classes) for h in heads])
        return model.eval()

    def uncalibrated_state(self) -> dict[str, torch.Tensor]:
        """The weights as trained: the class offsets calibration folded into the head's bias
        (``metrics.calibration.class_bias``) taken back out (soups, recalibration)."""
        state = {k: v.clone() for k, v in self.state_dict.items()}
        offsets = self.metrics.get("calibration", {}).get("class_bias")
        if offsets:
            if unknown := sorted(set(offsets) - set(self.classes)):
                raise ModelFileError(f"class offsets name classes the model does not have: {unknown}")
            key = head_of(build_model(self.arch, num_classes=len(self.classes), **self.arch_kwargs))[0] + ".bias"
            state[key] -= torch.tensor([offsets.get(c, 0.0) for c in self.classes], dtype=state[key].dtype)
        return state

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "arch": self.arch,
            "arch_kwargs": _plain(self.arch_kwargs),
            "classes": list(self.classes),
            "heads": [h.to_dict() for h in self.heads_now()],
            "preprocessing": self.preprocessing.to_dict(),
            "temperature": float(self.temperature),
            "config": _plain(self.config),
            "metrics": _plain(self.metrics),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
        }


def _plain(obj: Any) -> Any:
    """Tuples to lists, recursively, so that the file holds only JSON-like data."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_model_file(mf: ModelFile, path: str | Path, storage: Storage = "float32") -> None:
    """Write a model file atomically, its floating-point weights stored as ``storage``: ``float32``; ``float16`` (half
    the size; loading casts back, a relative change of at most 5e-4 per weight); ``int8`` (a quarter: every weight
    matrix and convolution kernel as int8 with a float32 scale per output channel, ``round(w / scale)``, scale =
    max |w| / 127 of its channel, so each weight moves by at most half a step of its channel; biases and
    normalisation statistics stay float32; the file is version 3, which older ferkit refuses instead of misreading)."""
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, not {storage!r}")
    d = mf.to_dict()
    if storage == "float16":
        d["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in d["state_dict"].items()}
        d["stored_dtype"] = "float16"
    elif storage == "int8":
        scales = {}
        for k, v in d["state_dict"].items():
            if v.is_floating_point() and v.ndim >= 2:
                scale = v.abs().flatten(1).amax(1).clamp_min(1e-12) / 127
                d["state_dict"][k] = (v / scale.view(-1, *[1] * (v.ndim - 1))).round().to(torch.int8)
                scales[k] = scale.float()
        d |= {"stored_dtype": "int8", "int8_scales": scales, "version": INT8_VERSION}
    atomic_torch_save(d, path)


def _stored_weights(d: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """The float32 weights of a loaded file's dict, whatever they were stored as."""
    scales = d.get("int8_scales", {}) if d.get("stored_dtype") == "int8" else {}
    out = {}
    for k, v in d["state_dict"].items():
        if k in scales:
            if v.dtype != torch.int8 or scales[k].shape != v.shape[:1]:
                raise ModelFileError(f"{path}: weight {k!r}: int8 storage does not fit its scales")
            v = v.float() * scales[k].view(-1, *[1] * (v.ndim - 1))
        elif v.dtype == torch.int8:
            raise ModelFileError(f"{path}: weight {k!r} is stored as int8 without a scale")
        out[k] = v.float() if v.is_floating_point() else v
    return out


def load_model_file(path: str | Path, expect_arch: str | None = None) -> ModelFile:
    """Read a model file (``~`` is the home folder); a missing, corrupt or foreign file is a ModelFileError naming
    it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelFileError(f"{path}: not a readable ferkit model file ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a ferkit model file (missing format marker {FORMAT!r})")
    if d.get("version", 0) > INT8_VERSION:
        raise ModelFileError(f"{path}: model file version {d['version']} is newer than this ferkit supports")
    if expect_arch is not None and d["arch"] != expect_arch:
        raise ModelFileError(f"{path}: holds architecture {d['arch']!r}, expected {expect_arch!r}")
    return ModelFile(
        arch=d["arch"],
        arch_kwargs=dict(d.get("arch_kwargs", {})),
        classes=list(d["classes"]),
        preprocessing=Preprocessing.from_dict(d.get("preprocessing", {})),
        temperature=float(d.get("temperature", 1.0)),
        config=dict(d.get("config", {})),
        metrics=dict(d.get("metrics", {})),
        state_dict=_stored_weights(d, path),
        heads=[Head.from_dict(h) for h in d.get("heads", [])],
    )
