"""Accuracy of the `fer` package's classifier (int8 mini-Xception, TFLite) by the same protocol as bench/accuracy.py.

Usage (from the project root; install fer first, see bench/fer_pkg.py):
    python bench/fer_accuracy.py [--out bench/results/accuracy-fer.json]

Each 48x48 test face is prepared exactly as fer prepares a detected face (resize to 64x64, scale to [-1, 1]) and
classified by fer's own interpreter, one face at a time, as fer does. Scored with ferkit's evaluation code:
FER-2013 PrivateTest (7 classes) and FER+ test (unique majority; fer knows no contempt, so contempt faces are
excluded and reported as such). fer's training data is not stated beyond FER-2013, so its test split may not be
unseen by it: treat its figures as an upper bound.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, provenance  # noqa: E402
from fer_pkg import fer_classifier, load_fer  # noqa: E402

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # fer's output order


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "accuracy-fer.json"))
    ap.add_argument("--tta", nargs="+", default=["none", "flip", "tencrop"])
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.data import load_source
    from ferkit.engine.evaluate import evaluate_source

    FER = load_fer()
    if FER is None:
        return 1
    fer = FER()
    _, classify = fer_classifier(fer)

    def logits(x: np.ndarray) -> np.ndarray:  # (N, 1, H, W) in [0, 1], as ferkit's evaluation feeds models
        out = []
        for face in x[:, 0]:
            f = cv2.resize(face * 255.0, (64, 64)) / 255.0  # fer resizes the uint8 crop, then scales
            f = ((f - 0.5) * 2.0).astype(np.float32)[None, :, :, None]
            out.append(np.log(np.maximum(classify(f), 1e-12)))  # fer returns probabilities
        return np.stack(out)

    results = {
        "model": "fer 25.10.3 emotion_model_quantized.tflite (LiteRT 2.3.0)",
        "classes": FER_CLASSES,
        **provenance("fer_accuracy.py"),
        "sets": [],
    }
    for name, path in SETS:
        src = load_source(path)
        for tta in args.tta:
            rep = evaluate_source(logits, FER_CLASSES, src, "test", tta)
            results["sets"].append(
                {
                    "set": name,
                    "split": "test",
                    "tta": tta,
                    "n": rep["n"],
                    "accuracy": rep["accuracy"],
                    "macro_f1": rep["macro_f1"],
                    "ece": rep["ece"],
                    "recall": {c: m["recall"] for c, m in rep["per_class"].items()},
                    "excluded": rep["excluded"],
                }
            )
            print(f"{name:8} test tta={tta:8} n={rep['n']:5} acc={rep['accuracy']:.4f} macroF1={rep['macro_f1']:.4f}")
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
