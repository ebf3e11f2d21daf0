"""What ``Predictor(prior=...)`` does to a model's answers: validation scores at several class mixes.

Usage (from the project root):
    python bench/prior.py [MODEL] [--priors none balanced contempt=0.05 ...] [--out bench/results/prior-NAME.json]

MODEL is a shipped model's name or a model file (default: the default shipped model). Each set is scored with the
head of its convention on its VALIDATION split (FER-2013 PublicTest; FER+ Valid, unique-majority labels), TTA none,
the probabilities moved to each class mix exactly as ``Predictor`` moves them (``ferkit.heads.prior_weights``).
Per mix: accuracy, macro-F1, balanced accuracy, each class's recall and precision, and the share of faces the model
calls each class.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, predicted_shares, provenance, write_result  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=None)
    ap.add_argument("--priors", nargs="+", default=["none", "balanced", "contempt=0.05"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.cli._inference import parse_prior
    from ferkit.data import load_source
    from ferkit.engine.evaluate import evaluate_source
    from ferkit.heads import head_for_source, prior_weights
    from ferkit.inference.backends import load_backend, select_head
    from ferkit.shipped import resolve_model

    path = resolve_model(args.model, "torch")
    full, model = load_backend(path, "torch")
    prov = provenance("prior.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}\n# model {path}")
    rows = []
    for set_name, data in SETS:
        src = load_source(data)
        backend, info = select_head(full, model, head_for_source(model.heads, src.name).name)
        head, memo = info.heads[0], {}

        def logits(x: np.ndarray, backend=backend, memo=memo) -> np.ndarray:  # each mix scores the same faces
            key = x.tobytes()
            if key not in memo:
                memo[key] = backend.logits(x)
            return memo[key]

        for text in args.priors:
            mix = None if text == "none" else parse_prior(text)
            if isinstance(mix, dict) and not set(mix) <= set(head.classes):
                continue  # e.g. contempt for a head without it
            w = None if mix is None else np.array(prior_weights(head, mix))
            rep = evaluate_source(logits, list(head.classes), src, "val", temperature=info.temperature, weights=w)
            row = {"set": set_name, "head": head.name, "prior": text, "n": rep["n"], "accuracy": rep["accuracy"]}
            row |= {"macro_f1": rep["macro_f1"], "balanced_accuracy": rep["balanced_accuracy"]}
            row["per_class"] = rep["per_class"]
            row["predicted_shares"] = predicted_shares(rep["confusion"])
            rows.append(row)
            rare = min(rep["per_class"], key=lambda c: rep["per_class"][c]["support"])
            pc = rep["per_class"][rare]
            print(
                f"{set_name}\t{text}\tacc {100 * row['accuracy']:.2f}%\tmacro-F1 {100 * row['macro_f1']:.2f}%\t"
                f"balanced {100 * row['balanced_accuracy']:.2f}%\t{rare}: recall {100 * pc['recall']:.1f}% "
                f"precision {100 * pc['precision']:.1f}% (called for {100 * row['predicted_shares'][rare]:.1f}% of "
                f"faces, {pc['support']} faces)"
            )
    out = args.out or ROOT / "bench" / "results" / f"prior-{path.name.split('.')[0]}.json"
    write_result(out, {"model": str(path), **prov, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
