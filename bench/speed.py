"""Inference speed on this CPU: classifier per face, detectors, end to end, video frames per second.

Usage (from the project root):
    PYTHONPATH=src python bench/speed.py [--model PATH] [--runs 50] [--yunet ../shared/models/face_detection_yunet.onnx]

Medians over ``--runs`` timed runs after warm-up, in each of ``--rounds`` rounds that interleave all measures (this
VM's speed drifts by tens of percent over minutes); the result is the median of the rounds, with their min and max
in the JSON's ``spread``. Test photos are built from FER-2013 PrivateTest faces (read from
``../shared/data/fer2013.zip``), upscaled 3x and pasted on a smooth synthetic background; nothing is written to
the repository. The classifier runs on one thread (``--threads``) so that numbers are per core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import cpu  # noqa: E402
from fer_pkg import fer_classifier, load_fer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")


def median_ms(fn, runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def fer_faces(n: int, split_prefix: str = "PrivateTest_", seed: int = 0) -> np.ndarray:
    """``n`` FER-2013 faces (48x48 uint8) straight from the zip."""
    z = zipfile.ZipFile(SHARED / "data" / "fer2013.zip")
    names = sorted(x for x in z.namelist() if split_prefix in x and x.endswith(".jpg"))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(names), n, replace=False)
    return np.stack([cv2.imdecode(np.frombuffer(z.read(names[i]), np.uint8), 0) for i in pick])


def background(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful background (blurred noise), BGR."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 220, (h // 32 + 1, w // 32 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def photo(faces: np.ndarray, size: tuple[int, int] = (512, 512), scale: int = 3, seed: int = 0) -> np.ndarray:
    """Faces upscaled ``scale``x and pasted in a grid on a background of (h, w)."""
    h, w = size
    img = background(h, w, seed)
    s = 48 * scale
    cols = max(1, min(len(faces), w // s))
    rows = -(-len(faces) // cols)
    for k, f in enumerate(faces):
        r, c = divmod(k, cols)
        y = (h - rows * s) // (rows + 1) * (r + 1) + r * s
        x = (w - cols * s) // (cols + 1) * (c + 1) + c * s
        up = cv2.resize(f, (s, s), interpolation=cv2.INTER_CUBIC)
        img[y : y + s, x : x + s] = cv2.cvtColor(up, cv2.COLOR_GRAY2BGR)
    return img


def find_photo(faces: np.ndarray, n: int, counters, size=(512, 512), scale: int = 3) -> np.ndarray:
    """A photo of ``n`` faces in which every counter (image -> faces found) finds exactly ``n`` faces.

    Tries successive face sets; if none suits all counters, settles for one that suits the first (YuNet)."""
    for need in (counters, counters[:1]):
        for start in range(0, len(faces) - n + 1, n):
            img = photo(faces[start : start + n], size, scale, seed=start)
            if all(count(img) == n for count in need):
                return img
    raise SystemExit(f"YuNet did not find all {n} faces in any test photo")


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model file or shipped name (default: the default shipped model)")
    ap.add_argument("--yunet", default=str(SHARED / "models" / "face_detection_yunet.onnx"))
    ap.add_argument("--runs", type=int, default=50, help="timed runs per measure in a round (median taken)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every measure (median of the rounds' medians)")
    ap.add_argument("--threads", type=int, default=1, help="classifier threads (default 1)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from ferkit.engine.checkpoint import ModelFile, save_model_file
    from ferkit.export import export_onnx
    from ferkit.inference.backends import OnnxBackend, TorchBackend, load_backend
    from ferkit.inference.detectors import HaarDetector, YuNetDetector
    from ferkit.inference.predictor import PRETRAINED, Predictor
    from ferkit.inference.video import analyze_video
    from ferkit.models import build_model
    from ferkit.preprocess import to_input
    from ferkit.shipped import WEIGHTS_DIR, shipped_models

    tmp = Path(tempfile.mkdtemp(prefix="ferkit-bench-"))
    model = Path(args.model) if args.model else WEIGHTS_DIR / f"{PRETRAINED}.ferkit"
    if args.model in shipped_models():  # a shipped model's name
        model = WEIGHTS_DIR / f"{args.model}.ferkit"
    if not model.is_file():
        print(f"note: {model} not found; benchmarking a RANDOM-weight fernet_s (same architecture and cost)")
        torch.manual_seed(0)
        classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"]
        m = build_model("fernet_s", num_classes=len(classes))
        model = tmp / "random_fernet_s.ferkit"
        save_model_file(ModelFile("fernet_s", {}, classes, state_dict=m.state_dict()), model)
    load_before = load_average()
    calib = fer_faces(300, "Training_", seed=1)
    fp32 = export_onnx(model, tmp / "fp32.onnx")
    int8 = export_onnx(model, tmp / "int8_static.onnx", int8=True, mode="static", calib=calib)
    int8d = export_onnx(model, tmp / "int8_dynamic.onnx", int8=True, mode="dynamic")
    torch_backend, info = load_backend(model, "torch", threads=args.threads)
    assert isinstance(torch_backend, TorchBackend)

    faces = fer_faces(64)
    x1 = to_input(faces[:1])
    x5 = to_input(faces[:5])
    backends = {
        "torch fp32": torch_backend,
        "onnx fp32": OnnxBackend(fp32, args.threads),
        "onnx int8 static": OnnxBackend(int8, args.threads),
        "onnx int8 dynamic": OnnxBackend(int8d, args.threads),
    }
    yunet = YuNetDetector(args.yunet)  # ONNX Runtime, one thread
    yunet_cv = YuNetDetector(args.yunet, engine="opencv")
    yunet_320 = YuNetDetector(args.yunet, max_side=320)
    haar = HaarDetector()
    # The fer package's own pipeline, measured in the same run (bench/fer_pkg.py: fer's code, LiteRT for its model).
    FER = load_fer()
    fer = FER() if FER is not None else None
    counters = [lambda im: len(yunet.detect(im))]
    if fer is not None:  # photos in which fer's Haar stage finds the faces too, so that both pipelines classify them
        counters.append(lambda im: len(fer.find_faces(im)))
    img1 = find_photo(faces, 1, counters)
    img5 = find_photo(faces, 5, counters)
    img640 = find_photo(faces, 1, counters[:1], size=(480, 640))
    jpg1 = cv2.imencode(".jpg", img1, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    predictors = {}
    for name, path in (("onnx fp32", fp32), ("onnx int8 static", int8)):
        predictors[name] = Predictor.from_file(path, detector=yunet, threads=args.threads)
        assert len(predictors[name].predict(img1)) == 1 and len(predictors[name].predict(img5)) == 5
    pt = Predictor.from_file(model, backend="torch", detector=yunet, threads=args.threads)
    if fer is not None:
        _, fer_classify = fer_classifier(fer)
        fer_face = np.zeros((1, 64, 64, 1), np.float32)

    def timings() -> dict[str, float]:
        """One round of every timing (the machine's speed drifts: rounds are interleaved, medians taken across)."""
        r: dict[str, float] = {}
        for name, b in backends.items():
            r[f"classifier {name}, batch 1 (ms/face)"] = median_ms(lambda b=b: b.logits(x1), args.runs)
            r[f"classifier {name}, batch 5 (ms/face)"] = median_ms(lambda b=b: b.logits(x5), args.runs) / 5

        detectors = {"YuNet (onnxruntime)": yunet, "YuNet (opencv)": yunet_cv, "YuNet det_size 320": yunet_320}
        for name, det in {**detectors, "Haar": haar}.items():
            r[f"detector {name}, 640x480 (ms)"] = median_ms(lambda det=det: det.detect(img640), args.runs)
            r[f"detector {name}, 512x512 (ms)"] = median_ms(lambda det=det: det.detect(img1), args.runs)
        r["Haar faces found in the 1-face photo"] = float(len(haar.detect(img1)))
        r["Haar faces found in the 5-face photo"] = float(len(haar.detect(img5)))

        for name, p in predictors.items():
            r[f"end to end {name}, 1 face, 512x512 array (ms)"] = median_ms(lambda p=p: p.predict(img1), args.runs)
            r[f"end to end {name}, 1 face, 512x512 JPEG bytes (ms)"] = median_ms(lambda p=p: p.predict(jpg1), args.runs)
            r[f"end to end {name}, 5 faces, 512x512 array (ms)"] = median_ms(lambda p=p: p.predict(img5), args.runs)
        r["end to end torch fp32, 1 face, 512x512 array (ms)"] = median_ms(lambda: pt.predict(img1), args.runs)
        if fer is not None:
            r["fer classifier (int8 TFLite), batch 1 (ms/face)"] = median_ms(lambda: fer_classify(fer_face), args.runs)
            r["fer faces found in the 1-face photo"] = float(len(fer.detect_emotions(img1)))
            r["fer faces found in the 5-face photo"] = float(len(fer.detect_emotions(img5)))
            r["fer end to end, 1 face, 512x512 array (ms)"] = median_ms(lambda: fer.detect_emotions(img1), args.runs)
            r["fer end to end, 5 faces, 512x512 array (ms)"] = median_ms(lambda: fer.detect_emotions(img5), args.runs)
        return r

    rounds = [timings() for _ in range(args.rounds)]
    r = {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}
    spread = {k: [min(x[k] for x in rounds), max(x[k] for x in rounds)] for k in rounds[0]}

    clip = tmp / "clip.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for i in range(100):
        frame = img640.copy()
        frame = np.roll(frame, i, axis=1)  # the face drifts right
        w.write(frame)
    w.release()
    p = Predictor.from_file(fp32, detector=yunet, threads=args.threads)
    frames = 100
    for every, out in ((1, None), (3, None), (1, tmp / "annotated.avi")):
        t = time.perf_counter()
        n = sum(1 for _ in analyze_video(p, str(clip), every=every, out_video=out))
        what = "annotated video written" if out else "no outputs"
        r[f"video 640x480, 1 face, every {every}, {what} (frames/s)"] = frames / (time.perf_counter() - t)
        assert n == -(-frames // every)

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu() or platform.processor()}, "
        + platform.platform(),
        "versions": f"python {platform.python_version()}, onnxruntime "
        + __import__("onnxruntime").__version__
        + f", opencv {cv2.__version__}, torch {torch.__version__}",
        "model": f"{model.name} ({info.arch})",
        "load average before / after": f"{load_before} / {load_average()}",
        "runs": args.runs,
        "rounds": args.rounds,
        "classifier threads": args.threads,
        "opencv threads": cv2.getNumThreads(),
    }
    for k, v in meta.items():
        print(f"{k}: {v}")
    print("\n| measure | value |\n|---|---|")
    for k, v in r.items():
        print(f"| {k} | {v:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": r, "spread": spread}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
