"""Training throughput of candidate networks on the real training pipeline: fp32 against bf16 autocast (and
``torch.compile``), so that each recipe uses what is fastest on this machine.

Usage (from the project root):
    python bench/train_throughput.py [--config configs/fernet-xs.yaml] [--models fernet_xs fernet_m face_resnet]
        [--batches 12] [--rounds 3] [--compile] [--json bench/results/train_throughput.json]

Each measure is ``ferkit.engine.train.train_one_epoch`` over ``--batches`` batches of the config's real data
(FER-2013 + FER+, grouped faces, the config's batched augmentation, loss and SGD step), channels_last, after one
warm-up pass. Modes are interleaved in rounds (this VM's speed drifts), and the table gives each mode's median
images/s over the rounds and its ratio to fp32 of the same network in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "fernet-xs.yaml"), help="data, augmentation, batch")
    ap.add_argument("--models", nargs="+", default=["fernet_xs", "fernet_m", "face_resnet"])
    ap.add_argument("--batches", type=int, default=12, help="training batches per measure")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also measure bf16 with torch.compile")
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

    torch.set_num_threads(args.threads)
    os.chdir(ROOT)  # the configs' data paths are relative to the project root
    cfg = load_config(args.config, [f"threads={args.threads}"])
    data = prepare_data(cfg)
    dev = torch.device("cpu")
    aug = build_augment(cfg.augment)
    modes = ["fp32", "bf16"] + (["bf16+compile"] if args.compile else [])
    n_out = data.train.targets.shape[1]
    runs = {}
    for name in args.models:
        for mode in modes:
            torch.manual_seed(0)
            model = build_model(name, num_classes=n_out).to(memory_format=torch.channels_last)
            opt, sched = build_optimizer(model, cfg, 1000)
            runs[(name, mode)] = (torch.compile(model) if "compile" in mode else model, opt, sched)
    order = epoch_order(data, cfg, 0, DistInfo(0, 1, 0))[: args.batches * cfg.batch_size]
    ips: dict[tuple[str, str], list[float]] = {k: [] for k in runs}
    for r in range(args.rounds + 1):  # round 0 warms up (and compiles)
        for (name, mode), (model, opt, sched) in runs.items():
            cfg.amp = mode != "fp32"
            stats = train_one_epoch(model, opt, sched, data, order, aug, cfg, dev, None, False)
            if r > 0:
                ips[(name, mode)].append(stats["img_per_s"])
                print(f"round {r} {name:12} {mode:13} {stats['img_per_s']:7.1f} images/s", flush=True)
    rows = []
    for (name, mode), v in ips.items():
        base = ips[(name, "fp32")]
        model = runs[(name, mode)][0]
        rows.append(
            {
                "model": name,
                "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                "mode": mode,
                "images_per_s": statistics.median(v),
                "ratio_to_fp32": statistics.median(np.array(v) / np.array(base)),
                "rounds": v,
            }
        )
    env = [f"{k}={os.environ[k]}" for k in ("ONEDNN_MAX_CPU_ISA",) if k in os.environ]  # oneDNN held to an older ISA
    meta = {
        "command": shlex.join([*env, "python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads",
        "batch": cfg.batch_size,
        "batches_per_measure": args.batches,
        "load_average_after": os.getloadavg(),
    }
    print(json.dumps(meta))
    print("| network | parameters | mode | images/s (median) | vs fp32 |\n|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['params_m']:.2f} M | {row['mode']} | {row['images_per_s']:.0f} | "
            f"{row['ratio_to_fp32']:.2f}x |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
