"""An ensemble: trained networks whose calibrated probabilities are averaged, run as one model.

Networks trained apart make different errors, and the mean of their calibrated probabilities beats the best of them
(``bench/ensemble.py`` measures every subset on validation). This wraps such members in one module that maps faces
to logits like every registered model, so that the model file, calibration, every backend and ONNX export treat it
as one network:

- each member's logits are divided by its own calibrated temperature, per head (its class offsets are already in
  its weights); each head's softmax is taken per member and averaged with equal weight;
- the log of that mean goes through ``out``, a linear layer that starts as the identity. It is the ensemble's head
  (``head_of``): calibrating the ensemble folds its class offsets into ``out``'s bias and fits its temperatures on
  top, as for any other model.

``engine.ensemble.ensemble_of`` builds the model file from members' model files.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from ferkit.models import build_model, head_of, register_model
from ferkit.models.layers import split_heads

FLOOR = 1e-12  # mean probabilities are floored before the log: a float32 softmax can underflow to 0


class Ensemble(nn.Module):
    """Members' calibrated probabilities averaged per head; ``log(mean)`` through an identity-initialised head."""

    def __init__(self, num_classes: int, members: list[dict[str, Any]], heads: list[int]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if sum(heads) != num_classes:
            raise ValueError(f"head sizes {heads} do not add up to {num_classes} classes")
        self.heads = list(heads)
        self.members = nn.ModuleList()
        inv_t = []
        for m in members:
            net = build_model(m["arch"], num_classes=num_classes, **m.get("arch_kwargs", {}))
            if len(heads) > 1:  # as the member's own model file builds it: each head its own product
                split_heads(net, head_of(net)[0], self.heads)
            self.members.append(net)
            temps = [float(t) for t in m.get("temperatures", [1.0] * len(heads))]
            if len(temps) != len(heads) or min(temps) <= 0:
                raise ValueError(f"member {m['arch']}: needs a positive temperature per head, got {temps}")
            inv_t.append([1.0 / t for t, n in zip(temps, heads, strict=True) for _ in range(n)])
        self.register_buffer("inv_t", torch.tensor(inv_t, dtype=torch.float32), persistent=False)
        self.out = nn.Linear(num_classes, num_classes)
        with torch.no_grad():
            self.out.weight.copy_(torch.eye(num_classes))
            self.out.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.stack([net(x).float() for net in self.members]) * self.inv_t[:, None, :]  # (members, B, C)
        edges = [0, *itertools.accumulate(self.heads)]
        mean = [z[:, :, a:b].softmax(-1).mean(0) for a, b in itertools.pairwise(edges)]
        return self.out(torch.cat(mean, 1).clamp_min(FLOOR).log())


@register_model
def ensemble(num_classes: int, members: list[dict[str, Any]], heads: list[int] | None = None) -> nn.Module:
    """``members``: ``{"arch", "arch_kwargs", "temperatures"}`` each (temperatures: one per head, in head order);
    ``heads``: the number of classes of each head, in column order (default: one head)."""
    return Ensemble(num_classes, members, heads or [num_classes])
