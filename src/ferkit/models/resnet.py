"""FerNet: a small pre-activation-free ResNet for 48x48 faces, sized for CPU training and inference.

Stem at full resolution, then stages that halve the resolution and widen; each stage is residual blocks of
two 3x3 convolutions with BatchNorm. Global average pooling and dropout feed a linear head.

A FerNet may carry a branch (``branch=(start, stop)``): a second copy of its last block whose features feed logit
columns ``start:stop`` (heads added later, ``model.trainable: branch``), while every other column still comes from
the trunk's own last block. The branch trains with its heads; the trunk and the other heads stay as they were.
"""

from __future__ import annotations

import torch
from torch import nn

from ferkit.models import register_model
from ferkit.models.layers import Normalize, two_path_logits


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.conv2(self.conv1(x))) + self.shortcut(x))


class FerNet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (16, 48, 96, 192),
        depths: tuple[int, ...] = (1, 1, 2, 1),
        dropout: float = 0.3,
        branch: tuple[int, int] | list[int] | None = None,
    ) -> None:
        super().__init__()
        self.norm = Normalize()
        self.stem = conv_bn(1, widths[0])  # (B, 1, 48, 48) -> (B, w0, 48, 48)
        stages, cin = [], widths[0]
        for i, (w, d) in enumerate(zip(widths, depths, strict=True)):
            for j in range(d):
                # the first stage keeps 48x48; each later stage halves: 48 -> 24 -> 12 -> 6
                stride = 2 if (j == 0 and i > 0) else 1
                stages.append(BasicBlock(cin, w, stride))
                cin = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)  # (B, C, 6, 6) -> (B, C, 1, 1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        self.branch_cols = (int(branch[0]), int(branch[1])) if branch else None
        self.branch: nn.Module | None = None
        if self.branch_cols is not None:
            start, stop = self.branch_cols
            if not 0 <= start < stop <= num_classes:
                raise ValueError(f"branch columns {start}:{stop} do not lie within {num_classes} classes")
            last = stages[-1]  # the same block again, for the branch's heads
            self.branch = BasicBlock(last.conv1[0].in_channels, cin, last.conv1[0].stride[0])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(self.norm(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self._pooled(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch is None or self.branch_cols is None:
            return self.forward_head(self.forward_features(x))
        h = self.stem(self.norm(x))
        for block in self.stages[:-1]:
            h = block(h)
        trunk, branch = self.stages[-1](h), self.branch(h)
        return two_path_logits(self.fc, self._pooled(trunk), self._pooled(branch), self.branch_cols)

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.flatten(self.pool(x), 1))


@register_model
def fernet_s(num_classes: int, **kwargs: object) -> nn.Module:
    """FerNet-S: widths 16-48-96-192, depths 1-1-2-1 (0.85M parameters; ferkit-v2)."""
    return FerNet(num_classes, **kwargs)  # type: ignore[arg-type]


@register_model
def fernet_xs(num_classes: int, **kwargs: object) -> nn.Module:
    """FerNet-XS: widths 16-48-96-160, depths 1-1-1-1 (0.55M parameters; 1 ms per face in ONNX fp32; shipped)."""
    kwargs.setdefault("widths", (16, 48, 96, 160))
    kwargs.setdefault("depths", (1, 1, 1, 1))
    return FerNet(num_classes, **kwargs)  # type: ignore[arg-type]


@register_model
def fernet_m(num_classes: int, **kwargs: object) -> nn.Module:
    """FerNet-M: widths 32-64-128-256, depths 1-2-2-2 (2.8M parameters)."""
    kwargs.setdefault("widths", (32, 64, 128, 256))
    kwargs.setdefault("depths", (1, 2, 2, 2))
    return FerNet(num_classes, **kwargs)  # type: ignore[arg-type]
