"""What the default head says on each test set: the share of faces it gives each class, beside the labels' shares.

Usage (from the project root):
    python bench/shares.py [MODEL ...] [--json bench/results/shares.json]

MODEL is a model file or a shipped model's name (default: every shipped model). The default head (the one
``Predictor`` uses without ``head=``) is run on every test split here (FER-2013 PrivateTest, FER+ test on its
unique-majority labels), TTA none, among the classes each set can express. A head whose neutral share runs far
above the labels' neutral share is the "everything is neutral" failure. Nothing here selects a model: the shares
are reported, not tuned.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, predicted_shares, provenance  # noqa: E402


def label_shares(confusion: dict) -> dict[str, float]:
    """The share of the scored faces whose label is each class (rows of the confusion matrix)."""
    rows = [sum(r) for r in confusion["matrix"]]
    total = max(sum(rows), 1)
    return {c: n / total for c, n in zip(confusion["classes"], rows, strict=True)}


def main() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.shipped import resolve_model, shipped_models

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="model files or shipped names (default: every shipped model)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "shares.json")
    args = ap.parse_args()

    from ferkit.data import load_source
    from ferkit.engine.evaluate import evaluate_source
    from ferkit.inference.backends import load_backend, select_head

    sources = {name: load_source(path) for name, path in SETS}
    rows = []
    for model in args.models or shipped_models():
        full, info = load_backend(resolve_model(model, "torch"), "torch")
        head = info.heads[0].name  # the default head
        backend, hinfo = select_head(full, info, head)
        for name, src in sources.items():
            rep = evaluate_source(
                backend.logits, list(hinfo.classes), src, "test", "none", 1.0, hinfo.preprocessing.zoom
            )
            conf = rep["confusion"]
            rows.append(
                {"model": str(model), "head": head, "set": name, "n": rep["n"], "accuracy": rep["accuracy"],
                 "predicted": predicted_shares(conf), "labels": label_shares(conf)}
            )  # fmt: skip
            print(f"{model} head={head} {name}: n={rep['n']} acc={rep['accuracy']:.4f}", flush=True)
    result = {**provenance("shares.py"), "rows": rows}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    return 0


def table(result: dict) -> str:
    """Markdown: one row per model and test set, each class's predicted share (labels' share in brackets)."""
    classes = list(dict.fromkeys(c for r in result["rows"] for c in r["predicted"]))
    lines = [
        "| model (default head) | test set | " + " | ".join(classes) + " |",
        "|---|---|" + "---|" * len(classes),
    ]
    for r in result["rows"]:
        cells = [
            f"{100 * r['predicted'][c]:.1f}% ({100 * r['labels'][c]:.1f}%)" if c in r["predicted"] else "n/a"
            for c in classes
        ]
        lines.append(f"| {Path(r['model']).stem} ({r['head']}) | {r['set']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
