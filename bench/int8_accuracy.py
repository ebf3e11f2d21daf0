"""What int8 costs: FER-2013 PrivateTest accuracy of a model exported fp32 and int8 (static with MinMax or
percentile calibration, and dynamic).

Usage (from the project root):
    PYTHONPATH=src python bench/int8_accuracy.py MODEL.ferkit [--data ../shared/data/fer2013.zip] [--out DIR]
        [--split val] [--also NAME=FILE.onnx ...]

``--split val`` scores FER-2013 PublicTest instead (for decisions: the test split is scored once, by a ship);
``--also`` scores ONNX files made elsewhere beside the fresh exports (an earlier export of the same model, say).

Calibration faces for static int8 come from the dataset's train split (never the test split). Accuracy is over the
7 FER-2013 classes: the model's probabilities are mapped to the FER-2013 classes by name and the argmax is taken
among those only (a model with extra classes, e.g. contempt, is not penalised for them). Also reported: top-1
agreement with fp32, the largest probability difference, and classifier speed at batch 1 on one thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fer2013.zip"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="ferkit model file")
    ap.add_argument("--data", default=str(DEFAULT_DATA if DEFAULT_DATA.exists() else "/work/shared/data/fer2013.zip"))
    ap.add_argument("--calib-size", type=int, default=500, help="static calibration faces from the train split")
    ap.add_argument("--out", help="folder to keep the exported .onnx files (default: a temporary folder)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--split", choices=["test", "val"], default="test", help="PrivateTest (test) or PublicTest (val)")
    ap.add_argument("--also", nargs="+", default=[], metavar="NAME=FILE", help="other ONNX exports to score")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.data import load_source
    from ferkit.export import export_onnx
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import OnnxBackend, load_backend
    from ferkit.inference.predictor import softmax
    from ferkit.preprocess import to_input, zoom_faces
    from ferkit.taxonomy import Taxonomy

    src = load_source(args.data)
    test = src.split(args.split)  # FER-2013 PrivateTest, or PublicTest with --split val
    train = src.split("train")
    labels = test.labels  # (N,) in the source's (FER-2013) order
    rng = np.random.default_rng(0)
    calib = train.images[np.sort(rng.choice(len(train), args.calib_size, replace=False))]

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ferkit-int8-"))
    files = {
        "fp32": export_onnx(args.model, out / "fp32.onnx"),
        "int8 static minmax": export_onnx(args.model, out / "int8_static.onnx", int8=True, calib=calib),
        "int8 static percentile": export_onnx(
            args.model, out / "int8_static_pct.onnx", int8=True, calib=calib, method="percentile"
        ),
        "int8 dynamic": export_onnx(args.model, out / "int8_dynamic.onnx", int8=True, mode="dynamic"),
    }
    for item in args.also:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).expanduser().is_file():
            raise SystemExit(f"--also {item!r}: expected NAME=FILE naming an ONNX file")
        files[name] = Path(path).expanduser()
    _, full = load_backend(files["fp32"])
    info, cols = full.head(head_for_source(full.heads, "fer2013").name)  # the head of FER-2013's convention
    # column of the head's output for each FER-2013 class, by name
    table = src.taxonomy.remap_to(Taxonomy(info.classes))
    if (table < 0).any():
        missing = [c for c, t in zip(src.taxonomy.classes, table, strict=True) if t < 0]
        raise SystemExit(f"the model has no class for FER-2013's {missing}")
    results, probs = {}, {}
    for name, path in files.items():
        b = OnnxBackend(path, threads=None)
        faces = zoom_faces(test.images, info.preprocessing.zoom)  # the model's test-time view
        p = np.concatenate(
            [softmax(b.logits(to_input(faces[i : i + args.batch]))[:, cols], info.temperature)
             for i in range(0, len(test), args.batch)]
        )  # fmt: skip
        probs[name] = p
        pred = p[:, table].argmax(1)  # argmax among the 7 FER-2013 classes, in FER-2013 order
        one = OnnxBackend(path, threads=1)
        x1 = to_input(test.images[:1])
        for _ in range(10):
            one.logits(x1)
        times = []
        for _ in range(100):
            t = time.perf_counter()
            one.logits(x1)
            times.append(time.perf_counter() - t)
        results[name] = {
            "accuracy": float((pred == labels).mean()),
            "agreement with fp32": float((pred == probs["fp32"][:, table].argmax(1)).mean()),
            "max abs(p - p_fp32)": float(np.abs(p - probs["fp32"]).max()),
            "ms per face (batch 1, 1 thread)": statistics.median(times) * 1000,
            "file MB": path.stat().st_size / 1e6,
        }
    split = {"test": "PrivateTest", "val": "PublicTest"}[args.split]
    print(f"model: {args.model}; FER-2013 {split}: {len(test)} faces; calibration: {len(calib)} train faces")
    cols = list(next(iter(results.values())))
    print("| export | " + " | ".join(cols) + " |")
    print("|" + "---|" * (len(cols) + 1))
    for name, r in results.items():
        cells = [f"{v:.2f}" if k.startswith(("ms", "file")) else f"{v:.4f}" for k, v in r.items()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    run = {**provenance("int8_accuracy.py"), "split": f"FER-2013 {split}"}
    (out / "int8_accuracy.json").write_text(json.dumps({**results, "run": run}, indent=2))
    print(f"files and JSON in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
