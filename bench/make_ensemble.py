"""Make one model file of an ensemble: members' calibrated probabilities averaged per head (``ferkit.models.ensemble``).

Usage (from the project root):
    python bench/make_ensemble.py OUT NAME=FILE NAME=FILE ... [--storage float32|float16|int8]
    python bench/recalibrate.py OUT RUN        # then calibrate it on validation; RUN works as bench/ship.sh's RUN

Members are model files or shipped models' names; they must have the same heads, classes and preprocessing. OUT
starts uncalibrated (temperature 1, no offsets of its own); ``bench/recalibrate.py`` fits its offsets and
temperatures on the validation split of the first member's data config. ``bench/ensemble.py`` says which members
are worth combining.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import provenance  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="the ensemble's model file to write")
    ap.add_argument("members", nargs="+", help="NAME=MODEL_FILE, two or more")
    ap.add_argument("--storage", default="float32", choices=["float32", "float16", "int8"])
    args = ap.parse_args()
    members = dict(m.partition("=")[::2] for m in args.members)
    if len(members) < 2 or any(not v for v in members.values()):
        ap.error("give two or more members as NAME=MODEL_FILE")
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.engine.checkpoint import save_model_file
    from ferkit.engine.ensemble import ensemble_of
    from ferkit.errors import ModelFileError
    from ferkit.shipped import resolve_model

    try:
        mf = ensemble_of({name: resolve_model(path, "torch") for name, path in members.items()})
    except ModelFileError as e:
        raise SystemExit(f"make_ensemble.py: {e}") from None
    mf.metrics["ensemble"] |= provenance("make_ensemble.py")  # the command that makes it again
    save_model_file(mf, args.out, storage=args.storage)
    print(f"wrote {args.out}: {', '.join(f'{k} ({v})' for k, v in members.items())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
