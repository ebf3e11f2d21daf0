"""Ready-made face crops through the photo path: how often the detector finds the face, and what each
``whole_image`` setting scores.

Usage (from the project root):
    python bench/crops.py [--model ferkit-l] [--n 1000] [--sides 48 64 96 160] [--yunet PATH] [--out FILE]

A random sample of FER-2013's VALIDATION split (PublicTest) is enlarged (bicubic) to each side and given to
``Predictor.predict`` as a BGR image, as a user gives a folder of face crops to ``ferkit predict``. Per side:
- found: the share of crops in which YuNet finds a face;
- accuracy with ``whole_image`` ``never`` (a crop without a found face is a miss), ``small`` (the default: crops of
  at most 96 px a side are classified whole when no face is found) and ``always``;
- the accuracy of classifying every crop whole (``Predictor.classify``, the dataset path), overall and on the crops
  where a face was found, beside the photo path's accuracy on those crops.
Accuracy is over all sampled crops, with the model's default head (FER-2013's 7 classes for the shipped models).
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
from accuracy import SHARED, provenance  # noqa: E402

YUNET = ROOT.parent / "shared" / "models" / "face_detection_yunet.onnx"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="a shipped model's name or a model file (default: the default)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sides", type=int, nargs="+", default=[48, 64, 96, 160])
    ap.add_argument("--yunet", default=str(YUNET))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "crops.json"))
    args = ap.parse_args()

    from ferkit.data import load_source
    from ferkit.inference.predictor import Predictor
    from ferkit.shipped import resolve_model

    val = load_source(SHARED / "fer2013.zip").split("val")
    idx = np.random.default_rng(args.seed).choice(len(val.images), min(args.n, len(val.images)), replace=False)
    faces = val.images[idx]
    make = {
        w: Predictor.from_file(resolve_model(args.model), yunet=args.yunet, whole_image=w)
        for w in ("never", "small", "always")
    }
    classes = list(make["never"].classes)
    y = np.array([classes.index(val.taxonomy.classes[k]) for k in val.labels[idx]])
    rows = []
    for side in args.sides:
        images = [
            cv2.cvtColor(cv2.resize(f, (side, side), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR) for f in faces
        ]
        preds, found = {}, None
        for w, p in make.items():
            out = [p.predict(im) for im in images]
            if found is None:  # the detector's answer does not depend on whole_image
                found = np.array([any(not f.whole for f in fs) for fs in out])
            best = [max(fs, key=lambda f: f.box[2] * f.box[3]) if fs else None for fs in out]
            preds[w] = np.array([classes.index(f.label) if f else -1 for f in best])
        whole = make["never"].classify(np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in images])).argmax(1)
        row = {
            "side": side,
            "found": float(found.mean()),
            **{f"accuracy_{w}": float((pr == y).mean()) for w, pr in preds.items()},
            "accuracy_classified_whole": float((whole == y).mean()),
            "on_found_photo_path": float((preds["never"] == y)[found].mean()) if found.any() else None,
            "on_found_classified_whole": float((whole == y)[found].mean()) if found.any() else None,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    from ferkit.shipped import DEFAULT

    res = {**provenance("crops.py"), "model": str(args.model or DEFAULT), "n": len(idx), "rows": rows}
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(table(res))
    return 0


def table(res: dict) -> str:
    lines = [
        "| crop side | face found | never | small (default) | always | classified whole "
        "| on found: photo path / whole |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['side']} px | {r['found']:.1%} | {r['accuracy_never']:.2%} | {r['accuracy_small']:.2%} | "
            f"{r['accuracy_always']:.2%} | {r['accuracy_classified_whole']:.2%} | "
            f"{r['on_found_photo_path']:.2%} / {r['on_found_classified_whole']:.2%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
