"""``ferkit eval``: score a model on one or more test sets by the field's protocols."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ferkit.cli._inference import parse_prior
from ferkit.errors import ConfigError

EPILOG = """examples:
  ferkit eval --data ../shared/data/fer2013.zip                       # the shipped model, FER-2013 PrivateTest
  ferkit eval runs/fernet-xs/model.ferkit --data fer2013.zip --data ferplus.zip --tta tencrop --json
  ferkit eval model.ferkit --data fer2013.zip --split val --confusion-png cm.png
  ferkit eval --data kaggle:msambare/fer2013                          # a Kaggle dataset by name (kagglehub)
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model on test sets",
        description="Accuracy, per-class P/R/F1, macro-F1, balanced accuracy, confusion matrix and ECE per test set.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="a shipped model's name or a model file (.ferkit, .onnx)")
    p.add_argument("--data", action="append", required=True, help="a dataset path, or kaggle:OWNER/DATASET (repeat)")
    p.add_argument("--format", help="force the dataset adapter for every --data")
    p.add_argument("--labels", metavar="ORDER", help="name numbered classes of every --data by this dataset's "
                   "code order (fer2013, ferplus, rafdb, affectnet, ckplus)")  # fmt: skip
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--tta", default="none", choices=["none", "flip", "tencrop"])
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"], help="inference backend")
    p.add_argument("--no-temperature", action="store_true", help="ignore the calibrated temperature")
    p.add_argument("--head", help="score with this head (default: the head that the source trained, else the default)")
    p.add_argument("--prior", type=parse_prior, metavar="MIX", help="score with the probabilities moved to this "
                   "class mix, as predict --prior does: 'balanced' or shares such as contempt=0.05")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object per test set")
    p.add_argument("--confusion-png", help="write confusion matrices here (one per test set, suffixed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ferkit.data import load_source
    from ferkit.engine.evaluate import evaluate_source
    from ferkit.heads import head_for_source, prior_weights
    from ferkit.inference.backends import load_backend, select_head
    from ferkit.shipped import resolve_model

    full, model = load_backend(resolve_model(args.model, args.backend), args.backend)
    for i, path in enumerate(args.data):
        src = load_source(path, args.format, labels=args.labels)
        head = args.head or head_for_source(model.heads, src.name).name  # the head of the source's convention
        backend, info = select_head(full, model, head)
        temperature = 1.0 if args.no_temperature else info.temperature
        try:
            w = None if args.prior is None else np.array(prior_weights(info.heads[0], args.prior))
        except ValueError as e:
            raise ConfigError(f"--prior: {e}") from None
        rep = evaluate_source(
            backend.logits, list(info.classes), src, args.split, args.tta, temperature, info.preprocessing.zoom, w
        )
        rep["head"] = head
        if args.prior is not None:
            rep["prior"] = args.prior
        if args.confusion_png:
            from ferkit.viz import plot_confusion

            out = Path(args.confusion_png)
            if len(args.data) > 1:
                out = out.with_name(f"{out.stem}-{i}-{src.name}{out.suffix}")
            plot_confusion(rep["confusion"]["matrix"], rep["confusion"]["classes"], out, f"{src.name} {args.split}")
        if args.json:
            print(json.dumps(rep))
        else:
            print(format_report(rep))
    return 0


def format_report(rep: dict) -> str:
    """A human-readable report: headline metrics, per-class table, confusion matrix, exclusions."""
    lines = [
        f"{rep['source']} [{rep['split']}] {rep['path']}  n={rep['n']}  head={rep.get('head', 'default')}"
        f"  tta={rep['tta']}  T={rep['temperature']:.3f}",
        f"  accuracy {rep['accuracy']:.4f}  macro-F1 {rep['macro_f1']:.4f}  balanced acc {rep['balanced_accuracy']:.4f}"
        f"  loss {rep['loss']:.4f}  ECE {rep['ece']:.4f}",
        f"  {'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}",
    ]
    for c, m in rep["per_class"].items():
        lines.append(f"  {c:<10}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>9}")
    classes = rep["confusion"]["classes"]
    lines.append("  confusion (rows true, columns predicted):")
    lines.append("  " + " " * 10 + "".join(f"{c[:7]:>8}" for c in classes))
    for c, row in zip(classes, rep["confusion"]["matrix"], strict=True):
        lines.append(f"  {c:<10}" + "".join(f"{v:>8}" for v in row))
    ex = rep["excluded"]
    lines.append(f"  excluded: {json.dumps(ex)}")
    return "\n".join(lines)
