"""The partial-label loss: each sample competes only among the classes its source could express."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log-softmax over the allowed classes only; disallowed classes get -inf. (B, K), (B, K) bool -> (B, K)."""
    return F.log_softmax(logits.float().masked_fill(~mask, float("-inf")), dim=1)


def partial_label_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Soft cross-entropy restricted to each sample's expressible classes.

    Args:
        logits: (B, K) model outputs.
        targets: (B, K) distributions (one-hot or soft), zero outside ``mask``.
        mask: (B, K) bool, the classes the sample's source could express.
        label_smoothing: mass spread uniformly over the allowed classes.
        class_weights: (K,) per-class weights applied to each sample by its target distribution.
    """
    if label_smoothing > 0:
        allowed = mask.float()
        targets = (1 - label_smoothing) * targets + label_smoothing * allowed / allowed.sum(1, keepdim=True)
    logp = masked_log_softmax(logits, mask)
    per_sample = -(targets * logp.masked_fill(~mask, 0.0)).sum(1)  # (B,)
    if class_weights is not None:
        w = targets @ class_weights  # (B,)
        return (per_sample * w).sum() / w.sum()
    return per_sample.mean()


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mask: torch.Tensor,
    temperature: float = 2.0,
    heads: Sequence[slice] | None = None,
) -> torch.Tensor:
    """Knowledge distillation: KL(teacher || student) of the temperature-softened distributions, times T^2 (so its
    gradients keep their size as T changes; Hinton et al., 2015), over the classes in ``mask`` only.

    Args:
        student: (B, K) student logits.
        teacher: (B, K) teacher logits in the student's class order (any value where ``mask`` is False).
        mask: (K,) bool, the classes both know.
        temperature: softening of both distributions.
        heads: the columns of each classifier head of a multi-head model; each head is a distribution of its own
            and the loss is the mean over heads. None: all columns are one distribution.
    """
    if heads is not None and len(heads) > 1:
        losses = [
            distillation_loss(student[:, sl], teacher[:, sl], mask[sl], temperature) for sl in heads if mask[sl].any()
        ]
        return torch.stack(losses).mean()
    m = mask.expand_as(student)
    p_t = masked_log_softmax(teacher.detach() / temperature, m).exp()
    log_s = masked_log_softmax(student / temperature, m)
    log_t = torch.log(p_t.clamp_min(1e-12))
    kl = (p_t * (log_t - log_s)).masked_fill(~m, 0.0).sum(1)
    return kl.mean() * temperature**2
