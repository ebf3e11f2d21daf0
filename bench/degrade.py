"""How much each photo condition costs a model: validation accuracy on faces degraded by one augmentation op.

Usage (from the project root):
    python bench/degrade.py [MODEL] [--sets fer2013 ferplus] [--conditions none "JPEG quality 30"] [--json FILE]

Each condition applies one op of ``ferkit.data.augment`` at a fixed strength to every face of the VALIDATION splits
(FER-2013 PublicTest, FER+ Valid) and scores the model there with the head of the set's convention
(``evaluate_source``, TTA none, the model's zoom).
A large drop says the model has not learned to ignore that condition, so its augmentation is worth training with.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, provenance  # noqa: E402

# condition -> AugmentConfig fields (probability 1, a fixed strength)
CONDITIONS: dict[str, dict] = {
    "none": {},
    "low resolution 24 px": {"low_res": 1.0, "low_res_side": (24, 24)},
    "low resolution 16 px": {"low_res": 1.0, "low_res_side": (16, 16)},
    "low resolution 12 px": {"low_res": 1.0, "low_res_side": (12, 12)},
    "blur sigma 1.0": {"blur": 1.0, "blur_sigma": (1.0, 1.0)},
    "JPEG quality 30": {"jpeg": 1.0, "jpeg_quality": (30.0, 30.0)},
    "JPEG quality 15": {"jpeg": 1.0, "jpeg_quality": (15.0, 15.0)},
    "gamma 0.6": {"gamma": 1.0, "gamma_range": (0.6, 0.6)},
    "gamma 1.6": {"gamma": 1.0, "gamma_range": (1.6, 1.6)},
    "contrast 0.6": {"light": 1.0, "brightness": (1.0, 1.0), "contrast": (0.6, 0.6)},
    "brightness 0.7": {"light": 1.0, "brightness": (0.7, 0.7), "contrast": (1.0, 1.0)},
    "perspective 0.15": {"perspective": 1.0, "perspective_scale": 0.15},
}


def main() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.shipped import DEFAULT, WEIGHTS_DIR, resolve_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=str(WEIGHTS_DIR / f"{DEFAULT}.ferkit"))
    ap.add_argument("--sets", nargs="+", default=[n for n, _ in SETS])
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS), metavar="COND")
    ap.add_argument("--json", help="also write the accuracies as JSON")
    args = ap.parse_args()

    import numpy as np
    import torch

    from ferkit.config import AugmentConfig
    from ferkit.data import load_source
    from ferkit.data.augment import augment_batch, build_augment
    from ferkit.engine.evaluate import evaluate_source
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import load_backend, select_head

    full, model = load_backend(resolve_model(args.model, "torch"), "torch")  # a path or a shipped name
    conditions = {c: CONDITIONS[c] for c in CONDITIONS if c in args.conditions or c == "none"}
    off = AugmentConfig(flip=False, affine=False, crop=False, erasing=0.0)
    prov = provenance("degrade.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}\n# model {args.model}")
    acc: dict[tuple[str, str], float] = {}
    for name, path in SETS:
        if name not in args.sets:
            continue
        src = load_source(path)
        backend, info = select_head(full, model, head_for_source(model.heads, src.name).name)
        val = src.select(src.splits == "val")
        for cond, kw in conditions.items():
            torch.manual_seed(0)
            x = torch.from_numpy(val.images).unsqueeze(1).float().div_(255)  # (N, 1, 48, 48)
            y = augment_batch(build_augment(replace(off, **kw)), x)
            faces = (y[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
            part = replace(val, images=np.ascontiguousarray(faces))
            rep = evaluate_source(backend.logits, list(info.classes), part, "val", "none", 1.0, info.preprocessing.zoom)
            acc[(name, cond)] = rep["accuracy"]
    sets = [n for n, _ in SETS if n in args.sets]
    print("\n| condition (every face) | " + " | ".join(f"{n} val" for n in sets) + " |")
    print("|---|" + "---|" * len(sets))
    for cond in conditions:
        cells = [f"{100 * acc[(n, cond)]:.2f}% ({100 * (acc[(n, cond)] - acc[(n, 'none')]):+.2f})" for n in sets]
        print(f"| {cond} | " + " | ".join(cells) + " |")
    if args.json:
        rows = [{"set": n, "condition": c, "accuracy": acc[(n, c)]} for n in sets for c in conditions]
        Path(args.json).write_text(json.dumps({"model": args.model, **prov, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
