"""The ferkit model file: weights plus everything needed to rebuild and run the model.

A model file is a ``torch.save`` of plain data (loadable with ``weights_only=True``):
``{"format": "ferkit-model", "version": 2, "arch": ..., "arch_kwargs": {...}, "classes": [...], "heads": [...],
"preprocessing": {...}, "temperature": float, "config": {...}, "metrics": {...}, "state_dict": {...}}``.
``classes`` names the logit columns; ``heads`` says which columns each head owns (``ferkit.heads``). Version 1
files (one head, no ``heads`` key) still load.
Writes are atomic: a temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ferkit.errors import ModelFileError
from ferkit.heads import DEFAULT, Head, column_names
from ferkit.models import build_model, head_of
from ferkit.models.layers import split_heads
from ferkit.preprocess import Preprocessing
from ferkit.taxonomy import Taxonomy

FORMAT = "ferkit-model"
VERSION = 2


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


def save_model_file(mf: ModelFile, path: str | Path, half: bool = False) -> None:
    """Write a model file atomically. ``half`` stores floating-point weights as float16 (half the size, for
    shipping; loading casts them back to float32, a relative change of at most 5e-4 per weight)."""
    d = mf.to_dict()
    if half:
        d["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in d["state_dict"].items()}
        d["stored_dtype"] = "float16"
    atomic_torch_save(d, path)


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
    if d.get("version", 0) > VERSION:
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
        state_dict={k: v.float() if v.is_floating_point() else v for k, v in d["state_dict"].items()},
        heads=[Head.from_dict(h) for h in d.get("heads", [])],
    )
