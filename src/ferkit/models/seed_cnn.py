"""The seed design: the original FER-2013 CNN (Conv+ReLU, max pooling, dense layers, dropout).

Softmax is applied outside the model (in the loss and in inference); the network returns logits.
"""

from __future__ import annotations

import torch
from torch import nn

from ferkit.models import register_model
from ferkit.models.layers import Normalize


class SeedCNN(nn.Module):
    def __init__(self, num_classes: int, dropout: float = 0.25, dense_dropout: float = 0.5) -> None:
        super().__init__()
        self.norm = Normalize()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),  # (B, 1, 48, 48) -> (B, 32, 48, 48)
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # -> (B, 64, 24, 24)
            nn.Dropout(dropout),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # -> (B, 128, 12, 12)
            nn.Conv2d(128, 128, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # -> (B, 128, 6, 6)
            nn.Dropout(dropout),
        )
        self.head = nn.Sequential(
            nn.Flatten(),  # -> (B, 4608)
            nn.Linear(128 * 6 * 6, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(dense_dropout),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.norm(x)))


@register_model
def seed_cnn(num_classes: int, **kwargs: float) -> nn.Module:
    """The original ferkit seed CNN (about 4.9M parameters, most of them in the first dense layer)."""
    return SeedCNN(num_classes, **kwargs)
