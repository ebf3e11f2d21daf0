"""Plots: predictions on a photo, a dataset at a glance, training curves, confusion matrices.

Every function returns its matplotlib ``Figure`` (a notebook shows it when it is a cell's last value) and writes it
as a PNG when given a path. In a script figures are drawn without a display (Agg); in a notebook, inline.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ferkit.data.sample import SourceData
    from ferkit.imaging import ImageInput
    from ferkit.inference.predictor import Face, Predictor


def _plt():
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ:
        # no display needed in a script; a notebook kernel shows figures inline (ipykernel usually says so itself)
        matplotlib.use("module://matplotlib_inline.backend_inline" if "ipykernel" in sys.modules else "Agg")
    import matplotlib.pyplot as plt

    return plt


def _done(fig: Figure, path: str | Path | None) -> Figure:
    """Write the figure if asked, and close it: a notebook then shows it once, as the returned value."""
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    _plt().close(fig)
    return fig


def _rgb(label: str) -> tuple[float, float, float]:
    from ferkit.inference.annotate import color_of

    b, g, r = color_of(label)
    return r / 255, g / 255, b / 255


# ---- predictions ----------------------------------------------------------------------------------------------


def plot_faces(
    image: ImageInput,
    faces: Sequence[Face],
    crops: Sequence[np.ndarray] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The photo with each face's box and label, and per face a bar chart of its probabilities (beside the grey crop
    the model saw, when ``crops`` are given).

    Args:
        image: a path, bytes or BGR array (anything ``Predictor.predict`` takes).
        faces: the predictions for it.
        crops: one (size, size) uint8 face per prediction, as classified.
        path: also write the figure here.
    """
    import cv2

    from ferkit.imaging import load_image
    from ferkit.inference.annotate import annotate

    plt = _plt()
    shown = cv2.cvtColor(annotate(load_image(image), faces, bars=False), cv2.COLOR_BGR2RGB)
    n = len(faces)
    ratios = [6, 1.2, 3] if crops is not None else [6, 3]
    cols = len(ratios)
    fig = plt.figure(figsize=(11, max(4.0, 1.9 * n)))
    grid = fig.add_gridspec(max(n, 1), cols, width_ratios=ratios)
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(shown)
    ax.set_axis_off()
    ax.set_title(f"{n} face{'s' if n != 1 else ''}" if n else "no face found")
    for i, f in enumerate(faces):
        if crops is not None:
            c = fig.add_subplot(grid[i, 1])
            c.imshow(crops[i], cmap="gray", vmin=0, vmax=255)
            c.set_axis_off()
            c.set_title(f"#{i + 1} as seen", fontsize=8)
        b = fig.add_subplot(grid[i, cols - 1])
        names = list(f.probs)
        b.barh(names, list(f.probs.values()), color=[_rgb(c) for c in names])
        b.set_xlim(0, 1)
        b.invert_yaxis()
        b.tick_params(labelsize=8)
        b.set_title(f"#{i + 1}: {f.label} {f.score:.0%}" if n > 1 else f"{f.label} {f.score:.0%}", fontsize=9)
    return _done(fig, path)


def plot_prediction(predictor: Predictor, image: ImageInput, path: str | Path | None = None) -> Figure:
    """Run ``predictor`` on an image and show it: every face's box and label, the 48x48 grey crop it classified
    (detect, align, crop, grey, resize: the same code as training) and its probabilities."""
    from ferkit.imaging import crop_face, load_image
    from ferkit.inference.detectors import Detection

    bgr = load_image(image)
    faces = predictor.predict(bgr)
    pre = predictor.info.preprocessing
    marks = [np.array(f.landmarks, np.float32) if f.landmarks else None for f in faces]
    crops = [
        crop_face(bgr, Detection(f.box, f.detection_score, m, f.whole), pre) for f, m in zip(faces, marks, strict=True)
    ]
    return plot_faces(bgr, faces, crops, path)


# ---- data -----------------------------------------------------------------------------------------------------


def plot_dataset(src: SourceData, per_class: int = 8, path: str | Path | None = None) -> Figure:
    """A dataset at a glance: faces per class in each split (bars), and a row of sample faces per class."""
    from ferkit.data.summary import face_grid, summarize

    plt = _plt()
    s = summarize(src)
    grid = face_grid(src, per_class=per_class)
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [1, 1.3]})
    x = np.arange(len(s["classes"]))
    width = 0.8 / max(len(s["splits"]), 1)
    for k, (split, counts) in enumerate(s["splits"].items()):
        a.bar(x + k * width, [counts[c] for c in s["classes"]], width, label=f"{split} ({sum(counts.values())})")
    a.set_xticks(x + width * (len(s["splits"]) - 1) / 2, s["classes"], rotation=30, ha="right")
    a.set_ylabel("faces")
    a.set_title(f"{src.name}: {len(src)} faces ({src.format} layout)")
    a.legend(ncol=len(s["splits"]), loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    b.imshow(grid, cmap="gray", vmin=0, vmax=255)
    b.set_axis_off()
    b.set_title("sample faces per class")
    return _done(fig, path)


# ---- training -------------------------------------------------------------------------------------------------


def plot_curves(history: list[dict], path: str | Path | None = None) -> Figure:
    """Loss and accuracy per epoch (train and validation)."""
    plt = _plt()
    ep = [h["epoch"] + 1 for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train loss")
    b.plot(ep, [h["train_acc"] for h in history], "o-", label="train acc")
    per_source = sorted({k for h in history for k in h if k.startswith("val_acc/")})
    for key in (["val_acc"] if len(per_source) != 1 else []) + per_source:  # the mean only when it says more
        b.plot(ep, [h.get(key, np.nan) for h in history], "o-", label=key.replace("val_acc", "val acc"))
    for ax in (a, b):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    return _done(fig, path)


class LiveCurves:
    """An ``on_epoch`` hook for ``train`` that keeps the training curves drawn, redrawn after every epoch, below the
    notebook cell that trains. ``history`` holds each epoch's metrics.

    Example:
        >>> curves = LiveCurves()
        >>> train(cfg, progress=True, on_epoch=curves)
    """

    def __init__(self) -> None:
        self.history: list[dict] = []
        self._handle = None

    def __call__(self, stats: dict) -> None:
        self.history.append(stats)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:  # not in a notebook or IPython: the history is still kept
            return
        fig = plot_curves(self.history)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)


# ---- evaluation -----------------------------------------------------------------------------------------------


def _confusion(ax: Axes, matrix: list[list[int]], classes: list[str], title: str = "") -> None:
    cm = np.array(matrix, float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
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


def plot_confusion(
    matrix: list[list[int]], classes: list[str], path: str | Path | None = None, title: str = ""
) -> Figure:
    """A row-normalised confusion matrix with counts."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(classes), 0.8 + 0.6 * len(classes)))
    _confusion(ax, matrix, classes, title)
    return _done(fig, path)


def plot_reports(reports: dict[str, dict], path: str | Path | None = None) -> Figure:
    """Models side by side on one test set: each one's confusion matrix, titled with its accuracy and macro-F1.

    Args:
        reports: name -> an evaluation report (``ferkit.engine.evaluate.evaluate_model`` / ``evaluate_source``).
    """
    plt = _plt()
    n = len(reports)
    side = max((len(r["confusion"]["classes"]) for r in reports.values()), default=1)
    fig, axes = plt.subplots(1, max(n, 1), figsize=(n * (1.2 + 0.6 * side), 1.4 + 0.6 * side), squeeze=False)
    for ax, (name, r) in zip(axes[0], reports.items(), strict=False):
        title = f"{name}\naccuracy {r['accuracy']:.1%}, macro-F1 {r['macro_f1']:.1%}"
        _confusion(ax, r["confusion"]["matrix"], r["confusion"]["classes"], title)
    return _done(fig, path)
