"""Calibration on validation data, stored in the model file.

- Temperature scaling (Guo et al. 2017): one scalar dividing the logits, fitted to minimise NLL.
- Class offsets: one number per class added to the logits (folded into the head's bias, so exported models carry
  it too), fitted to raise macro-F1 while no source's accuracy falls by more than a small budget, and averaged over
  bootstrap resamples of the validation faces (bagging). A rare class the network almost never ranks first (FER+
  contempt) gets predicted again; most other decisions stay as they were.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ferkit.config import CalibrateConfig
from ferkit.errors import FewValidationFacesWarning
from ferkit.heads import Head, head_slices
from ferkit.preprocess import softmax

MIN_OFFSET_FACES = 20  # a class with fewer validation faces gets an offset that mostly fits those faces (a warning)


def _nll(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    z = logits / t
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature in [lo, hi] minimising validation NLL (golden-section search on log t)."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(60):
        if _nll(logits, y, np.exp(c)) < _nll(logits, y, np.exp(d)):
            b = d
        else:
            a = c
        c, d = b - g * (b - a), a + g * (b - a)
    return float(np.exp((a + b) / 2))


def fit_head_temperatures(logits: np.ndarray, y: np.ndarray, masks: np.ndarray, heads: list[Head]) -> dict[str, float]:
    """One temperature per head, fitted on the validation rows that its own sources label (``masks``: (N, K), the
    columns each row's source labels; ``y``: column indices), among that head's columns; a head without such rows
    gets none."""
    temps = {}
    for name, sl in head_slices(heads).items():
        rows = masks[:, sl].any(1)
        if rows.any():
            temps[name] = fit_temperature(logits[rows][:, sl], y[rows] - sl.start)
    return temps


def head_priors(logits: np.ndarray, masks: np.ndarray, heads: list[Head]) -> dict[str, list[float]]:
    """Each head's class mix (``Head.prior``): the mean of its calibrated probabilities (logits with the class
    offsets in them, over the head's temperature) on the validation rows its own sources label."""
    priors = {}
    for h, (name, sl) in zip(heads, head_slices(heads).items(), strict=True):
        rows = masks[:, sl].any(1)
        if rows.any():
            priors[name] = softmax(logits[rows][:, sl], h.temperature).mean(0, dtype=np.float64).tolist()
    return priors


def _accuracies_and_macro_f1(logits: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    accs, f1 = _scores(logits.argmax(1)[None, :], y, groups, k)
    return accs[0], float(f1[0])


def _scores(pred: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each group's accuracy and the macro-F1 (over the classes ``y`` holds) of G rows of predictions at once:
    (G, N) predicted classes -> (G, groups), (G,)."""
    right = pred == y[None, :]
    g = len(pred)
    rows = np.arange(g)[:, None] * k
    tp = np.bincount((rows + y[None, :])[right], minlength=g * k).reshape(g, k).astype(float)
    n_pred = np.bincount((rows + pred).ravel(), minlength=g * k).reshape(g, k)
    n_true = np.bincount(y, minlength=k)
    denom = n_true[None, :] + n_pred
    f1 = np.divide(2 * tp, denom, out=np.zeros((g, k)), where=denom > 0)[:, n_true > 0].mean(1)
    n_groups = int(groups.max()) + 1 if len(groups) else 1
    grows = np.arange(g)[:, None] * n_groups
    hits = np.bincount((grows + groups[None, :]).ravel(), weights=right.ravel(), minlength=g * n_groups)
    accs = hits.reshape(g, n_groups) / np.maximum(np.bincount(groups, minlength=n_groups), 1)
    return accs, f1


def fit_class_bias(
    logits: np.ndarray,
    y: np.ndarray,
    max_accuracy_drop: float = 0.001,
    groups: np.ndarray | None = None,
    grid: np.ndarray | None = None,
    rounds: int = 2,
    on_step: Callable[[], None] | None = None,
    bags: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Per-class offsets for ``logits`` that raise validation macro-F1 while the accuracy of every group (a source,
    say) falls by at most ``max_accuracy_drop`` (a fraction: 0.001 is 0.1 points).

    Coordinate ascent: class by class, the offset on ``grid`` with the best macro-F1 among those within the budget;
    an offset moves only for a strict gain, so classes that gain nothing keep 0. Masked logits (-1e9, a class a
    row's source lacks) stay out of reach of any offset on the grid.

    With ``bags`` > 1 the offsets are the mean of those fitted on ``bags`` bootstrap resamples of the rows (drawn
    with ``seed``): what every resample agrees on stays, what a few faces decide shrinks. Fitted on few faces,
    single offsets lower held-out macro-F1 and bagged ones much less (notes/training.md, "bagged offsets").

    Args:
        logits: (N, K) validation logits.
        y: (N,) true class indices.
        groups: (N,) group index of each row (each group keeps its own accuracy); None = one group.
        on_step: called after each class of each round of each bag (``bags * rounds * K`` steps), for a progress
            bar.

    Returns:
        (K,) float32 offsets to add to the logits.
    """
    groups = np.zeros(len(y), np.int64) if groups is None else np.asarray(groups, np.int64)
    if bags > 1:
        rng = np.random.default_rng(seed)
        draws = (rng.integers(0, len(y), len(y)) for _ in range(bags))
        fits = [fit_class_bias(logits[i], y[i], max_accuracy_drop, groups[i], grid, rounds, on_step) for i in draws]
        return np.mean(fits, axis=0, dtype=np.float64).astype(np.float32)
    k = logits.shape[1]
    grid = np.round(np.linspace(-3.0, 3.0, 61), 6) if grid is None else grid
    grid = grid[np.argsort(np.abs(grid), kind="stable")]  # ties go to the smallest offset
    bias = np.zeros(k, np.float32)
    accs, best = _accuracies_and_macro_f1(logits, y, groups, k)
    floor = accs - max_accuracy_drop - 1e-12
    for _ in range(rounds):
        for c in range(k):
            all_accs, all_f1 = _scores_along(logits, y, groups, k, bias, c, grid.astype(np.float32))
            for v, accs, f1 in zip(grid, all_accs, all_f1, strict=True):  # in order: the first best offset wins
                if (accs >= floor).all() and f1 > best + 1e-9:
                    best, bias = f1, bias.copy()
                    bias[c] = v
            if on_step is not None:
                on_step()
    return bias


def _scores_along(
    logits: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int, bias: np.ndarray, c: int, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_accuracies_and_macro_f1`` of ``logits + bias`` with ``bias[c]`` set to each of ``values``, at once:
    (G, groups) accuracies and (G,) macro-F1s. The same numbers as one call per value (argmax's first-index rule
    for ties included), without re-ranking the other classes G times."""
    shifted = logits + bias
    others = shifted.copy()
    others[:, c] = -np.inf
    arg_other = others.argmax(1)
    max_other = others[np.arange(len(y)), arg_other]
    s = logits[:, c][None, :] + values[:, None].astype(bias.dtype)  # (G, N), as logits + trial computes it
    pred = np.where((s > max_other) | ((s == max_other) & (c < arg_other)), c, arg_other[None, :])
    return _scores(pred, y, groups, k)


def gated_class_bias(
    logits: np.ndarray,
    y: np.ndarray,
    max_accuracy_drop: float = 0.001,
    groups: np.ndarray | None = None,
    folds: int = 5,
    bags: int = 25,
    cv_bags: int = 10,
    seed: int = 0,
    on_step: Callable[[], None] | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Bagged class offsets (``fit_class_bias``) only if they generalise: the rows are split into ``folds``
    stratified folds (by group and class); offsets fitted on the others (``cv_bags`` bags) score macro-F1 on each
    fold with and without them. If they raise it on average, the offsets fitted on every row (``bags`` bags) are
    returned, else zeros. Whether offsets help is a property of the model (notes/training.md, "gated offsets").

    Returns:
        ((K,) float32 offsets, {"cv_folds", "cv_macro_f1_gain": mean out-of-fold gain, a fraction}).
    """
    k = logits.shape[1]
    groups = np.zeros(len(y), np.int64) if groups is None else np.asarray(groups, np.int64)
    rng = np.random.default_rng(seed)
    strata = groups * k + y
    fold = np.empty(len(y), np.int64)
    for key in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == key))
        fold[idx] = (np.arange(len(idx)) + rng.integers(folds)) % folds
    gains = []
    for f in range(folds):
        fit, held = fold != f, fold == f
        if not held.any() or held.all():  # fewer faces than folds
            continue
        b = fit_class_bias(logits[fit], y[fit], max_accuracy_drop, groups[fit], bags=cv_bags, seed=seed + 1 + f,
                           on_step=on_step)  # fmt: skip
        with_offsets = _accuracies_and_macro_f1(logits[held] + b, y[held], groups[held], k)[1]
        gains.append(with_offsets - _accuracies_and_macro_f1(logits[held], y[held], groups[held], k)[1])
    report = {"cv_folds": folds, "cv_macro_f1_gain": float(np.mean(gains)) if gains else 0.0}
    if report["cv_macro_f1_gain"] <= 0:
        return np.zeros(k, np.float32), report
    return fit_class_bias(logits, y, max_accuracy_drop, groups, bags=bags, seed=seed, on_step=on_step), report


def class_offsets(
    logits: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    cfg: CalibrateConfig,
    seed: int,
    heads: dict[str, slice],
    on_step: Callable[[], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """The class offsets calibration adds (``cfg.class_bias``): ``"auto"`` gated per head (``gated_class_bias`` on
    each head's columns and the faces labelled in them, so a head whose offsets generalise keeps them while another
    drops its own), ``True`` bagged always, ``False`` none. ``heads`` maps each head to gate to its columns (a head
    left out gets no offsets under ``"auto"``). Returns the offsets and what each head's gate measured (empty without
    it)."""
    drop, bags = cfg.max_accuracy_drop, cfg.bags
    if cfg.class_bias == "auto":
        bias, gates = np.zeros(logits.shape[1], np.float32), {}
        for name, cols in heads.items():
            rows = (y >= cols.start) & (y < cols.stop)
            if rows.any():
                bias[cols], gates[name] = gated_class_bias(
                    logits[rows][:, cols], y[rows] - cols.start, drop, groups[rows], bags=bags, seed=seed,
                    on_step=on_step,
                )  # fmt: skip
        return bias, {"offset_gate": gates}
    if cfg.class_bias:
        return fit_class_bias(logits, y, drop, groups, bags=bags, seed=seed, on_step=on_step), {}
    return np.zeros(logits.shape[1], np.float32), {}


def offset_steps(mode: bool | str, k: int, bags: int, folds: int = 5, cv_bags: int = 10, rounds: int = 2) -> int:
    """Progress-bar steps of ``class_offsets`` at most (the gate's last fit runs only if it keeps the offsets)."""
    return ((folds * cv_bags if mode == "auto" else 0) + (bags if mode else 0)) * rounds * k


def warn_few_faces(y: np.ndarray, classes: list[str], start: int = 0, where: object = "") -> dict[str, int]:
    """The classes (columns from ``start`` on) that validation holds, but fewer than ``MIN_OFFSET_FACES`` times,
    with their counts; a ``FewValidationFacesWarning`` naming ``where`` (the run) lists them, if any."""
    counts = np.bincount(y, minlength=len(classes))
    few = {c: int(n) for c, n in zip(classes[start:], counts[start:], strict=True) if 0 < n < MIN_OFFSET_FACES}
    if few:
        listed = ", ".join(f"{c}: {n}" for c, n in few.items())
        warnings.warn(
            f"{where}: validation holds fewer than {MIN_OFFSET_FACES} faces of some classes ({listed}); their class "
            "offsets fit a few faces and may not hold on others: hold out more faces of them (data.holdout) or set "
            "calibrate.class_bias=false",
            FewValidationFacesWarning,
            stacklevel=3,
        )
    return few
