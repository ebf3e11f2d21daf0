"""Your own classes: fine-tune a trained model to a new head (``model.keep_heads``) and train only part of it
(``model.trainable``).

With ``trainable: branch`` the new heads get their own copy of the trunk's last stage (a FerNet ``branch``), started
from the trunk's weights and trained with them; the trunk itself stays frozen, so the kept heads stay exact too.

A run that keeps heads starts from a model file, copies every one of its heads unchanged, and adds a head per new
source after them. The kept heads' classifier rows are restored after every optimiser step (weight decay and
momentum would otherwise move them), and with ``trainable: head`` the trunk is frozen with its BatchNorm in eval
mode, so the kept heads give exactly the logits they gave before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferkit.config import TrainConfig
from ferkit.errors import ConfigError
from ferkit.heads import Head, head_slices

MIN_FACES = 5  # a new head's class needs at least this many faces (train and validation together)


def init_path(init: str) -> Path:
    """``model.init`` as a file: a path, or a shipped model's name (its ``.ferkit`` file).

    Raises:
        ModelFileError: neither an existing file nor a shipped model's name.
    """
    from ferkit.shipped import resolve_model

    return resolve_model(init, backend="torch")


def adopt_architecture(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the architecture and kwargs of its ``model.init`` file, when it keeps that file's heads (the
    trunk must be the file's; a user fine-tuning the shipped model need not know what it is)."""
    if not cfg.model.keep_heads:
        return cfg
    from ferkit.engine.checkpoint import load_model_file

    mf = load_model_file(init_path(cfg.model.init))
    return replace(cfg, model=replace(cfg.model, name=mf.arch, kwargs=dict(mf.arch_kwargs)))


def with_branch(cfg: TrainConfig, heads: list[Head], n_kept: int) -> TrainConfig:
    """``cfg`` with ``model.kwargs.branch`` set to the new heads' logit columns, for ``trainable: branch``.

    Raises:
        ConfigError: not a keep_heads run, or model.init has a branch already.
    """
    if cfg.model.trainable != "branch":
        return cfg
    if not n_kept:
        raise ConfigError(
            "model.trainable=branch gives new heads their own copy of the last stage; it needs model.keep_heads: "
            "true and a model.init whose heads are kept"
        )
    if cfg.model.kwargs.get("branch"):
        raise ConfigError(
            f"model.trainable=branch: model.init={cfg.model.init} has a branch already (columns "
            f"{cfg.model.kwargs['branch']}); add this head with model.trainable=head, or branch from a model "
            "without one"
        )
    start = sum(len(h.classes) for h in heads[:n_kept])
    stop = sum(len(h.classes) for h in heads)
    return replace(cfg, model=replace(cfg.model, kwargs={**cfg.model.kwargs, "branch": [start, stop]}))


def kept_heads(cfg: TrainConfig) -> list[Head]:
    """The heads of ``model.init`` that a ``keep_heads`` run keeps (none otherwise)."""
    if not cfg.model.keep_heads:
        return []
    from ferkit.engine.checkpoint import load_model_file

    return list(load_model_file(init_path(cfg.model.init)).heads)


def check_new_heads(kept: list[Head], new: list[Head], counts: dict[str, dict[str, int]]) -> None:
    """New heads must not reuse a kept head's name, and each of their classes needs ``MIN_FACES`` faces.

    Args:
        kept: the heads kept from ``model.init``.
        new: the heads this run adds.
        counts: per new head, faces per class (all splits).

    Raises:
        ConfigError: naming the head or the class, and what to do.
    """
    names = {h.name for h in kept}
    for h in new:
        if h.name in names:
            raise ConfigError(
                f"head {h.name!r}: the model in model.init already has a head of that name (its heads: "
                f"{', '.join(sorted(names))}); name the new one with data.sources[].head"
            )
        few = {c: n for c, n in counts.get(h.name, {}).items() if n < MIN_FACES}
        if few:
            listed = ", ".join(f"{c} ({n})" for c, n in few.items())
            raise ConfigError(
                f"head {h.name!r}: too few faces for class {listed}; each class needs at least {MIN_FACES} "
                "(add faces to its folder, or remove the folder)"
            )


@dataclass
class Frozen:
    """What a run keeps fixed: kept heads' classifier rows, and the frozen part of the trunk."""

    fc: nn.Linear  # the classifier
    rows: torch.Tensor  # (R,) long: the logit columns of kept heads
    weight: torch.Tensor  # (R, D) their classifier weights
    bias: torch.Tensor | None  # (R,) their biases
    frozen: list[nn.Module]  # trunk modules that do not train (kept in eval mode: BatchNorm statistics stay)

    def set_modes(self) -> None:
        """After ``model.train()``: frozen modules back in eval mode."""
        for m in self.frozen:
            m.eval()

    @torch.no_grad()
    def restore(self) -> None:
        """Kept heads' rows back to their starting values (after each optimiser step)."""
        fc = self.fc
        fc.weight[self.rows] = self.weight.to(fc.weight)
        if self.bias is not None and fc.bias is not None:
            fc.bias[self.rows] = self.bias.to(fc.bias)


def freeze(model: nn.Module, heads: list[Head], n_kept: int, trainable: str) -> Frozen | None:
    """Freeze what ``trainable`` leaves out, and remember the first ``n_kept`` heads' rows; None when nothing is.

    Raises:
        ConfigError: ``trainable: last_stage`` for a model without ``stages``, or ``branch`` without a branch.
    """
    from ferkit.models import head_of

    name, fc = head_of(model)
    if trainable == "all" and not n_kept:
        return None
    frozen: list[nn.Module] = []
    if trainable != "all":
        keep = {name}
        if trainable == "last_stage":
            stages = getattr(model, "stages", None)
            if not isinstance(stages, nn.Sequential) or not len(stages):
                raise ConfigError(
                    f"model.trainable=last_stage: {type(model).__name__} has no stages (fernet_* models have)"
                )
            keep.add(next(n for n, m in model.named_modules() if m is stages[-1]))
        if trainable == "branch":
            branch = getattr(model, "branch", None)
            if not isinstance(branch, nn.Module):
                raise ConfigError(f"model.trainable=branch: {type(model).__name__} cannot branch (fernet_* models can)")
            keep.add(next(n for n, m in model.named_modules() if m is branch))
        for n, p in model.named_parameters():
            if not any(n == k or n.startswith(k + ".") for k in keep):
                p.requires_grad_(False)
        frozen = [
            m
            for n, m in model.named_modules()
            if n and not any(n == k or n.startswith(k + ".") or k.startswith(n + ".") for k in keep)
        ]
    sl = list(head_slices(heads).values())[:n_kept]
    rows = torch.tensor(np.concatenate([np.arange(s.start, s.stop) for s in sl]) if sl else [], dtype=torch.long)
    with torch.no_grad():
        weight = fc.weight[rows].detach().clone()
        bias = fc.bias[rows].detach().clone() if fc.bias is not None else None
    return Frozen(fc, rows, weight, bias, frozen)
