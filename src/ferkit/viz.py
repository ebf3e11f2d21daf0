"""Plots: training curves, confusion matrices. matplotlib with the Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict], path: str | Path) -> None:
    """Loss and accuracy per epoch (train and validation) as a PNG."""
    plt = _plt()
    ep = [h["epoch"] + 1 for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.set_xlabel("epoch")
    a.legend()
    b.plot(ep, [h["train_acc"] for h in history], label="train acc")
    for key in sorted(k for k in history[0] if k.startswith("val_acc")):
        b.plot(ep, [h.get(key, np.nan) for h in history], label=key.replace("val_acc", "val acc"))
    b.set_xlabel("epoch")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix: list[list[int]], classes: list[str], path: str | Path, title: str = "") -> None:
    """A row-normalised confusion matrix with counts, as a PNG."""
    plt = _plt()
    cm = np.array(matrix, float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(classes), 0.8 + 0.6 * len(classes)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
