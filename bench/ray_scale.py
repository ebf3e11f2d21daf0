"""Throughput of ``--engine ray`` against the single-process folder mode, on this machine.

Usage (from the project root; needs ``pip install -e ".[ray]"``):
    PYTHONPATH=src python bench/ray_scale.py [--photos 5000] [--workers 1 2] [--model ferkit-l]

Writes ``--photos`` synthetic photos (240x150 JPEGs with one or two cartoon faces, in a temporary folder), then
scores the same set (1) with ``ferkit predict FOLDER --out`` with one classifier thread and OpenCV on one thread
(one core, like one worker), and (2) with ``predict_on_ray`` on a local Ray of ``max(--workers)`` CPUs, with each
worker count. Times are wall clock from the call to the last row written: the Ray rows include starting the actors
and loading the model in each (not starting Ray itself, which is timed apart). Efficiency per worker: images/s of k
workers / (k x images/s of one Ray worker), and also against the single process. On one machine this measures Ray's
overhead against ``ferkit predict FOLDER``, not a cluster's scaling. Results (with the date, the machine, its load
average and this process's nice level, which decide what the numbers mean) go to bench/results/ray_scale.json and a
Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import face_image  # noqa: E402  (the cartoon faces the tests use; YuNet finds them)

YUNET = next((p for p in (ROOT.parent / "shared" / "models" / "face_detection_yunet.onnx",
                          Path("/work/shared/models/face_detection_yunet.onnx")) if p.is_file()), None)  # fmt: skip


def write_photos(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        faces = tuple(
            (int(60 + 110 * k + rng.integers(-8, 8)), int(75 + rng.integers(-8, 8)), 42) for k in range(1 + i % 2)
        )
        cv2.imwrite(str(folder / f"{i // 1000:02d}" / f"{i:06d}.jpg"), face_image(faces, size=(150, 240)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=5000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--model", default=None, help="shipped model name or file (default: the default model)")
    ap.add_argument("--yunet", default=str(YUNET) if YUNET else None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ray_scale.json"))
    args = ap.parse_args()

    import ray

    from ferkit import shipped
    from ferkit.cli import main as ferkit
    from ferkit.inference.cluster import connect, predict_on_ray

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()

    det = ["--yunet", args.yunet] if args.yunet else []
    model = ["--model", args.model] if args.model else []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        for k in range(args.photos // 1000 + 1):
            (photos / f"{k:02d}").mkdir(parents=True)
        t = time.perf_counter()
        write_photos(photos, args.photos)
        print(f"{args.photos} photos written in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        cv2.setNumThreads(1)  # YuNet's OpenCV threads too: the single process is held to one core, as one worker
        t = time.perf_counter()
        assert ferkit(["predict", str(photos), "--out", f"{tmp}/single.jsonl", "--threads", "1", *det, *model]) == 0
        dt = time.perf_counter() - t
        rows.append({"engine": "single process (ferkit predict FOLDER, 1 thread)", "workers": 1, "seconds": dt,
                     "load_average_1min_after": os.getloadavg()[0]})  # fmt: skip

        t = time.perf_counter()
        connect(num_cpus=max(args.workers))  # as predict_on_ray starts a local Ray; workers import this ferkit
        ray_start = time.perf_counter() - t
        for k in args.workers:
            t = time.perf_counter()
            predict_on_ray([str(photos)], f"{tmp}/ray{k}", args.model, workers=k, yunet=args.yunet, progress=False)
            dt = time.perf_counter() - t
            rows.append({"engine": "Ray Data (--engine ray)", "workers": k, "seconds": dt,
                         "load_average_1min_after": os.getloadavg()[0]})  # fmt: skip
        ray.shutdown()

    for r in rows:
        r["images_per_s"] = args.photos / r["seconds"]
    single = rows[0]["images_per_s"]
    one = next((r["images_per_s"] for r in rows[1:] if r["workers"] == 1), None)
    for r in rows:
        r["efficiency_vs_single"] = r["images_per_s"] / (r["workers"] * single)
        r["efficiency_vs_ray_1"] = r["images_per_s"] / (r["workers"] * one) if one else None
    result = {
        "command": shlex.join(["python", *sys.argv]),
        "date": started,
        "photos": args.photos,
        "model": args.model or shipped.DEFAULT,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "nice": os.nice(0),
        "ray_start_s": ray_start,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| engine | workers | seconds | images/s | efficiency per worker (vs 1 Ray worker) | vs single process |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        e1 = f"{r['efficiency_vs_ray_1']:.2f}" if r["efficiency_vs_ray_1"] and r["workers"] else "-"
        print(f"| {r['engine']} | {r['workers']} | {r['seconds']:.1f} | {r['images_per_s']:.0f} | "
              f"{e1 if r['engine'].startswith('Ray') else '-'} | {r['efficiency_vs_single']:.2f} |")  # fmt: skip
    print(f"\nRay start (ray.init, not timed above): {ray_start:.1f} s; {args.photos} photos, {os.cpu_count()} CPUs, "
          f"model {result['model']}; {started}; load average {load_before[0]:.1f} before, "
          f"{result['load_average_after'][0]:.1f} after; nice {result['nice']}")  # fmt: skip


if __name__ == "__main__":
    main()
