"""Trained model files a run builds on: starting weights (``model.init``, fine-tuning) and a teacher to distil
(``distill.teacher``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from torch import nn

from ferkit.config import TrainConfig
from ferkit.engine.checkpoint import load_model_file
from ferkit.errors import ConfigError


def init_weights(model: nn.Module, classes: list[str], cfg: TrainConfig) -> None:
    """Start ``model`` from the weights of the model file ``cfg.model.init`` (fine-tuning).

    The file must hold the same architecture and kwargs. The head (the model's last ``nn.Linear``) is copied row by
    row for the classes both know, matched by name; rows of classes the file lacks keep their fresh initialisation.

    Raises:
        ModelFileError: the file is missing, corrupt or not a ferkit model file.
        ConfigError: the file holds another architecture.
    """
    mf = load_model_file(cfg.model.init)
    if mf.arch != cfg.model.name or json.dumps(mf.arch_kwargs, sort_keys=True) != json.dumps(
        cfg.model.kwargs, sort_keys=True
    ):
        raise ConfigError(
            f"model.init={cfg.model.init}: holds {mf.arch} {mf.arch_kwargs}, "
            f"but the config builds {cfg.model.name} {cfg.model.kwargs}"
        )
    head = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    own = model.state_dict()
    rows = [(classes.index(c), mf.classes.index(c)) for c in classes if c in mf.classes]
    for key, value in mf.state_dict.items():
        if key.startswith(head + "."):
            for i, j in rows:
                own[key][i] = value[j]
        else:
            own[key] = value
    model.load_state_dict(own)


@dataclass
class Teacher:
    """A trained model the student also learns from, its logits read in the student's class order."""

    model: nn.Module
    cols: torch.Tensor  # (K,) long: the teacher's logit column of each student class (0 where it lacks the class)
    mask: torch.Tensor  # (K,) bool: the student classes the teacher knows

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(x).float()[:, self.cols]


def load_teacher(cfg: TrainConfig, classes: list[str], device: torch.device) -> Teacher | None:
    """The teacher of ``cfg.distill``, or None when distillation is off.

    Raises:
        ModelFileError: the teacher file is missing, corrupt or not a ferkit model file.
        ConfigError: a distillation setting is out of range, or the teacher shares no class with the student.
    """
    d = cfg.distill
    if not d.teacher:
        return None
    if not 0 < d.weight <= 1 or d.temperature <= 0:
        raise ConfigError(f"distill: weight must be in (0, 1] and temperature > 0, got {d.weight} and {d.temperature}")
    mf = load_model_file(d.teacher)
    known = [c in mf.classes for c in classes]
    if not any(known):
        raise ConfigError(f"distill.teacher={d.teacher}: knows {mf.classes}, none of the student's classes {classes}")
    model = mf.build().to(device).eval()
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    cols = torch.tensor([mf.classes.index(c) if k else 0 for c, k in zip(classes, known, strict=True)])
    return Teacher(model, cols.to(device), torch.tensor(known, device=device))
