"""Class offsets fitted on few faces: none, fitted once, bagged over bootstrap resamples, or gated by
cross-validation (``ferkit.engine.calibrate``).

Usage (from the project root):
    python bench/offsets.py [MODEL] [--sizes 100 300 half] [--repeats 30] [--bags 25] [--methods ...] [--out FILE]

A model's raw validation logits (its calibrated class offsets subtracted), per head: FER-2013 PublicTest for the
``fer2013`` head, FER+ Valid unique-majority faces for the ``ferplus`` head. For each holdout size N, ``--repeats``
times: a random N faces (the set's own class mix) play a user's holdout, each method fits offsets on them, and the
rest of the validation faces score macro-F1, accuracy and balanced accuracy. Validation splits only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, provenance, write_result  # noqa: E402


def raw_logits(model: str | None) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray, list[str]]]]:
    """{head: (validation logits without the class offsets, labels, classes)} of a model file."""
    from ferkit.data import load_source
    from ferkit.engine.checkpoint import load_model_file
    from ferkit.engine.evaluate import predict_logits, scored_faces
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import load_backend, select_head
    from ferkit.shipped import resolve_model

    path = resolve_model(model, "torch")
    full, info = load_backend(path, "torch")
    offsets = load_model_file(path).metrics.get("calibration", {}).get("class_bias", {})
    out = {}
    for _, data in SETS:
        src = load_source(data)
        head = head_for_source(info.heads, src.name)
        backend, _ = select_head(full, info, head.name)
        part, scored, y, _ = scored_faces(src, "val", list(head.classes))  # the protocol's faces and classes
        cols = [list(head.classes).index(c) for c in scored]
        bias = np.array([offsets.get(f"{head.name}/{c}", 0.0) for c in scored], np.float32)
        out[head.name] = (predict_logits(backend.logits, part.images)[:, cols] - bias, y, scored)
    return str(path), out


def fit(method: str, logits: np.ndarray, y: np.ndarray, bags: int, seed: int) -> np.ndarray:
    from ferkit.engine.calibrate import fit_class_bias, gated_class_bias

    if method == "none":
        return np.zeros(logits.shape[1], np.float32)
    if method == "current":
        return fit_class_bias(logits, y)
    if method == "bagged":
        return fit_class_bias(logits, y, bags=bags, seed=seed)
    return gated_class_bias(logits, y, bags=bags, seed=seed)[0]


def scores(logits: np.ndarray, y: np.ndarray, classes: list[str]) -> dict[str, float]:
    from ferkit.engine.metrics import classification_report
    from ferkit.preprocess import softmax

    rep = classification_report(softmax(logits), y, classes)
    return {"macro_f1": rep["macro_f1"], "accuracy": rep["accuracy"], "balanced": rep["balanced_accuracy"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=None)
    ap.add_argument("--sizes", nargs="+", default=["100", "300", "half"])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--bags", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=["none", "current", "bagged", "gated"],
                    choices=["none", "current", "bagged", "gated"])  # fmt: skip
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "offsets.json")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    prov = provenance("offsets.py")
    path, heads = raw_logits(args.model)
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}\n# model {path}")
    rows = []
    for head, (logits, y, classes) in heads.items():
        for size in args.sizes:
            n = len(y) // 2 if size == "half" else int(size)
            rng = np.random.default_rng(args.seed)
            per: dict[str, list] = {m: [] for m in args.methods}
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                order = rng.permutation(len(y))
                hold, rest = order[:n], order[n:]
                seed = int(rng.integers(2**31))
                for m in args.methods:
                    per[m].append(
                        scores(logits[rest] + fit(m, logits[hold], y[hold], args.bags, seed), y[rest], classes)
                    )
            row = {"head": head, "holdout": n, "validation_faces": len(y), "repeats": args.repeats}
            for m, runs in per.items():
                row[m] = {s: float(np.median([r[s] for r in runs])) for s in runs[0]}
            for a, b in (("bagged", "current"), ("gated", "bagged")):
                if a in per and b in per:
                    gains = [x["macro_f1"] - z["macro_f1"] for x, z in zip(per[a], per[b], strict=True)]
                    row[f"{a}_minus_{b}_macro_f1"] = {"median": float(np.median(gains)), "mean": float(np.mean(gains))}
            rows.append(row)
            shown = "  ".join(f"{m} {100 * row[m]['macro_f1']:.2f}" for m in per)
            print(f"{head}\tN={n}\tmacro-F1 {shown}\t{time.perf_counter() - t0:.0f} s")
    write_result(args.out, {"model": path, **prov, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
