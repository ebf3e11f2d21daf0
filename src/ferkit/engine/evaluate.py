"""Evaluation by the field's protocols, for any backend that maps input batches to logits.

Scoring rules: a test face whose class the model lacks is excluded from scoring; a model class that the test set
cannot express is excluded from the model's choice (a FER-2013 face is scored among FER-2013's 7 classes). Both
exclusions are returned in the report under ``excluded``. Vote-count sources (FER+) are scored on their unique
majority label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ferkit.data.relabel import numbered
from ferkit.data.sample import SourceData, Split
from ferkit.data.votes import apply_votes, is_vote_source
from ferkit.engine.metrics import classification_report
from ferkit.errors import DataError
from ferkit.preprocess import TTA, mean_softmax_logits, softmax, to_input, tta_views

if TYPE_CHECKING:
    from ferkit.heads import Prior
    from ferkit.inference.backends import BackendName

LogitsFn = Callable[[np.ndarray], np.ndarray]  # (B, 1, H, W) float32 in [0, 1] -> (B, K) logits


def predict_logits(
    logits_fn: LogitsFn, faces: np.ndarray, tta: TTA = "none", batch: int = 512, zoom: float = 1.0
) -> np.ndarray:
    """Logits for (N, H, W) uint8 faces seen at ``zoom`` (``Preprocessing.zoom``); with TTA, the log of the mean
    softmax over views."""
    out = []
    for i in range(0, len(faces), batch):
        views = tta_views(faces[i : i + batch], tta, zoom)
        out.append(mean_softmax_logits([logits_fn(to_input(np.ascontiguousarray(v))) for v in views]))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def scoring_labels(src: SourceData, model_classes: list[str]) -> tuple[np.ndarray, list[str], dict]:
    """Hard labels of ``src`` as indices into the scored classes, with the exclusions.

    Returns:
        (keep mask over src rows, scored class names in model order, excluded info).
    """
    names = src.taxonomy.canonical()
    labels = src.labels
    label_names = [names[i] for i in labels]
    source_classes = {n for n in names if n is not None}
    scored = [c for c in model_classes if c in source_classes]
    keep = np.array([n in scored for n in label_names], bool)
    dropped = Counter(n if n is not None else src.taxonomy.classes[i] for n, i in zip(label_names, labels, strict=True))
    not_scored = {c: v for c, v in dropped.items() if c not in scored}
    excluded = {
        "test_classes_missing_from_model": not_scored,  # faces not scored, by class
        "model_classes_missing_from_test": [c for c in model_classes if c not in source_classes],
    }
    return keep, scored, excluded


def scored_faces(
    src: SourceData, split: Split, model_classes: list[str]
) -> tuple[SourceData, list[str], np.ndarray, dict]:
    """The faces of one split that the protocol scores (a vote source's unique-majority faces, of classes the model
    has), the classes they are scored among, their labels as indices into those, and what was excluded."""
    part = src.split(split)
    if len(part) == 0:
        have = src.split_names()
        raise DataError(src.path, f"no {split!r} split (it has {', '.join(have) or 'none'}); pass --split {have[-1]}"
                        if have else f"no {split!r} split")  # fmt: skip
    vote_dropped = 0
    if is_vote_source(part):  # crowd votes: the usual protocol scores the unique majority
        emotions = np.array([n is not None for n in part.taxonomy.canonical()])
        n0 = len(part)
        part = apply_votes(part, "majority", emotions)
        vote_dropped = n0 - len(part)
    keep, scored, excluded = scoring_labels(part, model_classes)
    if not np.any(keep):
        hint = "; numbered classes mean nothing by themselves: name them with --labels" if numbered(
            part.taxonomy.classes) else ""  # fmt: skip
        raise DataError(src.path, f"none of its {split} faces is of a class the model has: its classes "
                        f"{list(part.taxonomy.classes)}, the model's {model_classes}{hint}")  # fmt: skip
    part = part.select(keep)
    names = part.taxonomy.canonical()
    y = np.array([scored.index(names[i]) for i in part.labels], np.int64)
    if vote_dropped:
        excluded["no_unique_majority_emotion"] = vote_dropped
    return part, scored, y, excluded


def evaluate_source(
    logits_fn: LogitsFn,
    model_classes: list[str],
    src: SourceData,
    split: Split = "test",
    tta: TTA = "none",
    temperature: float = 1.0,
    zoom: float = 1.0,
    weights: np.ndarray | None = None,
) -> dict:
    """Score a model on one split of one source, its faces seen at ``zoom`` (pass the model's
    ``Preprocessing.zoom``); ``weights`` (one per model class: ``ferkit.heads.prior_weights``) move the
    probabilities to another class mix, as ``Predictor(prior=...)`` does. Returns a ``classification_report`` plus
    ``excluded``."""
    part, scored, y, excluded = scored_faces(src, split, model_classes)
    cols = [model_classes.index(c) for c in scored]
    logits = predict_logits(logits_fn, part.images, tta, zoom=zoom) / temperature
    if weights is not None:
        logits = np.log(softmax(logits) * weights + 1e-30)
    logits = logits[:, cols]
    report = classification_report(softmax(logits), y, scored)
    report["excluded"] = excluded
    report.update({"source": src.name, "path": src.path, "split": split, "tta": tta, "temperature": temperature})
    if zoom != 1.0:
        report["zoom"] = zoom
    return report


def evaluate_model(
    model: str | Path,
    src: SourceData,
    split: Split = "test",
    tta: TTA = "none",
    backend: BackendName = "auto",
    head: str | None = None,
    prior: Prior | None = None,
) -> dict:
    """Score a model (a ``.ferkit`` or ``.onnx`` file, or a shipped model's name) on one split of one source, with
    the head of the source's labelling convention (or ``head``), its calibrated temperature and its zoom, and the
    class mix ``prior`` if given (as ``Predictor(prior=...)``).

    Returns:
        The ``evaluate_source`` report, plus ``model`` (the model scored) and ``head`` (the head that scored it).
    """
    from ferkit.heads import head_for_source, prior_weights
    from ferkit.inference.backends import load_backend, select_head
    from ferkit.shipped import resolve_model

    full, info = load_backend(resolve_model(model, backend), backend)
    head = head or head_for_source(info.heads, src.name).name
    b, hinfo = select_head(full, info, head)
    w = None if prior is None else np.array(prior_weights(hinfo.heads[0], prior))
    report = evaluate_source(
        b.logits, list(hinfo.classes), src, split, tta, hinfo.temperature, hinfo.preprocessing.zoom, w
    )
    report["model"] = str(model)
    report["head"] = head
    if prior is not None:
        report["prior"] = prior
    return report
