"""Close-ups and ready-made crops: the whole pipeline on FER-2013 faces given as photos, with and without YuNet's
close-up rule (``YuNetDetector(close_up=...)``), and what it finds where there is no face.

Usage (from the project root):
    python bench/close_up.py [--model ferkit-l] [--n 800] [--sides 160 320] [--out bench/results/close_up.json]

Faces: ``--n`` FER-2013 PublicTest (validation) faces, seeded, each upscaled (bicubic) to each side in ``--sides``
and predicted as a photo by ``Predictor.predict`` (the largest face found counts; none found counts as wrong), beside
the same faces classified directly as 48 px crops. No faces: 300 random colour textures (200 px), a flat grey image
and a noise image; a face found in any of them is a false one.
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
from accuracy import SETS, provenance, write_result  # noqa: E402

YUNET = ROOT.parent / "shared" / "models" / "face_detection_yunet.onnx"


def no_face_images() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(300):
        small = rng.integers(0, 256, (int(rng.integers(2, 12)), int(rng.integers(2, 12)), 3), dtype=np.uint8)
        out.append(cv2.resize(small, (200, 200), interpolation=cv2.INTER_CUBIC))
    out.append(np.full((240, 320, 3), 128, np.uint8))
    out.append(np.random.default_rng(2).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="ferkit-l")
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--sides", nargs="+", type=int, default=[160, 320])
    ap.add_argument("--yunet", default=str(YUNET))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "close_up.json")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit import Predictor
    from ferkit.data import load_source
    from ferkit.inference.detectors import CLOSE_UP, YuNetDetector
    from ferkit.shipped import resolve_model

    src = load_source(dict(SETS)["fer2013"]).split("val")
    idx = np.random.default_rng(0).choice(len(src), min(args.n, len(src)), replace=False)
    names = src.taxonomy.canonical()
    prov = provenance("close_up.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}")
    rows = []
    for arm, close_up in [("off", None), ("on", CLOSE_UP)]:
        p = Predictor.from_file(resolve_model(args.model), detector=YuNetDetector(args.yunet, close_up=close_up))
        y = np.array([p.classes.index(names[src.labels[i]]) for i in idx])
        row = {"close_up": arm, "crops_48px": float((p.classify(src.images[idx]).argmax(1) == y).mean())}
        for side in args.sides:
            pred, missed = [], 0
            for i in idx:
                photo = cv2.resize(src.images[i], (side, side), interpolation=cv2.INTER_CUBIC)
                faces = p.predict(cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR))
                missed += not faces
                best = max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None
                pred.append(p.classes.index(best.label) if best else -1)
            row[f"photo_{side}px"] = float((np.array(pred) == y).mean())
            row[f"no_face_{side}px"] = missed
        empty = no_face_images()
        row["false_faces"] = sum(len(p.predict(im)) > 0 for im in empty)
        row["no_face_images"] = len(empty)
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_result(args.out, {"model": args.model, "n": len(idx), **prov, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
