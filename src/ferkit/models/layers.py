"""Small layers shared by the architectures."""

from __future__ import annotations

import itertools

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
        return self.per_head([x] * len(self.sizes))

    def per_head(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Logits with head ``i``'s columns computed from features ``xs[i]``."""
        ws = self.weight.split(self.sizes)
        bs = self.bias.split(self.sizes) if self.bias is not None else [None] * len(ws)
        return torch.cat([nn.functional.linear(x, w, b) for x, w, b in zip(xs, ws, bs, strict=True)], dim=1)


def two_path_logits(fc: nn.Linear, trunk: torch.Tensor, branch: torch.Tensor, cols: tuple[int, int]) -> torch.Tensor:
    """Logits of a model with a branch: columns ``cols[0]:cols[1]`` from the branch's features, the rest from the
    trunk's. With a ``HeadsLinear``, each head is still its own product (a head lies wholly on one side)."""
    start, stop = cols
    if isinstance(fc, HeadsLinear):
        edges = [0, *itertools.accumulate(fc.sizes)]
        return fc.per_head([branch if start <= a < stop else trunk for a in edges[:-1]])
    w, b = fc.weight, fc.bias
    parts = [(trunk, 0, start), (branch, start, stop), (trunk, stop, fc.out_features)]
    return torch.cat(
        [nn.functional.linear(x, w[i:j], b[i:j] if b is not None else None) for x, i, j in parts if j > i], dim=1
    )


def split_heads(model: nn.Module, name: str, sizes: list[int]) -> None:
    """Replace the ``nn.Linear`` called ``name`` in ``model`` by a ``HeadsLinear`` with these head sizes."""
    parent, _, leaf = name.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    setattr(owner, leaf, HeadsLinear(getattr(owner, leaf), sizes))
