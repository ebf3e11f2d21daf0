"""Training-step throughput of each registered model on this machine: fp32 vs bf16 autocast, with channels_last.

Usage (from the project root):
    python bench/train_throughput.py [--batch 128] [--steps 12] [--json bench/results/train_throughput.json]

Median images/s over the steps after two warm-up steps, one SGD step (forward, loss, backward, update) each, on
random 48x48 input; the data pipeline is not included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from ferkit.models import build_model, list_models

    rows = []
    for name in list_models():
        for amp in (False, True):
            torch.manual_seed(0)
            model = build_model(name, num_classes=8).to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            x = torch.rand(args.batch, 1, 48, 48).contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, 8, (args.batch,))
            times = []
            for _ in range(args.steps + 2):
                t = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    loss = torch.nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - t)
            ips = args.batch / statistics.median(times[2:])
            params = sum(p.numel() for p in model.parameters()) / 1e6
            rows.append({"model": name, "params_m": params, "bf16_autocast": amp, "images_per_s": ips})
            print(f"{name:10} {params:5.2f}M  {'bf16' if amp else 'fp32'}  {ips:7.1f} images/s", flush=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "batch": args.batch,
    }
    print(meta)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
