"""Crowd-vote policies of the FER+ paper (Barsoum et al., arXiv 1608.01041), applied to vote-count targets.

Vote columns that map to no emotion (FER+ ``unknown`` and ``NF``) are never a label: a face whose votes go mostly
there is dropped, as the paper does.

- ``majority``: the unique most-voted emotion, one-hot; ties and unknown/NF winners are dropped. This is the usual
  FER+ benchmark label.
- ``probability``: the vote distribution over emotions after removing single-vote outliers; the trainer draws a
  hard label from it each epoch (the paper's probabilistic label drawing).
- ``crossentropy``: the same distribution, used directly as a soft target.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ferkit.data.sample import SourceData

VotePolicy = Literal["majority", "probability", "crossentropy"]


def is_vote_source(src: SourceData) -> bool:
    """True when targets are crowd vote counts (some row sums past one) rather than one-hot labels."""
    return bool(np.any(src.targets.sum(1) > 1.0 + 1e-6))


def apply_votes(src: SourceData, policy: VotePolicy, emotion_mask: np.ndarray) -> SourceData:
    """Turn vote counts into targets with ``policy``; rows without a valid label are removed.

    Args:
        src: a source whose targets are vote counts.
        policy: majority, probability or crossentropy.
        emotion_mask: (C,) bool, true for the columns that are emotions (false for unknown / NF).
    """
    votes = src.targets.astype(np.float32)
    if policy == "majority":
        top = votes.max(axis=1, keepdims=True)
        winners = votes == top
        unique = winners.sum(axis=1) == 1
        arg = votes.argmax(axis=1)
        keep = unique & emotion_mask[arg]
        targets = np.zeros_like(votes)
        targets[np.arange(len(votes)), arg] = 1.0
    elif policy in ("probability", "crossentropy"):
        cleaned = np.where(votes <= 1.0, 0.0, votes)  # single votes are outliers in the paper
        cleaned = np.where(cleaned.sum(1, keepdims=True) > 0, cleaned, votes)
        emo = cleaned * emotion_mask
        other = cleaned * ~emotion_mask
        # keep a face when its emotion votes outweigh unknown/NF and hold over half of all votes
        keep = (emo.sum(1) > other.max(1)) & (emo.sum(1) > 0.5 * cleaned.sum(1))
        targets = emo / np.maximum(emo.sum(1, keepdims=True), 1e-9)
    else:
        raise ValueError(f"unknown vote policy {policy!r}; known: majority, probability, crossentropy")
    out = src.select(keep)
    out.targets = targets[keep].astype(np.float32)
    return out
