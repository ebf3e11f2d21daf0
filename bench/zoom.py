"""The test-time view: validation accuracy of a model file at several ``Preprocessing.zoom`` values.

Usage (from the project root):
    python bench/zoom.py [MODEL] [--zooms 1.0 1.03 ...] [--out bench/results/zoom-NAME.json]

MODEL defaults to the shipped model. Scored on the VALIDATION splits only (FER-2013 PublicTest, FER+ Valid with
unique-majority labels; ``evaluate_source(split="val")``), with TTA none and flip, each zoom replacing the model
file's own. Also prints the zoom that the model's training recipe implies (``ferkit.data.augment.implied_zoom`` on
the ``augment`` section saved in the model file), which is added to the zooms scored. The decision rule that uses
this table is in ``notes/training.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, provenance  # noqa: E402

ZOOMS = [1.0, 1.03, 1.05, 1.08, 1.11, 1.15]


def cached(fn):
    """A logits function that remembers its answers: flip TTA's unflipped view is the no-TTA input again."""
    memo: dict[bytes, object] = {}

    def logits(x):
        key = hashlib.sha1(x.tobytes()).digest()
        if key not in memo:
            memo[key] = fn(x)
        return memo[key]

    return logits


def main() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.shipped import DEFAULT as PRETRAINED
    from ferkit.shipped import WEIGHTS_DIR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=str(WEIGHTS_DIR / f"{PRETRAINED}.ferkit"))
    ap.add_argument("--zooms", nargs="+", type=float, default=ZOOMS)
    ap.add_argument("--tta", nargs="+", default=["none", "flip"])
    ap.add_argument("--out", help="JSON results file (default: bench/results/zoom-<model stem>.json)")
    args = ap.parse_args()

    from ferkit.config import AugmentConfig, from_dict
    from ferkit.data import load_source
    from ferkit.data.augment import implied_zoom
    from ferkit.engine.checkpoint import load_model_file
    from ferkit.engine.evaluate import evaluate_source
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import load_backend, select_head

    mf = load_model_file(args.model)
    aug = from_dict(AugmentConfig, mf.config.get("augment", {}))
    implied = implied_zoom(aug)
    z_impl = round(implied["mean"], 3)
    zooms = sorted({*args.zooms, z_impl})
    full, model = load_backend(args.model, "torch")
    prov = provenance("zoom.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}")
    print(f"# model {args.model}: file zoom {model.preprocessing.zoom}; augment {aug}")
    print(
        f"# implied zoom (mean magnification of training's geometric augmentation): mean {implied['mean']:.4f}, "
        f"median {implied['median']:.4f}, geometric mean {implied['geomean']:.4f}"
    )
    rows = []
    for name, path in SETS:
        src = load_source(path)
        backend, info = select_head(full, model, head_for_source(model.heads, src.name).name)
        classes = list(info.classes)
        for zoom in zooms:
            logits = cached(backend.logits)
            for tta in args.tta:
                rep = evaluate_source(logits, classes, src, "val", tta, info.temperature, zoom)
                rows.append({"set": name, "zoom": zoom, "tta": tta, "n": rep["n"], "accuracy": rep["accuracy"]})
    acc = {(r["set"], r["zoom"], r["tta"]): r["accuracy"] for r in rows}
    names = [n for n, _ in SETS]
    print("\n| zoom | TTA | " + " | ".join(f"{n} val" for n in names) + " | mean | mean vs 1.00 |")
    print("|---|---|" + "---|" * (len(names) + 2))
    for tta in args.tta:
        base = sum(acc[(n, 1.0, tta)] for n in names) / len(names) if 1.0 in zooms else float("nan")
        for zoom in zooms:
            vals = [acc[(n, zoom, tta)] for n in names]
            mean = sum(vals) / len(vals)
            mark = " (implied)" if zoom == z_impl else ""
            cells = " | ".join(f"{100 * v:.2f}%" for v in vals)
            print(f"| {zoom:.3f}{mark} | {tta} | {cells} | {100 * mean:.2f}% | {100 * (mean - base):+.2f} |")
    out = Path(args.out or ROOT / "bench" / "results" / f"zoom-{Path(args.model).stem}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"model": args.model, **prov, "implied_zoom": implied, "rows": rows}
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
