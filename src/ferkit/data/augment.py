"""Batched augmentation on tensors (kornia): flip, affine, random resized crop, erasing, and the ways photos differ
from FER-2013 crops (perspective, light, gamma, low resolution, blur, JPEG), each with its own probability; and
mixup, which blends faces and so also splits their labels (the training loop applies it).

Order: geometry (flip, crop, affine, perspective), then light and gamma (the scene), then resolution, blur and JPEG
(the camera and the file), then erasing (an occluder). With the photo ops off the pipeline is exactly the one
before they existed, so older recipes and resumed runs draw the same augmentations.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from kornia.augmentation import IntensityAugmentationBase2D, RandomJPEG
from torch import nn

from ferkit.config import AugmentConfig


def _drawn(params: dict[str, torch.Tensor], n: int, device: torch.device) -> torch.Tensor:
    """(n,) bool: the faces this op was drawn for (kornia transforms the whole batch and keeps the drawn rows)."""
    prob = params.get("batch_prob")
    if prob is None or prob.numel() != n:
        return torch.ones(n, dtype=torch.bool, device=device)
    return prob.to(device) > 0.5


class RandomLowResolution(IntensityAugmentationBase2D):
    """A face seen small: shrink each face to a random side in ``side`` pixels (area averaging, like a camera or
    ``to_face`` shrinking a photo) and enlarge it back (bilinear, like ``to_face`` enlarging a small crop)."""

    def __init__(self, side: tuple[int, int] = (12, 40), p: float = 0.5) -> None:
        super().__init__(p=p)
        self.side = (int(side[0]), int(side[1]))
        if not 1 <= self.side[0] <= self.side[1]:
            raise ValueError(f"low-resolution side range must be 1 <= lo <= hi, got {side}")

    def generate_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
        return {"side": torch.randint(self.side[0], self.side[1] + 1, (batch_shape[0],))}

    def apply_transform(
        self, input: torch.Tensor, params: dict[str, torch.Tensor], flags: dict[str, Any], transform: Any = None
    ) -> torch.Tensor:
        h, w = input.shape[-2:]
        out = input.clone()
        side = params["side"].to(input.device)
        drawn = _drawn(params, len(input), input.device)
        for s in side[drawn].unique().tolist():  # one resize pair per distinct side among the drawn faces
            rows = ((side == s) & drawn).nonzero(as_tuple=True)[0]
            small = F.interpolate(input[rows], size=(s, s), mode="area")  # (b, C, H, W) -> (b, C, s, s)
            out[rows] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).to(out.dtype)
        return out


class RandomGrayJPEG(RandomJPEG):
    """kornia's ``RandomJPEG`` for gray (B, 1, H, W) faces: the codec wants three channels, so the grey levels are
    coded as the luma of a colourless image, and the luma comes back."""

    def apply_transform(
        self, input: torch.Tensor, params: dict[str, torch.Tensor], flags: dict[str, Any], transform: Any = None
    ) -> torch.Tensor:
        drawn = _drawn(params, len(input), input.device)  # the codec is slow: code only the drawn faces
        out = input.clone()
        if not drawn.any():
            return out
        rgb = input[drawn].expand(-1, 3, -1, -1)  # (b, 1, H, W) -> (b, 3, H, W), R = G = B
        quality = {"jpeg_quality": params["jpeg_quality"].to(input.device)[drawn]}
        out[drawn] = super().apply_transform(rgb, quality, flags, transform).mean(1, keepdim=True).to(out.dtype)
        return out


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
    if cfg.perspective > 0:
        ops.append(K.RandomPerspective(cfg.perspective_scale, p=cfg.perspective, sampling_method="area_preserving"))
    if cfg.light > 0:
        ops.append(K.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast, p=cfg.light))
    if cfg.gamma > 0:
        ops.append(K.RandomGamma(gamma=cfg.gamma_range, p=cfg.gamma))
    if cfg.low_res > 0:
        ops.append(RandomLowResolution(cfg.low_res_side, p=cfg.low_res))
    if cfg.blur > 0:
        k = 2 * math.ceil(3 * cfg.blur_sigma[1]) + 1  # the kernel covers +-3 sigma
        ops.append(K.RandomGaussianBlur((k, k), cfg.blur_sigma, p=cfg.blur))
    if cfg.jpeg > 0:
        ops.append(RandomGrayJPEG(jpeg_quality=cfg.jpeg_quality, p=cfg.jpeg))
    if cfg.erasing > 0:
        ops.append(K.RandomErasing(p=cfg.erasing, scale=(0.02, 0.2), value=0.0))
    if not ops:
        return nn.Identity()
    return K.AugmentationSequential(*ops, data_keys=["input"])


@torch.no_grad()
def augment_batch(aug: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return aug(x).clamp_(0.0, 1.0)


@torch.no_grad()
def mixup(x: torch.Tensor, alpha: float) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Mixup (Zhang et al., 2018, arXiv 1710.09412): the batch blended with a shuffled copy of itself.

    Returns the blended batch, the weight ``lam`` of each image's own face (drawn from Beta(alpha, alpha) and
    folded to at least 0.5, so that each image still shows mostly its own face) and ``partner``: face ``j`` also
    appears, with weight ``1 - lam``, in image ``partner[j]``. A face's loss is then ``lam`` times its loss on its own
    image plus ``1 - lam`` times its loss on ``partner[j]``, whatever labels (and heads) it carries.
    (B, C, H, W) -> (B, C, H, W), float, (B,) long.
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    lam = max(lam, 1.0 - lam)
    shuffle = torch.randperm(len(x), device=x.device)  # image i takes face shuffle[i] as its second face
    partner = torch.empty_like(shuffle)
    partner[shuffle] = torch.arange(len(x), device=x.device)
    return lam * x + (1.0 - lam) * x[shuffle], lam, partner


@torch.no_grad()
def implied_zoom(cfg: AugmentConfig, size: int = 48, n: int = 20000, seed: int = 0) -> dict[str, float]:
    """How much training magnifies a face on average: the geometric ops of ``cfg`` sampled ``n`` times, each
    sample's magnification ``sqrt(|det J|)`` of its transform's Jacobian at the face centre (1.1 = the face looks
    10% larger than the stored crop). Returns its mean, median and geometric mean.

    FixRes (arXiv 1906.06423): a network trained on magnified faces sees test faces as too small; a test-time
    zoom (``Preprocessing.zoom``) near the mean magnification can make up for it.
    """
    geometric = replace(cfg, light=0.0, gamma=0.0, low_res=0.0, blur=0.0, jpeg=0.0, erasing=0.0)
    aug = build_augment(geometric, size)
    if isinstance(aug, nn.Identity):
        return {"mean": 1.0, "median": 1.0, "geomean": 1.0}
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    mags = []
    c = (size - 1) / 2
    for i in range(0, n, 4096):
        b = min(4096, n - i)
        aug(torch.zeros(b, 1, size, size))
        h = aug.transform_matrix.double()  # (b, 3, 3), input pixel -> output pixel
        p = torch.tensor([c, c, 1.0], dtype=torch.float64)
        q = h @ p  # (b, 3)
        u = q[:, :2] / q[:, 2:]  # output point of the centre
        jac = (h[:, :2, :2] - u[:, :, None] * h[:, 2, None, :2]) / q[:, 2, None, None]  # (b, 2, 2)
        mags.append(torch.linalg.det(jac).abs().sqrt())
    torch.random.set_rng_state(state)
    m = torch.cat(mags)
    return {"mean": float(m.mean()), "median": float(m.median()), "geomean": float(m.log().mean().exp())}
