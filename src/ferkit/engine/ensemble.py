"""Model files of ensembles: several trained model files become one (``ferkit.models.ensemble``).

The members must agree on what a model file's user sees: the same heads with the same classes in the same order,
and the same preprocessing (input size, margin, alignment, zoom). Their architectures may differ. Each member keeps
its own calibration (its temperature per head, its class offsets in its weights); the ensemble file starts
uncalibrated (temperature 1, no offsets of its own), and ``engine.validation.calibrate_on_validation`` calibrates
it like any model (``bench/recalibrate.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch

from ferkit.engine.checkpoint import ModelFile, load_model_file
from ferkit.errors import ModelFileError

ARCH = "ensemble"


def ensemble_of(members: Mapping[str, str | Path]) -> ModelFile:
    """One model file that averages the calibrated probabilities of ``members`` (name -> model file path).

    Raises:
        ModelFileError: fewer than two members, a member file that does not load, or one whose heads, classes or
            preprocessing differ from the first member's (the message names both files).
    """
    if len(members) < 2:
        raise ModelFileError(f"an ensemble needs two or more model files, got {len(members)}")
    files = {name: Path(path).expanduser() for name, path in members.items()}
    loaded = {name: load_model_file(path) for name, path in files.items()}
    (first_name, first), *rest = loaded.items()
    for name, mf in rest:
        where = f"{files[name]} (member {name}) and {files[first_name]} (member {first_name})"
        if [(h.name, h.classes) for h in mf.heads] != [(h.name, h.classes) for h in first.heads]:
            raise ModelFileError(f"{where}: heads differ ({_heads(mf)} against {_heads(first)})")
        if mf.preprocessing != first.preprocessing:
            raise ModelFileError(f"{where}: preprocessing differs ({mf.preprocessing} against {first.preprocessing})")
    kwargs = {
        "members": [
            {"arch": mf.arch, "arch_kwargs": mf.arch_kwargs, "temperatures": [h.temperature for h in mf.heads_now()]}
            for mf in loaded.values()
        ],
        "heads": [len(h.classes) for h in first.heads],
    }
    state = {f"members.{i}.{k}": v for i, mf in enumerate(loaded.values()) for k, v in mf.state_dict.items()}
    n = len(first.classes)
    state |= {"out.weight": torch.eye(n), "out.bias": torch.zeros(n)}
    config = {k: first.config[k] for k in ("data", "calibrate", "seed", "threads") if k in first.config}
    config["model"] = {"name": ARCH, "kwargs": kwargs}
    about = [
        {"name": name, "file": str(files[name]), "sha256": _sha256(files[name]), "arch": mf.arch}
        for name, mf in loaded.items()
    ]
    return ModelFile(
        arch=ARCH,
        arch_kwargs=kwargs,
        classes=list(first.classes),
        heads=[replace(h, temperature=1.0, prior=()) for h in first.heads],
        preprocessing=first.preprocessing,
        config=config,
        metrics={"ensemble": {"members": about}},
        state_dict=state,
    )


def _heads(mf: ModelFile) -> str:
    return "; ".join(f"{h.name}: {', '.join(h.classes)}" for h in mf.heads)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
