"""What naming contempt costs: a model's FER+ head on FER+ Valid with its contempt logit raised step by step.

Usage (from the project root):
    python bench/contempt.py [MODEL ...] [--offsets 0 0.5 1 ...] [--out bench/results/contempt.json]

MODEL is a model file or a shipped model's name (default: ferkit-l and ferkit-s). Scored on the VALIDATION split
only (FER+ Valid, unique-majority labels, 8 classes; TTA none, the model's temperature and zoom). For each offset
added to the calibrated contempt logit: accuracy over all faces, contempt recall (faces found of those labelled),
contempt precision, and how many faces are called contempt. The offset that first reaches a recall is the cheapest
operating point for it; its accuracy cost is what issue #11's contempt targets would take from its accuracy targets.
Nothing here is adopted: the table is reported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SHARED, provenance, write_result  # noqa: E402

OFFSETS = [0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0]


def sweep(logits: np.ndarray, y: np.ndarray, col: int, offsets: list[float]) -> list[dict]:
    """One row per offset added to column ``col`` of ``logits`` (N, C): accuracy, recall and precision of ``col``,
    and the faces predicted as it."""
    rows = []
    for off in offsets:
        shifted = logits.copy()
        shifted[:, col] += off
        pred = shifted.argmax(1)
        called, labelled = int((pred == col).sum()), int((y == col).sum())
        hits = int(((pred == col) & (y == col)).sum())
        rows.append({
            "offset": off, "accuracy": float((pred == y).mean()), "found": hits, "labelled": labelled,
            "recall": hits / max(labelled, 1), "called": called, "precision": hits / max(called, 1),
        })  # fmt: skip
    return rows


def main() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=["ferkit-l", "ferkit-s"])
    ap.add_argument("--offsets", nargs="+", type=float, default=OFFSETS)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "contempt.json"))
    args = ap.parse_args()

    from ferkit.data import load_source
    from ferkit.engine.evaluate import predict_logits, scored_faces
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import load_backend, select_head
    from ferkit.shipped import resolve_model

    prov = provenance("contempt.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}")
    src = load_source(SHARED / "ferplus.zip")
    result = {**prov, "set": "FER+ Valid (unique majority)", "models": {}}
    for name in args.models:
        full, info = load_backend(resolve_model(name, "torch"), "torch")
        backend, head = select_head(full, info, head_for_source(info.heads, src.name).name)
        part, scored, y, _ = scored_faces(src, "val", list(head.classes))
        if "contempt" not in scored:
            print(f"{name}: head {head.heads[0].name} has no contempt class; skipped")
            continue
        cols = [list(head.classes).index(c) for c in scored]
        logits = predict_logits(backend.logits, part.images, "none", zoom=info.preprocessing.zoom)
        rows = sweep(logits[:, cols] / head.temperature, y, scored.index("contempt"), args.offsets)
        result["models"][name] = {"head": head.heads[0].name, "faces": len(y), "rows": rows}
        print(f"\n{name} (head {head.heads[0].name}, {len(y)} faces, {rows[0]['labelled']} contempt)\n")
        print("| contempt offset | accuracy | contempt found | recall | precision | faces called contempt |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['offset']:+.2f} | {100 * r['accuracy']:.2f}% | {r['found']} of {r['labelled']} | "
                  f"{100 * r['recall']:.1f}% | {100 * r['precision']:.1f}% | {r['called']} |")  # fmt: skip
    write_result(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
