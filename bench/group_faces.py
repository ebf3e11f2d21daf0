"""What ``data.group_faces`` does on the shared data: how many FER+ training faces it pairs with their FER-2013 copy,
how far apart the copies are, and what an epoch costs with and without it.

Usage (from the project root, on an idle machine):
    python bench/group_faces.py [--config configs/fernet-xs.yaml] [--steps 40] [--json bench/results/group_faces.json]

Epoch time is extrapolated from ``--steps`` training steps of the config's model, augmentation and batch size (the
real ``train_one_epoch``): samples per epoch / measured samples per second. Validation time is not included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "fernet-xs.yaml"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np
    import torch

    from ferkit.config import load_config
    from ferkit.data.augment import build_augment
    from ferkit.engine.distributed import DistInfo
    from ferkit.engine.run_data import epoch_order, prepare_data
    from ferkit.engine.train import build_optimizer, train_one_epoch
    from ferkit.models import build_model

    os.chdir(ROOT)  # the config's data paths are relative to the project root
    base = load_config(args.config)
    torch.set_num_threads(base.threads or torch.get_num_threads())
    out = {}
    for grouped in (False, True):
        cfg = dataclasses.replace(base, data=dataclasses.replace(base.data, group_faces=grouped))
        data = prepare_data(cfg)
        faces = data.faces
        row = {"training rows (face-label pairs)": len(data.train), "samples per epoch": len(faces)}
        if grouped:
            pairs = faces[(faces >= 0).sum(1) > 1]
            im = data.train.images.astype(np.int16)
            diff = np.abs(im[pairs[:, 0]] - im[pairs[:, 1]]).mean(axis=(1, 2))
            row["faces with two labels"] = len(pairs)
            row["FER+ training rows"] = int((data.train.source == 1).sum())
            row["largest mean pixel difference in a pair"] = float(diff.max()) if len(diff) else 0.0
        torch.manual_seed(0)
        classes = list(data.train.taxonomy.classes)
        model = build_model(cfg.model.name, num_classes=len(classes), **cfg.model.kwargs)
        model = model.to(memory_format=torch.channels_last) if cfg.channels_last else model
        opt, sched = build_optimizer(model, cfg, 1000)
        order = epoch_order(data, cfg, 0, DistInfo())[: cfg.batch_size * args.steps]
        aug, cpu = build_augment(cfg.augment), torch.device("cpu")
        stats = train_one_epoch(model, opt, sched, data, order, aug, cfg, cpu, None, False)
        row["images run per s"] = stats["img_per_s"]
        row["epoch seconds (extrapolated)"] = len(faces) / stats["img_per_s"]
        out["grouped" if grouped else "ungrouped"] = row
        print(("grouped  " if grouped else "ungrouped"), json.dumps(row), flush=True)
    out["epoch time ratio (grouped / ungrouped)"] = (
        out["grouped"]["epoch seconds (extrapolated)"] / out["ungrouped"]["epoch seconds (extrapolated)"]
    )
    out["meta"] = {
        "command": shlex.join(["python", "bench/group_faces.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "config": args.config,
        "steps": args.steps,
    }
    print(f"epoch time ratio: {out['epoch time ratio (grouped / ungrouped)']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
