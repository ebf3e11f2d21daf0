"""Near-duplicate search on the real data: FER+ PNGs paired with their FER-2013 JPEGs, and FER-2013's own leaks.

Usage: PYTHONPATH=src python bench/dedupe.py [--data ../shared/data] [--threshold 4]

Only the hash decides a pair (``ferkit.data.dedupe.nearest``); the pixels then judge it: a pair is right when the
two faces' mean absolute difference is under 4 grey levels (JPEG noise is about 1.3), wrong otherwise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ferkit.data import dedupe, load_source

RIGHT_MAD = 4.0  # grey levels; same face through JPEG: about 1.3, a different face: 10 and up


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    p.add_argument("--threshold", type=int, default=dedupe.DEFAULT_THRESHOLD)
    args = p.parse_args()
    ferplus = load_source(Path(args.data) / "ferplus.zip")
    fer2013 = load_source(Path(args.data) / "fer2013.zip")

    t = time.perf_counter()
    dedupe.phash(ferplus), dedupe.phash(fer2013)
    t_hash = time.perf_counter() - t
    t = time.perf_counter()
    m = dedupe.find_duplicates(ferplus, fer2013, args.threshold)
    t_all = time.perf_counter() - t
    t = time.perf_counter()
    pairs = dedupe.nearest(ferplus, fer2013, args.threshold)
    t_nearest = time.perf_counter() - t

    a = ferplus.images[pairs.query].astype(np.float32)
    b = fer2013.images[pairs.reference].astype(np.float32)
    mad = np.abs(a - b).mean(axis=(1, 2))
    wrong = mad >= RIGHT_MAD
    n = len(ferplus)
    print(f"threshold {args.threshold} bits of 64")
    print(f"hash {n} + {len(fer2013)} faces: {t_hash:.2f} s")
    print(f"all pairs within threshold ({n} x {len(fer2013)}): {len(m.query)} pairs in {t_all:.2f} s")
    print(f"nearest FER-2013 JPEG for each FER+ PNG: {t_nearest:.2f} s")
    print(f"paired: {len(pairs.query)} / {n} = {100 * len(pairs.query) / n:.3f}%")
    print(f"wrong pairs (mean abs diff >= {RIGHT_MAD}): {int(wrong.sum())} = {100 * wrong.sum() / n:.3f}%")
    print(f"distance histogram of pairs: {np.bincount(pairs.distance).tolist()}")
    print(f"mean abs diff of right pairs: median {np.median(mad[~wrong]):.2f}, max {mad[~wrong].max():.2f}")
    for i in np.nonzero(wrong)[0]:
        print(f"  wrong: {ferplus.ids[pairs.query[i]]} ~ {fer2013.ids[pairs.reference[i]]} mad {mad[i]:.1f}")

    print("\nFER-2013 val/test faces with a near-duplicate in another split (fer2013.zip, Kaggle layout):")
    for threshold in (0, args.threshold):
        t = time.perf_counter()
        rows = dedupe.split_report([fer2013], threshold)
        dt = time.perf_counter() - t
        for r in rows:
            if r["reference"] != "any:train":
                print(
                    f"  threshold {threshold}: {r['query']} in {r['reference']}: {r['duplicates']} / {r['query_rows']}"
                )
        print(f"  ({dt:.2f} s)")
    leaks = dedupe.leak_mask(fer2013, [])
    print(f"leak_mask(fer2013): {int(leaks.sum())} training faces near-duplicate a val/test face")


if __name__ == "__main__":
    main()
