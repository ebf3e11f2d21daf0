"""Compare training runs on validation: each run's best epoch by mean validation accuracy, as its log recorded it.

Usage (from the project root):
    python bench/runs_table.py ~/ferkit-runs/ablation-fer2013 ~/ferkit-runs/ablation-shared ~/ferkit-runs/ablation-heads

Reads each run folder's ``metrics.jsonl`` (one line per epoch, written by ``ferkit train``) and prints, per run, the
best epoch, the validation accuracy of every source at that epoch, the epochs run, and the hours of training. Only
validation splits are involved: this is the table that model selection may look at.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def best_epoch(run: Path) -> dict | None:
    log = run / "metrics.jsonl"
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.is_file() else []
    if not lines:
        print(f"{run}: no epoch logged yet", file=sys.stderr)
        return None
    best = max(lines, key=lambda d: d["val_acc"])
    return {
        "run": run.name,
        "best_epoch": best["epoch"] + 1,
        "epochs_run": len(lines),
        "hours": sum(d["seconds"] for d in lines) / 3600,
        "val": {k.split("/", 1)[1]: v for k, v in best.items() if k.startswith("val_acc/")},
        "val_mean": best["val_acc"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [r for r in (best_epoch(Path(r).expanduser()) for r in args.runs) if r is not None]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    sources = sorted({s for r in rows for s in r["val"]})
    print("| run | best epoch / run | " + " | ".join(f"val {s}" for s in sources) + " | mean | hours |")
    print("|---|---|" + "---|" * len(sources) + "---|---|")
    for r in rows:
        accs = " | ".join(f"{100 * r['val'][s]:.2f}%" if s in r["val"] else "" for s in sources)
        print(
            f"| {r['run']} | {r['best_epoch']} / {r['epochs_run']} | {accs} | {100 * r['val_mean']:.2f}% | "
            f"{r['hours']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
