"""A candidate model file against the shipped one, by the accuracy clauses the training rules use (notes/training.md).

Validation only, in one sitting: for each file, ``bench/zoom.py FILE --zooms 1.0 --tta none`` (clean accuracy on
FER-2013 PublicTest and FER+ Valid) and ``bench/degrade.py FILE --conditions "low resolution 24 px" "JPEG quality 30"``
(the drops on degraded faces), their JSON written to ``bench/results/{zoom,degrade}-NAME.json``. Then the rule's
table: the clean mean of the two sets, and each of the four drops. The candidate meets the clauses when its clean
mean is at least the baseline's + ``--gain`` points and none of its drops is worse than the baseline's.

Usage (from the project root):
    python bench/judge.py CANDIDATE_NAME=FILE BASELINE_NAME=FILE [--gain 0.30]

Exit status 0 whether or not the clauses hold (the verdict is printed); 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CONDITIONS = ["low resolution 24 px", "JPEG quality 30"]
SETS = ["fer2013", "ferplus"]


def named(arg: str) -> tuple[str, str]:
    name, sep, path = arg.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{arg!r}: expected NAME=FILE")
    return name, path


def measure(name: str, path: str) -> dict:
    """Runs both bench scripts on one file and reads their JSON (``read``)."""
    zoom, degrade = RESULTS / f"zoom-{name}.json", RESULTS / f"degrade-{name}.json"
    py = sys.executable
    for cmd in (
        [py, "bench/zoom.py", path, "--zooms", "1.0", "--tta", "none", "--out", str(zoom)],
        [py, "bench/degrade.py", path, "--conditions", *CONDITIONS, "--json", str(degrade)],
    ):
        subprocess.run(cmd, cwd=ROOT, check=True)
    return read(zoom, degrade)


def read(zoom: Path, degrade: Path) -> dict:
    """Clean accuracy per set (points), their mean, and the drop per (set, condition) in points (negative = lost)."""
    rows = json.loads(zoom.read_text())["rows"]
    clean = {r["set"]: 100 * r["accuracy"] for r in rows if r["zoom"] == 1.0 and r["tta"] == "none"}
    acc = {(r["set"], r["condition"]): 100 * r["accuracy"] for r in json.loads(degrade.read_text())["results"]}
    drops = {(s, c): acc[s, c] - acc[s, "none"] for s in SETS for c in CONDITIONS}
    return {"clean": clean, "mean": sum(clean[s] for s in SETS) / len(SETS), "drops": drops}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidate", type=named, help="NAME=FILE of the candidate")
    ap.add_argument("baseline", type=named, help="NAME=FILE of the file it would replace")
    ap.add_argument("--gain", type=float, default=0.30, help="points of clean mean the rule asks for")
    args = ap.parse_args()
    (cn, cp), (bn, bp) = args.candidate, args.baseline
    cand, base = measure(cn, cp), measure(bn, bp)  # the candidate first, as in the rules' sittings
    gain = cand["mean"] - base["mean"]
    rows = [
        f"| measure (validation) | {bn} | {cn} | rule |",
        "|---|---|---|---|",
        f"| clean, zoom 1.0, TTA none | {base['clean']['fer2013']:.2f}% / {base['clean']['ferplus']:.2f}%, mean "
        f"{base['mean']:.2f}% | {cand['clean']['fer2013']:.2f}% / {cand['clean']['ferplus']:.2f}%, mean "
        f"{cand['mean']:.2f}% ({gain:+.2f}) | >= {args.gain:+.2f}: {'met' if gain >= args.gain - 1e-9 else 'missed'} |",
    ]
    worse = []
    for c in CONDITIONS:
        b, k = [base["drops"][s, c] for s in SETS], [cand["drops"][s, c] for s in SETS]
        ok = all(x >= y - 1e-9 for x, y in zip(k, b, strict=True))
        worse += [] if ok else [c]
        rows.append(
            f"| drops at {c} (FER-2013 / FER+) | {b[0]:+.2f} / {b[1]:+.2f} | {k[0]:+.2f} / {k[1]:+.2f} | "
            f"no worse: {'met' if ok else 'missed'} |"
        )
    print("\n".join(rows))
    met = gain >= args.gain - 1e-9 and not worse
    print(f"\nverdict: {cn} {'meets' if met else 'does not meet'} the accuracy clauses against {bn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
