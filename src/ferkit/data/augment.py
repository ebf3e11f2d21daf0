"""Batched augmentation on tensors (kornia): flip, affine, random resized crop, erasing."""

from __future__ import annotations

import torch
from torch import nn

from ferkit.config import AugmentConfig


def build_augment(cfg: AugmentConfig, size: int = 48) -> nn.Module:
    """An augmentation module mapping (B, 1, H, W) float in [0, 1] to the same shape; identity when all off."""
    import kornia.augmentation as K

    ops: list[nn.Module] = []
    if cfg.flip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    if cfg.crop:
        ops.append(K.RandomResizedCrop((size, size), scale=cfg.crop_scale, ratio=(0.9, 1.1), p=1.0))
    if cfg.affine:
        ops.append(
            K.RandomAffine(
                degrees=cfg.degrees,
                translate=(cfg.translate, cfg.translate),
                scale=cfg.scale,
                padding_mode="reflection",
                p=0.8,
            )
        )
    if cfg.erasing > 0:
        ops.append(K.RandomErasing(p=cfg.erasing, scale=(0.02, 0.2), value=0.0))
    if not ops:
        return nn.Identity()
    return K.AugmentationSequential(*ops, data_keys=["input"])


@torch.no_grad()
def augment_batch(aug: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return aug(x).clamp_(0.0, 1.0)
