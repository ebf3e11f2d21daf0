"""Helpers for the service tests: a random-weight model file, a fixed-box detector, images, a live server."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
METRICS = {"val": {"accuracy": 0.5}, "test": {"accuracy": 0.25}}


def write_model_file(path: Path) -> Path:
    """A small random-weight fernet_s model file with FER-2013's seven classes."""
    import torch

    from ferkit.engine.checkpoint import ModelFile, save_model_file
    from ferkit.models import build_model

    torch.manual_seed(0)
    kwargs = {"widths": [16, 16, 16, 32], "depths": [1, 1, 1, 1]}
    model = build_model("fernet_s", num_classes=len(CLASSES), **kwargs).eval()
    mf = ModelFile("fernet_s", kwargs, CLASSES, metrics=METRICS, state_dict=model.state_dict())
    save_model_file(mf, path)
    return path


class FixedBoxDetector:
    """Test-only detector: ``n`` faces side by side in the middle of any image, whatever it shows."""

    name = "fixed"

    def __init__(self, n: int = 1) -> None:
        self.n = n

    def detect(self, image: np.ndarray):
        from ferkit.inference.detectors import Detection

        h, w = image.shape[:2]
        side = min(h * 0.6, w * 0.8 / self.n)
        return [Detection((w * 0.1 + i * side, h * 0.2, side, side), 0.99, None) for i in range(self.n)]


def make_predictor(model_path: Path, faces: int = 1):
    from ferkit.inference.predictor import Predictor

    return Predictor.from_file(model_path, detector=FixedBoxDetector(faces))


def image_bytes(width: int = 160, height: int = 120, ext: str = ".jpg", seed: int = 0) -> bytes:
    """A small synthetic picture (noise and a bright disc), encoded."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    cv2.circle(img, (width // 2, height // 2), min(width, height) // 3, (180, 200, 230), -1)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def wait_ready(client, timeout: float = 10.0) -> None:
    """Poll ``/readyz`` (TestClient or httpx.Client) until the model is loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.02)
    raise TimeoutError("the service did not become ready")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server for an app, on 127.0.0.1 in a background thread (``with LiveServer(app) as url``)."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
