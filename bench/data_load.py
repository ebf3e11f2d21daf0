"""Load time of a dataset source: first (cold: empty cache, decodes every image) and second (warm: from the cache).

Usage: PYTHONPATH=src python bench/data_load.py [PATH] [--runs 5] [--photos 2000]

The cache lives in a fresh temporary FERKIT_CACHE folder, removed afterwards; the warm number is the median of
``--runs`` loads. ``--photos N`` also times decoding a folder of N synthetic 640x480 colour JPEGs (the size of
RAF-DB/AffectNet images, where decoding dominates) without the cache, on one thread and on the default pool.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / ".." / "shared" / "data" / "fer2013.zip"


def photos_folder(root: Path, n: int) -> Path:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    for k in range(n):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        img = cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)
        (root / ("happy" if k % 2 else "sad")).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / ("happy" if k % 2 else "sad") / f"{k:05}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return root


def time_decoding(n: int, runs: int) -> None:
    from ferkit.data.sources import read_source

    with tempfile.TemporaryDirectory() as tmp:
        root = photos_folder(Path(tmp), n)
        default = min(8, os.cpu_count() or 1)
        times = {}
        for threads in (1, default):
            ts = []
            for _ in range(runs):
                t = time.perf_counter()
                src = read_source(root, threads=threads)
                ts.append(time.perf_counter() - t)
            assert len(src) == n
            times[threads] = statistics.median(ts)
            print(f"{n} photos 640x480, {threads} decoding thread(s): median {times[threads]:.2f} s over {runs} runs")
        print(f"speed-up with {default} threads: {times[1] / times[default]:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default=str(DEFAULT))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--photos", type=int, default=0, help="also time decoding N synthetic 640x480 JPEGs")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
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
    if args.photos:
        time_decoding(args.photos, min(args.runs, 3))


if __name__ == "__main__":
    main()
