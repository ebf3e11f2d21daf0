"""Calibrate a model file again, with the current calibration code, when its training run folder is gone.

Usage (from the project root):
    python bench/recalibrate.py MODEL OUT [KEY=VALUE ...] [--card CARD]

``--resume`` on a finished run recalibrates it; this does the same from the model file alone. The file's class
offsets (``metrics.calibration.class_bias``) are taken back out of its head's bias, which gives the network as
trained; the data of the config stored in the file is prepared as its run prepared it (same sources, dedupe, grouping
and validation split; KEY=VALUE overrides it, e.g. ``calibrate.bags=25``), and ``calibrate_on_validation`` fits the
offsets (gated per head by default), the temperatures and the class mix again. Validation splits only.

Writes OUT/best.ferkit (the network as trained, uncalibrated) and OUT/model.ferkit (recalibrated), so that OUT works
as RUN for ``bench/ship.sh``; the model file records where it came from (``metrics.recalibrated``). CARD is the
model card of the file before recalibration: the training time it states is quoted from there, since the training log
went with the run folder.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import provenance  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model file, or a shipped model's name")
    ap.add_argument("out", type=Path, help="folder for best.ferkit and model.ferkit")
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE changes to the file's config (calibrate.* for example)")
    ap.add_argument("--card", help="where the card of the file before recalibration is, e.g. 'git show C:PATH.md'")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from ferkit.config import config_from_dict
    from ferkit.engine.checkpoint import load_model_file, save_model_file
    from ferkit.engine.run_data import prepare_data
    from ferkit.engine.validation import calibrate_on_validation
    from ferkit.errors import ModelFileError
    from ferkit.shipped import resolve_model

    path = resolve_model(args.model, "torch")
    mf = load_model_file(path)
    cfg = config_from_dict(mf.config, args.overrides)  # the stored config, checked as a config file's would be
    try:  # the network as trained: the offsets calibration folded in, taken out
        mf.state_dict = mf.uncalibrated_state()
    except ModelFileError as e:
        raise SystemExit(f"{path}: {e}") from None
    mf.metrics.pop("calibration", None)
    args.out.mkdir(parents=True, exist_ok=True)
    save_model_file(mf, args.out / "best.ferkit")
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    data = prepare_data(cfg)
    mf = calibrate_on_validation(mf, data.val, data.kept, torch.device("cpu"), cfg, where=args.out, progress=True)
    prov = provenance("recalibrate.py")
    mf.metrics["recalibrated"] = {
        "from": str(args.model),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        **prov,
        **({"card": args.card} if args.card else {}),
    }
    save_model_file(mf, args.out / "model.ferkit")
    calib = mf.metrics["calibration"]
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}")
    print("offset gate:", calib.get("offset_gate"))
    print("offsets:", {c: round(v, 3) for c, v in calib.get("class_bias", {}).items() if v})
    print("temperatures:", calib["temperatures"])
    print(f"wrote {args.out / 'model.ferkit'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
