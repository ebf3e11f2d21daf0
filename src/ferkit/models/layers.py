"""Small layers shared by the architectures."""

from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    """Fixed input standardisation, so that every model takes grey levels in [0, 1]."""

    def __init__(self, mean: float = 0.5, std: float = 0.25) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class HeadsLinear(nn.Linear):
    """The classifier of a multi-head model, one matrix product per head.

    A model's heads share one ``nn.Linear`` (its rows, head after head); this computes each head's logits from its
    own rows alone, as a model with only that head would. One wider product may sum in another order (it does with
    oneDNN's and MKL's kernels), so adding a head would otherwise move the other heads' logits in their last bits.
    Same parameters and state-dict keys as the ``nn.Linear`` it replaces.
    """

    def __init__(self, linear: nn.Linear, sizes: list[int]) -> None:
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None)
        if sum(sizes) != linear.out_features:
            raise ValueError(f"head sizes {sizes} do not add up to {linear.out_features} outputs")
        self.sizes = list(sizes)
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ws = self.weight.split(self.sizes)
        bs = self.bias.split(self.sizes) if self.bias is not None else [None] * len(ws)
        return torch.cat([nn.functional.linear(x, w, b) for w, b in zip(ws, bs, strict=True)], dim=1)


def split_heads(model: nn.Module, name: str, sizes: list[int]) -> None:
    """Replace the ``nn.Linear`` called ``name`` in ``model`` by a ``HeadsLinear`` with these head sizes."""
    parent, _, leaf = name.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    setattr(owner, leaf, HeadsLinear(getattr(owner, leaf), sizes))
