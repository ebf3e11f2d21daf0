"""``ferkit train``: train a model from a typed config."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  ferkit train --config configs/fernet.yaml
  ferkit train --config configs/seed.yaml epochs=5 out=runs/seed-short
  ferkit train --config configs/fernet.yaml --resume      # continue a killed run from its last checkpoint
  ferkit train --config configs/fernet.yaml --force       # start again, replacing the run in <out>
  torchrun --nproc-per-node 2 -m ferkit train --config configs/fernet.yaml   # DistributedDataParallel
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model",
        description="Train a model. Config: dataclass defaults < --config YAML < key.sub=value overrides.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", help="YAML config file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=0.01")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--force", action="store_true", help="replace a run already in <out> (else that is an error)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.config import load_config
    from ferkit.engine.train import train

    cfg = load_config(args.config, args.overrides)

    def show(stats: dict) -> None:
        vals = " ".join(f"{k}={v:.4f}" for k, v in stats.items() if k.startswith("val_acc"))
        print(
            f"epoch {stats['epoch'] + 1}/{cfg.epochs} loss={stats['train_loss']:.4f} acc={stats['train_acc']:.4f} "
            f"{vals} {stats['img_per_s']:.0f} img/s {stats['seconds']:.0f}s",
            flush=True,
        )

    path = train(
        cfg, resume=args.resume, progress=not args.quiet, on_epoch=None if args.quiet else show, force=args.force
    )
    print(f"model file: {path}")
    return 0
