"""Accuracy of a model file by the field's protocols: the numbers of the README and the model card.

Usage (from the project root):
    python bench/accuracy.py [MODEL] [--out bench/results/accuracy-NAME.json]

MODEL defaults to the shipped model (``src/ferkit/weights/<PRETRAINED>.ferkit``). Scored sets:
- FER-2013 PrivateTest (``../shared/data/fer2013.zip``, split ``test``), 7 classes, with TTA none, flip, tencrop;
- FER+ FER2013Test (``../shared/data/ferplus.zip``, split ``test``, ``label.csv`` votes), unique-majority labels,
  8 emotions (contempt included), with TTA none, flip, tencrop;
- the validation splits (FER-2013 PublicTest, FER+ Valid) without TTA, for reference.
Each set is also scored with the temperature ignored (T=1), for ECE before and after calibration.
Test splits are scored here only: model selection in training looked at validation splits alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SETS = [("fer2013", SHARED / "fer2013.zip"), ("ferplus", SHARED / "ferplus.zip")]


def cpu() -> str:
    """The CPU's model and the instruction sets that change ferkit's numbers: bf16 training (avx512_bf16, AMX) and
    int8 inference (VNNI); e.g. "AMD EPYC (family 25 model 1; avx2)". Linux's /proc/cpuinfo; "" elsewhere."""
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.inference.cpu import cpu_info

    info = cpu_info()
    if not info:
        return ""
    get = info.get
    flags = set(get("flags", "").split())
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{get('model name', '?')} (family {get('cpu family', '?')} model {get('model', '?')}; {' '.join(isa)})"


def machine() -> str:
    import os

    where = f"{platform.machine()}, {os.cpu_count()} CPUs"
    return f"{where}, {cpu() or 'CPU not read'}, {platform.platform()}, python {platform.python_version()}"


def provenance(script: str) -> dict[str, str]:
    """When, where and how a result was measured: date, machine and the command line that reruns it."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": shlex.join(["python", f"bench/{script}", *sys.argv[1:]]),  # quoted: it reruns as written
    }


def write_result(out: Path, result: dict, *, newline: bool = True) -> None:
    """Write a bench's result as indented JSON (folders made as needed) and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + ("\n" if newline else ""))
    print(f"wrote {out}")


def predicted_shares(confusion: dict) -> dict[str, float]:
    """The share of the scored faces that the model labels with each class (columns of the confusion matrix)."""
    cols = [sum(col) for col in zip(*confusion["matrix"], strict=True)]
    total = max(sum(cols), 1)
    return {c: n / total for c, n in zip(confusion["classes"], cols, strict=True)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.shipped import DEFAULT as PRETRAINED
    from ferkit.shipped import WEIGHTS_DIR

    ap.add_argument("model", nargs="?", default=str(WEIGHTS_DIR / f"{PRETRAINED}.ferkit"))
    ap.add_argument("--out", help="JSON results file (default: bench/results/accuracy-<model stem>.json)")
    ap.add_argument("--tta", nargs="+", default=["none", "flip", "tencrop"])
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.data import load_source
    from ferkit.engine.evaluate import evaluate_source
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import load_backend, select_head

    full, model = load_backend(args.model, "torch")
    results = {
        "model": str(args.model),
        "arch": model.arch,
        "classes": list(model.heads[0].classes),
        "heads": [h.to_dict() for h in model.heads],
        "temperature": model.temperature,
        **provenance("accuracy.py"),
        "sets": [],
    }
    for name, path in SETS:
        src = load_source(path)
        head = head_for_source(model.heads, src.name).name  # each set is scored by the head of its convention
        backend, info = select_head(full, model, head)
        classes = list(info.classes)
        for split, ttas in (("val", ["none"]), ("test", args.tta)):
            for tta in ttas:
                zoom = info.preprocessing.zoom
                rep = evaluate_source(backend.logits, classes, src, split, tta, info.temperature, zoom)
                raw = evaluate_source(backend.logits, classes, src, split, tta, 1.0, zoom) if tta == "none" else None
                row = {
                    "set": name,
                    "head": head,
                    "split": split,
                    "tta": tta,
                    "n": rep["n"],
                    "accuracy": rep["accuracy"],
                    "macro_f1": rep["macro_f1"],
                    "balanced_accuracy": rep["balanced_accuracy"],
                    "ece": rep["ece"],
                    "ece_uncalibrated": raw["ece"] if raw else None,
                    "recall": {c: m["recall"] for c, m in rep["per_class"].items()},
                    "excluded": rep["excluded"],
                    "confusion": rep["confusion"],
                    "predicted_shares": predicted_shares(rep["confusion"]),
                }
                results["sets"].append(row)
                print(
                    f"{name:8} head={head:8} {split:5} tta={tta:8} n={rep['n']:5} acc={rep['accuracy']:.4f} "
                    f"macroF1={rep['macro_f1']:.4f} ECE={rep['ece']:.4f}"
                    + (f" (T=1: {raw['ece']:.4f})" if raw else ""),
                    flush=True,
                )
    out = Path(args.out or ROOT / "bench" / "results" / f"accuracy-{Path(args.model).stem}.json")
    write_result(out, results, newline=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
