"""Fuzz bench: tens of thousands of hostile images through ``Predictor.predict(bytes)`` and through the service.

    PYTHONPATH=src python bench/fuzz.py --mutants 10000 --service 2000 --json bench/results/fuzz.json

Mutants come from ``tests/hostile.py``: small valid seeds of every accepted format (JPEG baseline, progressive
and gray, PNG 8-bit, 16-bit and with alpha, GIF, BMP, WebP lossy and lossless, TIFF LZW and plain, PGM, PPM), each
changed by one of its mutations (bit flips, random bytes, truncation, truncation keeping the end marker, an
extreme header value, a chunk or segment length changed, a block repeated or removed, the magic then noise), plus
the known attacks of issue #12. The shipped ONNX model and YuNet do the work, as ``ferkit predict`` would.
Each input's outcome is counted: decoded (with or without faces), refused with a ferkit error (by kind), or a
failure (any other exception; the target is none), and the slowest input and peak RSS are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
YUNET = next(
    (p for p in (ROOT.parent / "shared/models/face_detection_yunet.onnx",
                 Path("/work/shared/models/face_detection_yunet.onnx")) if p.is_file()),
    None,
)  # fmt: skip
SLOW = 5.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def outcome(e: Exception) -> str:
    from ferkit.errors import FerkitError, ImageTooLargeError, UnsupportedImageError

    if isinstance(e, UnsupportedImageError):
        return "refused: unsupported format"
    if isinstance(e, ImageTooLargeError):
        return "refused: over the pixel limit"
    if isinstance(e, FerkitError):
        reason = getattr(e, "reason", str(e))
        for word in ("truncated", "corrupt", "empty"):
            if reason.startswith(word):
                return f"refused: {word}"
        return "refused: other ferkit error"
    return f"FAILURE: {type(e).__name__}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=10_000, help="mutants through Predictor.predict(bytes)")
    ap.add_argument("--service", type=int, default=2_000, help="further mutants through POST /v1/predict")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, help="model (default: the shipped ONNX model)")
    ap.add_argument("--yunet", type=Path, default=YUNET, help="YuNet file (default: ../shared/models)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    import hostile

    from ferkit.imaging import quiet_codecs
    from ferkit.inference.predictor import Predictor, pretrained_path

    model = args.model or pretrained_path("onnx")
    det = {"detector": "yunet", "yunet": args.yunet} if args.yunet else {"detector": "haar"}
    predictor = Predictor.from_file(model, threads=1, **det)
    predictor.predict(hostile.seeds()["jpeg"])  # warm-up
    rss_start, t_start = rss_mb(), time.perf_counter()
    counts: Counter[str] = Counter()
    by_format: dict[str, Counter[str]] = {}
    slowest, failures = (0.0, ""), []
    known = [(name, "attack", data) for name, data in hostile.attacks().items()]
    inputs = known + list(hostile.mutants(args.mutants, args.seed))
    tenth, trend = max(1, len(inputs) // 10), []  # RSS after each tenth of the inputs: a plateau, or a leak
    with quiet_codecs():
        for i, (fmt, kind, data) in enumerate(inputs):
            if i % tenth == 0 and i:
                trend.append(round(rss_mb()))
            t0 = time.perf_counter()
            try:
                faces = predictor.predict(data)
                key = "decoded, faces found" if faces else "decoded, no face"
            except Exception as e:  # noqa: BLE001 - counted: a non-ferkit exception is a failure
                key = outcome(e)
                if key.startswith("FAILURE"):
                    failures.append(f"#{i} {fmt}/{kind}: {type(e).__name__}: {e}"[:300])
            took = time.perf_counter() - t0
            slowest = max(slowest, (took, f"#{i} {fmt}/{kind}"))
            counts[key] += 1
            counts["slower than 5 s"] += took > SLOW
            by_format.setdefault(fmt, Counter())[key.split(",")[0].split(":")[0]] += 1
        rss_after_predict, predict_seconds = rss_mb(), time.perf_counter() - t_start

        statuses: Counter[str] = Counter()
        if args.service:
            from fastapi.testclient import TestClient

            from ferkit.service.app import create_app

            with TestClient(create_app(predictor), raise_server_exceptions=False) as client:
                while client.get("/readyz").status_code != 200:
                    time.sleep(0.05)
                for fmt, kind, data in hostile.mutants(args.service, args.seed + 1):
                    t0 = time.perf_counter()
                    r = client.post("/v1/predict", content=data, headers={"content-type": "application/octet-stream"})
                    took = time.perf_counter() - t0
                    code = r.json().get("error", {}).get("code", "") if r.status_code != 200 else "ok"
                    statuses[f"{r.status_code} {code}"] += 1
                    statuses["slower than 5 s"] += took > SLOW
                    slowest = max(slowest, (took, f"service {fmt}/{kind}"))
    total = sum(v for k, v in counts.items() if k != "slower than 5 s")
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"python {platform.python_version()}",
        "command": " ".join(["python", "bench/fuzz.py", *(argv if argv is not None else sys.argv[1:])]),
        "model": Path(model).name,
        "detector": det["detector"],
        "predict_inputs": total,
        "predict_outcomes": dict(counts.most_common()),
        "predict_outcomes_by_format": {k: dict(v) for k, v in by_format.items()},
        "predict_seconds": round(predict_seconds, 1),
        "service_inputs": args.service,
        "service_statuses": dict(statuses.most_common()),
        "failures": failures[:20],
        "slowest_seconds": round(slowest[0], 3),
        "slowest_input": slowest[1],
        "rss_mb": {
            "start": round(rss_start, 1),
            "after_predict": round(rss_after_predict, 1),
            "end": round(rss_mb(), 1),
            "peak": round(peak_rss_mb(), 1),
            "predict_each_tenth": trend,
        },
    }
    print(json.dumps(result, indent=2))
    print("\n| outcome | `predict(bytes)` |\n|---|---|")
    for k, v in counts.most_common():
        print(f"| {k} | {v:,} |")
    if statuses:
        print("\n| HTTP status | `POST /v1/predict` |\n|---|---|")
        for k, v in statuses.most_common():
            print(f"| {k} | {v:,} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
