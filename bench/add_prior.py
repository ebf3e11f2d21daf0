"""Record each head's class mix (``Head.prior``) in model files made before training recorded it.

Usage (from the project root):
    python bench/add_prior.py ferkit-l ferkit-s ...      # shipped models: the .ferkit file and every ONNX file
    python bench/add_prior.py RUN/model.ferkit           # any model file

Training records a head's prior when it calibrates (``ferkit.engine.calibrate.head_priors``): the mean of the
head's calibrated probabilities over the validation faces of its sources. This computes the same on the same faces
(the validation split of each source a head names, FER+ faces kept by the ``crossentropy`` vote policy, as training
keeps them) with the model file's own weights, and writes it into the model file (float16 weights stay float16)
and into the ferkit metadata of the shipped ONNX files beside it; nothing else in the files changes. The sources
are those of ``bench/accuracy.py`` (``../shared/data``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS  # noqa: E402


def head_faces(source_names: tuple[str, ...]) -> np.ndarray:
    """The validation faces of the named sources, as training keeps them."""
    from ferkit.data import load_source
    from ferkit.data.votes import apply_votes, is_vote_source

    paths = dict(SETS)
    out = []
    for name in source_names:
        if name not in paths:
            raise SystemExit(f"add_prior: no data for source {name!r} (known: {', '.join(paths)})")
        part = load_source(paths[name]).split("val")
        if is_vote_source(part):
            emotions = np.array([n is not None for n in part.taxonomy.canonical()])
            part = apply_votes(part, "crossentropy", emotions)
        out.append(part.images)
    return np.concatenate(out)


def priors(path: Path) -> dict[str, list[float]]:
    from ferkit.engine.calibrate import head_priors
    from ferkit.engine.checkpoint import load_model_file
    from ferkit.engine.evaluate import predict_logits
    from ferkit.heads import head_slices

    mf = load_model_file(path)
    model = mf.build()
    heads = mf.heads_now()

    def logits(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    out = {}
    for h, sl in zip(heads, head_slices(heads).values(), strict=True):
        faces = head_faces(h.sources or tuple(dict(SETS)))  # a single head of an old file: every source trained it
        z = predict_logits(logits, faces)
        masks = np.zeros(z.shape, bool)
        masks[:, sl] = True  # these faces stand for this head's sources: calibration's own formula on them
        out[h.name] = head_priors(z, masks, heads)[h.name]
        shares = ", ".join(f"{c} {v:.4f}" for c, v in zip(h.classes, out[h.name], strict=True))
        print(f"{path.name} head {h.name}: {shares}")
    return out


def write(path: Path, onnx_files: list[Path], found: dict[str, list[float]]) -> None:
    import onnx

    from ferkit.engine.checkpoint import load_model_file, save_model_file
    from ferkit.export import set_metadata
    from ferkit.heads import with_priors
    from ferkit.inference.backends import load_backend

    storage = torch.load(path, map_location="cpu", weights_only=True).get("stored_dtype", "float32")
    mf = load_model_file(path)
    mf.heads = with_priors(mf.heads_now(), found)
    save_model_file(mf, path, storage=storage)
    for p in onnx_files:
        _, info = load_backend(p, "onnx")
        info = replace(info, heads=tuple(with_priors(info.heads, found)))
        proto = onnx.load(str(p))
        set_metadata(proto, info)
        onnx.save(proto, str(p))
        print(f"wrote {p}")
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="shipped model names or model files")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.shipped import WEIGHTS_DIR

    for m in args.models:
        shipped = (WEIGHTS_DIR / f"{m}.ferkit").is_file()
        path = WEIGHTS_DIR / f"{m}.ferkit" if shipped else Path(m)
        onnx_files = [p for p in (WEIGHTS_DIR / f"{m}.onnx", WEIGHTS_DIR / f"{m}.int8.onnx") if p.is_file()]
        write(path, onnx_files if shipped else [], priors(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
