"""Is model B better than model A on validation, or is the difference noise? A paired bootstrap over the faces.

Usage (from the project root):
    python bench/paired.py A=FILE B=FILE [--resamples 5000] [--out bench/results/paired.json]

Both models score the same VALIDATION faces (FER-2013 PublicTest, FER+ Valid with unique-majority labels; the
protocol of ``bench/zoom.py --zooms 1.0 --tta none``), each set with the head of its convention and each model's own
zoom. The faces of each set are resampled with replacement, the same resample for both models (paired), and the
difference in accuracy (B - A) is recomputed: per set, and for the mean of the two sets (each set resampled on its
own). Printed and written: the measured difference, the 5th and 95th percentiles of the resampled differences (a
90% interval), and the share of resamples where B is not better. Accuracies that differ by a few tenths on a few
thousand faces are often inside that interval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from accuracy import SETS, provenance, write_result  # noqa: E402


def correct(path: str, src) -> np.ndarray:
    """Whether the model gets each scored validation face of ``src`` right (scored faces in protocol order)."""
    from ferkit.engine.evaluate import predict_logits, scored_faces
    from ferkit.heads import head_for_source
    from ferkit.inference.backends import load_backend, select_head

    full, model = load_backend(path, "torch")
    backend, info = select_head(full, model, head_for_source(model.heads, src.name).name)
    part, scored, y, _ = scored_faces(src, "val", list(info.classes))
    cols = [list(info.classes).index(c) for c in scored]
    logits = predict_logits(backend.logits, part.images, "none", zoom=info.preprocessing.zoom)[:, cols]
    return logits.argmax(1) == y


def interval(diffs: np.ndarray) -> dict:
    lo, hi = np.percentile(diffs, [5, 95])
    return {"ci90": [float(lo), float(hi)], "p_not_better": float((diffs <= 0).mean())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs=2, help="A=MODEL_FILE B=MODEL_FILE (B is compared with A)")
    ap.add_argument("--resamples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "paired.json")
    args = ap.parse_args()
    (a, fa), (b, fb) = (m.partition("=")[::2] for m in args.models)
    if not fa or not fb:
        ap.error("give the two models as NAME=MODEL_FILE")
    sys.path.insert(0, str(ROOT / "src"))
    from ferkit.data import load_source

    rng = np.random.default_rng(args.seed)
    prov = provenance("paired.py")
    print(f"# {prov['command']}\n# {prov['date']}; {prov['machine']}")
    rows, mean_diffs, mean_point = [], np.zeros(args.resamples), 0.0
    for set_name, path in SETS:
        src = load_source(path)
        ca, cb = correct(fa, src), correct(fb, src)
        idx = rng.integers(0, len(ca), (args.resamples, len(ca)))
        diffs = cb[idx].mean(1) - ca[idx].mean(1)
        point = float(cb.mean() - ca.mean())
        mean_diffs += diffs / len(SETS)
        mean_point += point / len(SETS)
        row = {"set": set_name, "n": int(len(ca)), a: float(ca.mean()), b: float(cb.mean()), "diff": point}
        rows.append(row | interval(diffs))
        lo, hi = rows[-1]["ci90"]
        print(f"{set_name}\t{a} {100 * ca.mean():.2f}%\t{b} {100 * cb.mean():.2f}%\t{b}-{a} {100 * point:+.2f} "
              f"(90%: {100 * lo:+.2f} .. {100 * hi:+.2f})")  # fmt: skip
    mean = {"set": "mean", "diff": mean_point} | interval(mean_diffs)
    lo, hi = mean["ci90"]
    print(f"mean\t{b}-{a} {100 * mean_point:+.2f} (90%: {100 * lo:+.2f} .. {100 * hi:+.2f}); "
          f"{b} not better in {100 * mean['p_not_better']:.1f}% of resamples")  # fmt: skip
    write_result(args.out, {"models": {a: fa, b: fb}, **prov, "resamples": args.resamples, "rows": [*rows, mean]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
