"""Classification metrics from predictions and probabilities (numpy only)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts; rows are true classes, columns predicted."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al. 2017)."""
    conf = probs.max(1)
    correct = probs.argmax(1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def classification_report(probs: np.ndarray, y_true: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, NLL loss, per-class precision/recall/F1/support, macro-F1, balanced accuracy, confusion, ECE.

    Args:
        probs: (N, K) probabilities over ``classes``.
        y_true: (N,) true class indices into ``classes``.
    """
    k = len(classes)
    y_pred = probs.argmax(1)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    present = support > 0
    p_true = probs[np.arange(len(y_true)), y_true]
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "loss": float(-np.log(np.clip(p_true, 1e-12, 1)).mean()) if len(y_true) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "ece": expected_calibration_error(probs, y_true),
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "confusion": {"classes": list(classes), "matrix": cm.tolist()},
    }
