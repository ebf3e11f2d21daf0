"""Average the weights of model files of one architecture (a "model soup", Wortsman et al. 2022).

Usage (from the project root):
    python bench/soup.py A.ferkit B.ferkit [--weights 0.5 0.5] --out SOUP.ferkit

Meant for runs that share a start (a model and the run that trained it on), which stay in one basin of the loss,
so that their average works like an ensemble at the cost of one network. Each file's calibration comes off first:
its class offsets (``metrics.calibration.class_bias``, folded into the head's bias) are subtracted, and the soup is
written uncalibrated (temperature 1), to be calibrated on validation like a trained run (place it as ``best.ferkit``
in a finished run folder and run ``ferkit train --config ... --resume``). BatchNorm statistics are averaged with
the same weights. Every file must have the same architecture, kwargs and heads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def soup(paths: list[Path], weights: list[float]):
    """The weighted average of the files' uncalibrated weights, as a model file (metadata of the first file)."""
    from dataclasses import replace

    from ferkit.engine.checkpoint import load_model_file
    from ferkit.errors import ModelFileError
    from ferkit.heads import with_temperatures

    files = [load_model_file(p) for p in paths]
    first = files[0]
    for p, mf in zip(paths[1:], files[1:], strict=True):
        if (mf.arch, mf.arch_kwargs, mf.classes) != (first.arch, first.arch_kwargs, first.classes):
            raise ModelFileError(f"{p}: another architecture or other heads than {paths[0]}; cannot average them")
    states = [mf.uncalibrated_state() for mf in files]
    total = sum(weights)
    out = {}
    for k, v in states[0].items():
        if v.is_floating_point():
            out[k] = sum(w / total * s[k] for w, s in zip(weights, states, strict=True))
        else:  # counters (BatchNorm's num_batches_tracked)
            out[k] = v
    heads = with_temperatures(first.heads, {h.name: 1.0 for h in first.heads})
    metrics = {"soup": {"files": [str(p) for p in paths], "weights": weights}}
    return replace(first, state_dict=out, heads=heads, temperature=1.0, metrics=metrics)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, help="model files of one architecture")
    ap.add_argument("--weights", nargs="+", type=float, help="one weight per file (default: equal)")
    ap.add_argument("--out", required=True, type=Path, help="the averaged model file to write")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.engine.checkpoint import save_model_file

    weights = args.weights or [1.0] * len(args.files)
    if len(weights) != len(args.files):
        ap.error(f"--weights: {len(weights)} weights for {len(args.files)} files")
    save_model_file(soup(args.files, weights), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
