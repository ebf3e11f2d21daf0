"""``ferkit data inspect|prepare|dedupe``: look at dataset sources, decode them into the cache, find leaks."""

from __future__ import annotations

import argparse
import json
import time

import cv2

from ferkit.data import dedupe, load_source
from ferkit.data.relabel import CODE_ORDERS, numbered
from ferkit.data.sources import ADAPTERS, VARIANTS
from ferkit.data.summary import face_grid, summarize

DATA_EXAMPLE = """example:
  ferkit data inspect ../shared/data/fer2013.zip --json
  ferkit data prepare ../shared/data/fer2013.zip ../shared/data/ferplus.zip
  ferkit data dedupe ../shared/data/fer2013.zip ../shared/data/ferplus.zip"""
INSPECT_EXAMPLE = """example:
  ferkit data inspect ../shared/data/fer2013.zip
  ferkit data inspect kaggle:msambare/fer2013 --grid faces.png   # fetched with kagglehub on first use
  ferkit data inspect ../shared/data/ferplus.zip my_faces/ --json
  ferkit data inspect raf-db/basic --on-error skip --grid faces.png"""
PREPARE_EXAMPLE = """example:
  ferkit data prepare ../shared/data/fer2013.zip ../shared/data/ferplus.zip"""
DEDUPE_EXAMPLE = """example:
  ferkit data dedupe ../shared/data/fer2013.zip ../shared/data/ferplus.zip
  ferkit data dedupe ../shared/data/fer2013.zip --threshold 0 --json

Counts val/test faces that near-duplicate a training face of any source (a leak if both are used), and val faces
duplicated in test within a source. The threshold is a Hamming distance between 64-bit perceptual hashes."""


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="dataset folder, zip or CSV (format auto-detected), or a Kaggle dataset: kaggle:OWNER/DATASET",
    )
    p.add_argument("--format", choices=sorted([*ADAPTERS, *VARIANTS]), help="force the adapter instead of detecting it")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise", help="on a bad record (default raise)")
    p.add_argument("--no-cache", action="store_true", help="decode again, neither reading nor writing the cache")
    p.add_argument("--labels", metavar="ORDER", choices=sorted(CODE_ORDERS),
                   help="name numbered classes (a table's or folder's 3) by this dataset's code order")  # fmt: skip


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    desc = (
        "Look at dataset sources (inspect), decode them into the cache (prepare), find leaks between splits (dedupe)."
    )
    data = subparsers.add_parser("data", help="inspect, prepare and dedupe datasets", description=desc,
                                 epilog=DATA_EXAMPLE, formatter_class=fmt)  # fmt: skip
    sub = data.add_subparsers(dest="data_verb", metavar="SUBVERB", required=True)

    p = sub.add_parser("inspect", help="classes and per-split counts of sources", epilog=INSPECT_EXAMPLE,
                       formatter_class=fmt)  # fmt: skip
    _add_source_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per source, one per line")
    p.add_argument("--grid", metavar="PNG", help="write sample faces per class (first source; `-N` suffix for more)")
    p.set_defaults(func=inspect)

    p = sub.add_parser("prepare", help="decode sources into the cache and time it", epilog=PREPARE_EXAMPLE,
                       formatter_class=fmt)  # fmt: skip
    _add_source_args(p)
    p.set_defaults(func=prepare)

    p = sub.add_parser("dedupe", help="near-duplicates across splits and sources", epilog=DEDUPE_EXAMPLE,
                       formatter_class=fmt)  # fmt: skip
    _add_source_args(p)
    t = dedupe.DEFAULT_THRESHOLD
    p.add_argument("--threshold", type=int, default=t, help=f"largest Hamming distance of 64 bits (default {t})")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run_dedupe)


def _load(args: argparse.Namespace, path: str):
    return load_source(path, args.format, args.on_error, cache=not args.no_cache, labels=args.labels)


# ---- inspect ------------------------------------------------------------------------------------------------


def _table(s: dict) -> str:
    splits = list(s["splits"])
    lines = [f"{s['path']}  (format {s['format']}, {s['size']} faces)"]
    lines.append(f"  {'class':<10}" + "".join(f"{sp:>8}" for sp in splits) + f"{'total':>8}")
    for c in s["classes"]:
        counts = [s["splits"][sp][c] for sp in splits]
        lines.append(f"  {c:<10}" + "".join(f"{n:>8}" for n in counts) + f"{sum(counts):>8}")
    totals = [sum(s["splits"][sp].values()) for sp in splits]
    lines.append(f"  {'total':<10}" + "".join(f"{n:>8}" for n in totals) + f"{sum(totals):>8}")
    if s["unmapped"]:
        lines.append("  no ferkit class: " + ", ".join(f"{k} {v}" for k, v in s["unmapped"].items()))
        if numbered(s["unmapped"]):
            lines.append(f"  (numbered classes: name them with --labels {'|'.join(sorted(CODE_ORDERS))})")
    if s["ties"]:
        lines.append(f"  vote ties (no unique majority): {s['ties']}")
    lines.append(f"  skipped: {s['skipped']['count']}")
    lines += [f"    {n}  {reason}" for reason, n in s["skipped"]["reasons"].items()]
    return "\n".join(lines)


def inspect(args: argparse.Namespace) -> int:
    for k, path in enumerate(args.paths):
        src = _load(args, path)
        s = summarize(src)
        print(json.dumps(s) if args.json else _table(s) + "\n")
        if args.grid:
            out = args.grid if k == 0 else args.grid.replace(".png", f"-{k + 1}.png")
            cv2.imwrite(out, face_grid(src))
            if not args.json:
                print(f"wrote {out}\n")
    return 0


# ---- prepare ------------------------------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> int:
    for path in args.paths:
        t = time.perf_counter()
        src = _load(args, path)
        print(f"{path}: {src.format}, {len(src)} faces, {len(src.skipped)} skipped, {time.perf_counter() - t:.2f} s")
    return 0


# ---- dedupe -------------------------------------------------------------------------------------------------


def run_dedupe(args: argparse.Namespace) -> int:
    sources = [_load(args, p) for p in args.paths]
    rows = dedupe.split_report(sources, args.threshold)
    if args.json:
        print(json.dumps({"threshold": args.threshold, "rows": rows}))
        return 0
    print(f"val/test faces with a near-duplicate (Hamming <= {args.threshold} of 64 bits):")
    print(f"  {'faces':<22}{'found in':<24}{'duplicates':>12}{'of':>8}{'%':>8}")
    for r in rows:
        pct = 100 * r["duplicates"] / max(r["query_rows"], 1)
        print(f"  {r['query']:<22}{r['reference']:<24}{r['duplicates']:>12}{r['query_rows']:>8}{pct:>8.2f}")
    return 0
