"""ONNX Runtime fp32 latency of FerNet variants (random weights: the cost does not depend on them), to choose an
architecture against the 1 ms per face target before spending hours training it.

Usage (from the project root): python bench/arch_latency.py [--runs 500]

Each variant is exported to ONNX and timed at batch 1 on one thread: median of ``--runs`` after 50 warm-up runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, dict] = {
    "fernet_s": {},
    "fernet_xs (depths 1-1-1-1, widths 16-48-96-160)": {"depths": (1, 1, 1, 1), "widths": (16, 48, 96, 160)},
    "depths 1-1-1-1": {"depths": (1, 1, 1, 1)},
    "depths 0-1-2-1": {"depths": (0, 1, 2, 1)},
    "widths 16-40-80-160": {"widths": (16, 40, 80, 160)},
    "widths 16-32-96-192": {"widths": (16, 32, 96, 192)},
    "fernet_m": {"widths": (32, 64, 128, 256), "depths": (1, 2, 2, 2)},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=500)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import onnxruntime as ort
    import torch

    from ferkit.models import build_model

    x = torch.rand(1, 1, 48, 48)
    print("| variant | parameters | ONNX fp32 ms/face (batch 1, 1 thread) |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kwargs) in enumerate(VARIANTS.items()):
            model = build_model("fernet_s", num_classes=8, **kwargs).eval()
            path = f"{tmp}/{i}.onnx"
            torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"], dynamo=False)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            feed = {"x": x.numpy()}
            for _ in range(50):
                sess.run(None, feed)
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                sess.run(None, feed)
                times.append(time.perf_counter() - t)
            params = sum(p.numel() for p in model.parameters()) / 1e6
            print(f"| {name} | {params:.2f} M | {statistics.median(times) * 1e3:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
