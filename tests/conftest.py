"""Shared fixtures: synthetic faces drawn with OpenCV, the shared YuNet file, a random-weight model file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

YUNET = Path(__file__).resolve().parents[1] / ".." / "shared" / "models" / "face_detection_yunet.onnx"
YUNET_ALT = Path("/work/shared/models/face_detection_yunet.onnx")


def draw_face(img: np.ndarray, cx: int, cy: int, s: int, smile: bool = True) -> np.ndarray:
    """Draw a cartoon face (skin ellipse, eyes, brows, nose, mouth) that YuNet and Haar both detect."""
    cv2.ellipse(img, (cx, cy), (int(s * 0.8), s), 0, 0, 360, (150, 180, 220), -1)
    for dx in (-0.35, 0.35):
        ex, ey = int(cx + dx * s), int(cy - 0.2 * s)
        cv2.ellipse(img, (ex, ey), (int(s * 0.16), int(s * 0.08)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, (ex, ey), int(s * 0.06), (40, 30, 20), -1)
        cv2.line(img, (int(ex - 0.18 * s), int(cy - 0.38 * s)), (int(ex + 0.18 * s), int(cy - 0.4 * s)),
                 (40, 40, 60), max(1, s // 25))  # fmt: skip
    cv2.line(img, (cx, int(cy - 0.1 * s)), (int(cx - 0.08 * s), int(cy + 0.2 * s)), (110, 130, 170), max(1, s // 30))
    a0, a1 = (0, 180) if smile else (180, 360)
    cv2.ellipse(img, (cx, int(cy + 0.45 * s)), (int(s * 0.3), int(s * 0.12)), 0, a0, a1, (60, 60, 160), max(2, s // 15))
    return img


def face_image(faces: tuple[tuple[int, int, int], ...] = ((200, 240, 100),), size=(480, 640)) -> np.ndarray:
    """A BGR image of the given size with cartoon faces at (cx, cy, s)."""
    img = np.full((*size, 3), (90, 110, 100), np.uint8)
    for cx, cy, s in faces:
        draw_face(img, cx, cy, s)
    return cv2.GaussianBlur(img, (5, 5), 0)


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Tests never download: a detector lookup that would fetch YuNet fails as if offline."""
    from ferkit.errors import DetectorError
    from ferkit.inference import yunet_file

    def offline(*args, **kwargs):
        raise DetectorError("downloads are disabled in tests")

    monkeypatch.setattr(yunet_file, "download_yunet", offline)


@pytest.fixture(autouse=True)
def _no_kaggle(monkeypatch):
    """Tests never reach Kaggle: kagglehub's download fails as if offline (tests that need it replace it)."""
    try:
        import kagglehub
    except ImportError:
        return

    def offline(*args, **kwargs):
        raise ConnectionError("Kaggle downloads are disabled in tests")

    monkeypatch.setattr(kagglehub, "dataset_download", offline)


@pytest.fixture(scope="session")
def yunet_path() -> Path:
    for p in (YUNET.resolve(), YUNET_ALT):
        if p.is_file():
            return p
    pytest.skip("YuNet model file not found at ../shared/models/face_detection_yunet.onnx")


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A tiny random-weight fernet_s model file (7 FER-2013 classes + contempt), temperature 1.5."""
    torch = pytest.importorskip("torch")
    from ferkit.engine.checkpoint import ModelFile, save_model_file
    from ferkit.models import build_model
    from ferkit.preprocess import Preprocessing

    torch.manual_seed(0)
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"]
    kwargs = {"widths": [16, 16, 16, 32], "depths": [1, 1, 1, 1]}
    model = build_model("fernet_s", num_classes=len(classes), **kwargs).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so that export bugs show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    mf = ModelFile(
        arch="fernet_s",
        arch_kwargs=kwargs,
        classes=classes,
        preprocessing=Preprocessing(size=48, margin=0.0, align=True),
        temperature=1.5,
        metrics={"test": {"accuracy": 0.5}},
        state_dict=model.state_dict(),
    )
    path = tmp_path_factory.mktemp("model") / "tiny.ferkit"
    save_model_file(mf, path)
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own dataset cache, so no test reads another's (or the user's) cache."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
