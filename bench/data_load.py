"""Load time of a dataset source: first (cold: empty cache, decodes every image) and second (warm: from the cache).

Usage: PYTHONPATH=src python bench/data_load.py [PATH] [--runs 5]

The cache lives in a fresh temporary FERKIT_CACHE folder, removed afterwards; the warm number is the median of
``--runs`` loads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013.zip"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default=str(DEFAULT))
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FERKIT_CACHE"] = cache
        from ferkit.data import load_source  # after FERKIT_CACHE is set

        t = time.perf_counter()
        src = load_source(args.path)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(args.runs):
            t = time.perf_counter()
            again = load_source(args.path)
            warm.append(time.perf_counter() - t)
        assert len(again) == len(src)
        size = sum(f.stat().st_size for f in Path(cache).iterdir()) / 2**20
    print(f"{args.path}: {src.format}, {len(src)} faces, cache {size:.0f} MiB")
    print(f"first load (cold, decodes): {cold:.2f} s")
    print(f"second load (warm, cache):  median {statistics.median(warm):.3f} s over {args.runs} runs "
          f"(min {min(warm):.3f}, max {max(warm):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
