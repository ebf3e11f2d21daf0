"""Do trained networks, averaged, beat the best of them? Validation accuracy of every combination of model files.

Usage (from the project root):
    python bench/ensemble.py NAME=FILE NAME=FILE ... [--out bench/results/ensemble.json]

Each member's calibrated probabilities (its own temperature per head, and the class offsets folded into its head)
are averaged with equal weight; every subset of the members is scored on the VALIDATION splits (FER-2013
PublicTest, FER+ Valid with unique-majority labels; ``evaluate_source(split="val")``), each set with the head of its
convention, single view, zoom 1.0. Each member runs once per set; the combinations reuse its outputs. Members may
differ in architecture; their classes are matched by name.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, provenance, write_result  # noqa: E402


def member_probs(full, model, set_name: str, classes: list[str] | None):
    """(probabilities function with its outputs remembered, the head's classes) for one member on one set."""
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import select_head
    from ferkit.preprocess import softmax

    backend, info = select_head(full, model, head_for_source(model.heads, set_name).name)
    own = list(info.classes)
    order = [own.index(c) for c in (classes or own)]
    memo: dict[bytes, np.ndarray] = {}

    def probs(x: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(x.tobytes()).digest()
        if key not in memo:
            memo[key] = softmax(backend.logits(x)[:, order], info.temperature)
        return memo[key]

    return probs, own


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("members", nargs="+", help="NAME=MODEL_FILE, two or more")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ensemble.json")
    args = ap.parse_args()
    members = dict(m.split("=", 1) for m in args.members)
    if len(members) < 2 or any(not v for v in members.values()):
        ap.error("give two or more members as NAME=MODEL_FILE")
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.data import load_source
    from ferkit.engine.evaluate import evaluate_source
    from ferkit.inference.backends import load_backend

    loaded = {name: load_backend(path, "torch") for name, path in members.items()}
    prov = provenance("ensemble.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}")
    rows = []
    for set_name, path in SETS:
        src = load_source(path)
        fns, classes = {}, None
        for name, (full, model) in loaded.items():
            fns[name], own = member_probs(full, model, src.name, classes)
            classes = classes or own
        for r in range(1, len(fns) + 1):
            for combo in itertools.combinations(fns, r):

                def logits(x, probs=tuple(fns[m] for m in combo)):
                    return np.log(np.mean([p(x) for p in probs], 0) + 1e-12)

                rep = evaluate_source(logits, classes, src, "val")
                row = {"set": set_name, "members": list(combo), "n": rep["n"], "accuracy": rep["accuracy"]}
                row["macro_f1"] = rep["macro_f1"]
                if "contempt" in rep["per_class"]:
                    row["contempt_recall"] = rep["per_class"]["contempt"]["recall"]
                rows.append(row)
                acc, f1 = 100 * row["accuracy"], 100 * row["macro_f1"]
                print(f"{set_name}\t{'+'.join(combo)}\t{acc:.2f}%\tmacro-F1 {f1:.2f}%")
    write_result(args.out, {"members": members, **prov, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
