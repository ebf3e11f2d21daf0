"""FaceResNet: dlib's face-recognition ResNet with a classifier head, so a run can start from a network trained on
about 3 M faces (``model.init: dlib``; the weights are read by ``ferkit.models.dlib_file``).

The trunk is ``anet_type`` of dlib's ``examples/dnn_face_recognition_ex.cpp`` (29 convolutions, 5.6 M parameters),
layer for layer, with dlib's conventions:

- input: ``input_rgb_image``, ``(pixel - mean_rgb) / 256`` with pixels in 0..255. Grey faces are repeated to RGB and
  resized (bilinear) to ``input_size``; dlib's own input is 150x150.
- ``con``: padding k // 2 at stride 1, none at stride 2; ``max_pool<3,3,2,2>``: no padding (sizes round down).
- ``affine`` after each convolution (dlib's frozen BatchNorm) becomes a ``BatchNorm2d``, see below.
- ``ares``: relu(affine(con(relu(affine(con(x))))) + x).
- ``ares_down``: the first convolution has stride 2, the shortcut is avg_pool 2x2 stride 2 of x, and ``add_prev``
  adds tensors of different shapes as if the smaller one were zero-padded at the end of each dimension: the
  shortcut gains zero channels, and where the strided convolution's output is a row and column smaller than the
  pooled shortcut (e.g. 3x3 against 4x4), it sits in the top-left corner.
- ``avg_pool_everything`` then ``fc_no_bias<128>``: the 128-d face embedding (``embed``, for verification only).

Why BatchNorm2d and not a fixed scale and shift: BatchNorm keeps training from scratch and at high learning rates
stable, and in train mode it adapts to the statistics of new faces (grey, 48 px, upscaled). But a BatchNorm whose
running statistics are (0, 1) equals dlib's affine only in eval mode; in train mode it normalises with batch
statistics and the pretrained network is lost at the first step. So the loader sets running_mean = -conv bias,
running_var = 1 - eps (eval mode is then exactly dlib's network), and ``match_norm_stats`` re-expresses every
BatchNorm with the statistics of the training faces without changing its eval-mode function, so that train mode
starts from the pretrained network too.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferkit.models import register_model

DLIB_MEAN_RGB = (122.782, 117.001, 104.298)  # dlib's input_rgb_image: (pixel - mean) / 256, pixels in 0..255
# (width, blocks, first block halves the resolution), bottom to top: dlib's alevel4, alevel3, ..., alevel0
STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))
EMBED_DIM = 128
MIN_INPUT = 71  # below, the last block's input is under 2x2 and its shortcut's pooling has nothing to pool


def _pad_end(x: torch.Tensor, dh: int, dw: int, dc: int = 0) -> torch.Tensor:
    """Zero-pad (B, C, H, W) at the end of each dimension by (dc, dh, dw); no copy when nothing is missing."""
    return F.pad(x, (0, dw, 0, dh, 0, dc)) if dc or dh or dw else x


def _down(side: int) -> tuple[int, int]:
    """A down block's sides for an input side: its strided convolution's output (on the input zero-padded to at least
    3) and the block's output (the larger of that and the 2x2-pooled shortcut's)."""
    conv = (max(side, 3) - 3) // 2 + 1
    return conv, max(conv, side // 2)


class Block(nn.Module):
    """dlib's ``ares`` (same size) or ``ares_down`` (stride 2, avg-pooled shortcut, zero-padded ``add_prev``).

    ``size``: the side of the square input, when the network fixes it (``FaceResNet`` resizes every face to
    ``input_size``): the zero-padding is then worked out once, and the ONNX export holds constant pads instead of
    shape arithmetic run on every call. None: read from the input.
    """

    def __init__(self, cin: int, cout: int, down: bool, size: int | None = None) -> None:
        super().__init__()
        self.down, self.cin, self.cout, self.size = down, cin, cout, size
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.down:  # (B, C, H, W) -> (B, C, H, W)
            return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + x)
        h, w = (self.size, self.size) if self.size else (x.shape[2], x.shape[3])
        (yh, oh), (yw, ow) = _down(h), _down(w)
        # a 3x3 stride-2 convolution needs 3 rows and columns; dlib reads the missing ones as zeros
        y = _pad_end(x, max(h, 3) - h, max(w, 3) - w)
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(y)))))  # (B, Cin, H, W) -> (B, Cout, yh, yw)
        short = F.avg_pool2d(x, 2)  # (B, Cin, H, W) -> (B, Cin, H // 2, W // 2)
        y = _pad_end(y, oh - yh, ow - yw)
        return torch.relu(y + _pad_end(short, oh - h // 2, ow - w // 2, self.cout - self.cin))


def block_sizes(input_size: int) -> list[int]:
    """The side of each block's input in a ``FaceResNet`` whose faces are resized to ``input_size``."""
    side = ((input_size - 5) // 2 - 3) // 2 + 1  # stem: 7x7 stride-2 convolution, then 3x3 stride-2 max pool
    sizes = []
    for _, n, down in STAGES:
        for i in range(n):
            sizes.append(side)
            if down and i == 0:
                side = _down(side)[1]
    return sizes


class FaceResNet(nn.Module):
    def __init__(self, num_classes: int, input_size: int = 112, dropout: float = 0.3) -> None:
        super().__init__()
        if input_size < MIN_INPUT:
            raise ValueError(f"face_resnet: input_size must be at least {MIN_INPUT}, got {input_size}")
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(DLIB_MEAN_RGB).view(1, 3, 1, 1) / 256, persistent=False)
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 7, stride=2, bias=False),  # (B, 3, S, S) -> (B, 32, (S - 5) // 2, ...): 150 -> 72
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),  # -> (B, 32, 35, 35) at S = 150
        )
        blocks, cin, sizes = [], 32, iter(block_sizes(input_size))
        for width, n, down in STAGES:
            for i in range(n):
                blocks.append(Block(cin, width, down and i == 0, next(sizes)))
                cin = width
        self.blocks = nn.Sequential(*blocks)  # at S = 150: 35 -> 17 -> 8 -> 4 -> 2 (112: 26, 13, 6, 3, 1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        # dlib's fc_no_bias (256 -> 128), used by ``embed`` only; a buffer, so that ``fc`` stays the last nn.Linear
        self.register_buffer("embedding", torch.zeros(cin, EMBED_DIM), persistent=False)

    def to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 48, 48) grey levels in [0, 1] -> (B, 3, S, S) as dlib's input layer makes them."""
        s = self.input_size
        if x.shape[2] != s or x.shape[3] != s:
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        return x.expand(-1, 3, -1, -1) * (255 / 256) - self.mean

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 48, 48) -> (B, 256) pooled trunk features (dlib's avg_pool_everything)."""
        return self.blocks(self.stem(self.to_rgb(x))).mean((2, 3))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x))  # (B, 256) -> (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, 128) dlib face embedding (meaningful once dlib's weights are loaded)."""
        return self.forward_features(x) @ self.embedding.to(x.dtype)


@register_model
def face_resnet(num_classes: int, **kwargs: object) -> nn.Module:
    """dlib's face-recognition ResNet (29 conv, 5.6M parameters); ``input_size`` 112 by default (dlib: 150)."""
    return FaceResNet(num_classes, **kwargs)  # type: ignore[arg-type]


@torch.no_grad()
def match_norm_stats(model: nn.Module, images: np.ndarray, n: int = 512, batch: int = 128, seed: int = 0) -> None:
    """Give every BatchNorm2d of ``model`` the statistics of its input on ``images``, keeping its eval-mode function.

    Each BatchNorm computes ``(x - m) / sqrt(v + eps) * w + b``; with the mean and variance (m', v') of its input on
    the faces it becomes ``w' = w * sqrt(v' + eps) / sqrt(v + eps)``, ``b' = b + w * (m' - m) / sqrt(v + eps)``, the
    same function in eval mode and close to it in train mode, where batch statistics replace (m', v').

    Args:
        model: a model with BatchNorm2d layers (e.g. ``face_resnet`` just loaded from dlib's weights).
        images: (N, 48, 48) uint8 grey faces; ``n`` of them, drawn at random, are used.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    sums: dict[nn.Module, list[torch.Tensor]] = {m: [] for m in norms}  # per batch: (3, C) count, sum, sum of squares

    def hook(m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].double()
        count = torch.full((x.shape[1],), x.numel() / x.shape[1], dtype=x.dtype, device=x.device)
        sums[m].append(torch.stack([count, x.sum((0, 2, 3)), (x * x).sum((0, 2, 3))]))

    pick = np.random.default_rng(seed).permutation(len(images))[:n]
    was_training = model.training
    handles = [m.register_forward_pre_hook(hook) for m in norms]
    try:
        model.eval()
        device = next(model.parameters()).device
        for i in range(0, len(pick), batch):
            faces = torch.from_numpy(images[np.sort(pick[i : i + batch])]).to(device)
            model(faces.unsqueeze(1).float().div_(255))  # (b, 48, 48) uint8 -> (b, 1, 48, 48) in [0, 1]
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    for m in norms:
        count, total, sq = torch.stack(sums[m]).sum(0)
        mean = total / count
        var = (sq / count - mean * mean).clamp_min(0)
        old = torch.sqrt(m.running_var.double() + m.eps)
        w = m.weight.double()
        m.bias.copy_(m.bias.double() + w * (mean - m.running_mean.double()) / old)
        m.weight.copy_(w * torch.sqrt(var + m.eps) / old)
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
