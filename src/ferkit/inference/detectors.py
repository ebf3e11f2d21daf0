"""Face detectors behind one interface: an image in, a list of ``Detection`` out.

YuNet (OpenCV Zoo, MIT licence) is the default: fast, accurate, with five landmarks. It runs on ONNX Runtime with
the same decoding as ``cv2.FaceDetectorYN`` (identical boxes, about twice as fast), or on OpenCV's DNN module.
Its model file is found, in order, at an explicit path, at ``$FERKIT_YUNET``, or in the user cache
(``~/.cache/ferkit/face_detection_yunet_2026may.onnx``, downloaded once with a sha256 check; a
``face_detection_yunet_2023mar.onnx`` put there by hand is used too): see ``ferkit.inference.yunet_file``.
OpenCV's Haar cascade ships with OpenCV and needs no download; it is the fallback, always announced with a
``DetectorFallbackWarning``, never silent.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from ferkit.errors import DetectorError
from ferkit.imaging.crop import Detection
from ferkit.inference.yunet_file import find_yunet

DetectorName = Literal["auto", "yunet", "haar"]


class DetectorFallbackWarning(UserWarning):
    """Raised (as a warning) when YuNet is unavailable and the Haar cascade is used instead."""


class Detector(Protocol):
    """Anything with ``detect(image) -> list[Detection]``; ``image`` is (H, W, 3) BGR or (H, W) gray uint8.
    ferkit's detectors return faces left to right."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


# ---- detectors -----------------------------------------------------------------------------------------------


def left_to_right(detections: list[Detection]) -> list[Detection]:
    """Faces in reading order: by the left edge of their box (then the top), so that face 1 is the leftmost."""
    return sorted(detections, key=lambda d: (d.box[0], d.box[1]))


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if image.shape[2] == 4 else image


def _yunet_decode(
    outs: dict[str, np.ndarray], pad_w: int, pad_h: int, score_threshold: float, nms_threshold: float
) -> np.ndarray:
    """YuNet (2023mar) raw outputs -> (N, 15) faces: x, y, w, h, 5 x (x, y) landmarks, score; after NMS.

    The same decoding as OpenCV's ``FaceDetectorYN``: per stride, a grid of anchor-free cells; score =
    sqrt(cls * obj); box centre = (cell + offset) * stride, size = exp(log-size) * stride.
    """
    rows = []
    for s in (8, 16, 32):
        cols = pad_w // s
        score = np.sqrt(np.clip(outs[f"cls_{s}"].reshape(-1), 0, 1) * np.clip(outs[f"obj_{s}"].reshape(-1), 0, 1))
        idx = np.nonzero(score >= score_threshold)[0]
        if len(idx) == 0:
            continue
        r, c = (idx // cols).astype(np.float32), (idx % cols).astype(np.float32)
        b = outs[f"bbox_{s}"].reshape(-1, 4)[idx]
        k = outs[f"kps_{s}"].reshape(-1, 10)[idx]
        w, h = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
        x, y = (c + b[:, 0]) * s - w / 2, (r + b[:, 1]) * s - h / 2
        kx, ky = (k[:, 0::2] + c[:, None]) * s, (k[:, 1::2] + r[:, None]) * s  # (n, 5) each
        lm = np.stack([kx, ky], axis=2).reshape(-1, 10)
        rows.append(np.column_stack([x, y, w, h, lm, score[idx]]))
    if not rows:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(rows).astype(np.float32)
    keep = cv2.dnn.NMSBoxes(faces[:, :4].tolist(), faces[:, 14].tolist(), score_threshold, nms_threshold, top_k=5000)
    return faces[np.asarray(keep, dtype=np.int64).reshape(-1)]


CLOSE_UP = 0.5  # of the score threshold (0.6: 0.3); see ``YuNetDetector(close_up=...)``, notes/inference.md
CLOSE_UP_AREA = 0.25  # of the image


def pick_faces(faces: np.ndarray, w: int, h: int, threshold: float, close_up: float | None) -> np.ndarray:
    """The rows of (N, 15) YuNet faces (score last) that count as faces in a (w, h) image: those scoring at least
    ``threshold``; when there are none, the best one scoring at least ``close_up`` whose box covers at least
    ``CLOSE_UP_AREA`` of the image, if any."""
    sure = faces[faces[:, 14] >= threshold]
    if len(sure) or close_up is None:
        return sure
    big = faces[(faces[:, 14] >= close_up) & (faces[:, 2] * faces[:, 3] >= CLOSE_UP_AREA * w * h)]
    return big[np.argsort(-big[:, 14])[:1]]


class YuNetDetector:
    """YuNet, run by ONNX Runtime (default: about twice as fast as OpenCV's DNN module on one core here) or by
    ``cv2.FaceDetectorYN``. Safe to share between threads.

    Args:
        model_path: the ONNX file (see ``find_yunet``).
        score_threshold: minimum confidence of a face.
        min_face: minimum face box side in pixels of the original image.
        max_side: images whose longer side exceeds this are shrunk before detection (boxes are scaled back);
            detection cost grows with pixels. 0 disables it.
        nms_threshold: IoU above which overlapping boxes are merged.
        engine: ``onnxruntime``, ``opencv``, or ``auto``: ONNX Runtime when the file has a dynamic input size
            (the 2026may release), else OpenCV (the 2023mar release has a fixed 640x640 input).
        threads: ONNX Runtime intra-op threads (1: lowest latency when other work shares the CPU).
        close_up: when no face clears ``score_threshold``, the best detection scoring at least ``close_up`` times
            it whose box covers at least ``CLOSE_UP_AREA`` of the image is taken: a close-up or a ready-made face
            crop, which YuNet scores lower (a tight crop lacks the context it learned). From the same network
            pass. None: off.
    """

    name = "yunet"

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.6,
        min_face: float = 20.0,
        max_side: int = 640,
        nms_threshold: float = 0.3,
        engine: Literal["auto", "onnxruntime", "opencv"] = "auto",
        threads: int = 1,
        close_up: float | None = CLOSE_UP,
    ) -> None:
        self.model_path = str(model_path)
        self.score_threshold = score_threshold
        if close_up is not None and not 0 <= close_up < 1:
            raise ValueError(f"close_up must be a fraction of the score threshold in [0, 1), got {close_up!r}")
        self.close_up = close_up * score_threshold if close_up else None
        self._floor = self.close_up if self.close_up is not None else score_threshold  # what the network pass keeps
        self.nms_threshold = nms_threshold
        self.min_face = min_face
        self.max_side = max_side
        self._lock = threading.Lock()  # the OpenCV object keeps per-call state: one detection at a time
        try:
            if engine in ("auto", "onnxruntime"):
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                self._session = ort.InferenceSession(self.model_path, opts, providers=["CPUExecutionProvider"])
                self._outputs = [o.name for o in self._session.get_outputs()]
                dynamic = not all(isinstance(d, int) for d in self._session.get_inputs()[0].shape[2:])
                if engine == "onnxruntime" and not dynamic:
                    raise DetectorError(f"{model_path}: fixed input size; use engine='opencv' (or the 2026may file)")
                engine = "onnxruntime" if dynamic else "opencv"
            if engine == "opencv":
                self._net = cv2.FaceDetectorYN.create(self.model_path, "", (320, 320), self._floor, nms_threshold)
                self._size = (320, 320)
            elif engine != "onnxruntime":
                raise DetectorError(f"unknown YuNet engine {engine!r}; known: auto, onnxruntime, opencv")
            self.engine = engine
        except (cv2.error, RuntimeError, ValueError) as e:
            raise DetectorError(f"{model_path}: cannot load it as a YuNet model ({type(e).__name__}: {e})") from None
        except Exception as e:  # onnxruntime's own exception types
            if type(e).__module__.startswith("onnxruntime"):
                raise DetectorError(f"{model_path}: cannot load it as a YuNet model ({e})") from None
            raise

    def _raw(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) BGR uint8 -> (N, 15) faces in its pixels."""
        h, w = img.shape[:2]
        if self.engine == "opencv":
            with self._lock:
                if (w, h) != self._size:
                    self._net.setInputSize((w, h))
                    self._size = (w, h)
                _, faces = self._net.detect(img)
            return faces if faces is not None else np.zeros((0, 15), np.float32)
        pad_w, pad_h = -(-w // 32) * 32, -(-h // 32) * 32  # the network wants multiples of 32: zero-pad
        x = np.zeros((1, 3, pad_h, pad_w), np.float32)  # (1, 3, H', W') BGR, raw 0..255
        for c, plane in enumerate(cv2.split(img)):  # plane by plane: half the cost of one transposing copy
            x[0, c, :h, :w] = plane
        outs = dict(zip(self._outputs, self._session.run(self._outputs, {"input": x}), strict=True))
        return _yunet_decode(outs, pad_w, pad_h, self._floor, self.nms_threshold)

    def detect(self, image: np.ndarray) -> list[Detection]:
        img = _bgr(image)
        h, w = img.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        out = []
        for f in pick_faces(self._raw(img), img.shape[1], img.shape[0], self.score_threshold, self.close_up):
            box = tuple(float(v) / scale for v in f[:4])
            if min(box[2], box[3]) < self.min_face:
                continue
            lm = (f[4:14].reshape(5, 2) / scale).astype(np.float32)
            out.append(Detection(box, float(f[14]), lm))  # type: ignore[arg-type]
        return left_to_right(out)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: no download, no landmarks, weaker on tilted or small faces.

    Args:
        score_threshold: unused by the cascade (kept for a uniform interface); ``min_neighbors`` plays that role.
        min_face: minimum face box side in pixels.
        min_neighbors: how many overlapping candidates a face needs (higher: fewer false faces).
        max_side: images whose longer side exceeds this are shrunk before detection. 0 disables it.
    """

    name = "haar"

    def __init__(
        self, score_threshold: float = 0.0, min_face: float = 20.0, min_neighbors: int = 5, max_side: int = 640
    ) -> None:
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise DetectorError(f"{path}: cannot load OpenCV's Haar cascade")
        self.min_face = min_face
        self.min_neighbors = min_neighbors
        self.max_side = max_side
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(_bgr(image), cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        h, w = gray.shape
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        min_size = max(1, int(self.min_face * scale))
        with self._lock:
            boxes = self._cascade.detectMultiScale(
                gray, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(min_size, min_size)
            )
        return left_to_right([Detection(tuple(float(v) / scale for v in b), 1.0, None) for b in boxes])  # type: ignore[misc]


class LazyDetector:
    """A detector built on its first use: what ``make_detector`` returns when YuNet would have to be downloaded,
    so that building a predictor never waits on the network (``classify`` alone never needs a detector).
    Thread-safe: the first caller builds it, the others wait for that.

    Args:
        build: makes the real detector.
        wanted: what is asked for, for ``name`` until it is built.
    """

    def __init__(self, build: Callable[[], Detector], wanted: str) -> None:
        self._build = build
        self._wanted = wanted
        self._built: Detector | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._built.name if self._built is not None else f"{self._wanted} (loaded on first use)"

    def build(self) -> Detector:
        """The real detector (downloading YuNet now if it is not in the cache)."""
        with self._lock:
            if self._built is None:
                self._built = self._build()
        return self._built

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.build().detect(image)


def built(detector: Detector) -> Detector:
    """The detector itself, a ``LazyDetector`` built now (its download and fallback notices happen here)."""
    return detector.build() if isinstance(detector, LazyDetector) else detector


def make_detector(
    name: DetectorName = "auto",
    model_path: str | Path | None = None,
    score_threshold: float = 0.6,
    min_face: float = 20.0,
    download: bool = True,
    max_side: int = 640,
    lazy: bool = True,
    close_up: float | None = CLOSE_UP,
) -> Detector:
    """Build a detector by name.

    Args:
        name: ``yunet`` (fails if its file cannot be found), ``haar``, or ``auto``: YuNet if its file can be
            found (or downloaded, when ``download``), else Haar with a ``DetectorFallbackWarning``.
        model_path: explicit YuNet file.
        score_threshold: minimum face confidence (YuNet).
        min_face: minimum face side in pixels.
        download: let ``auto`` and ``yunet`` download YuNet into the user cache when it is not there.
        max_side: detect on a copy shrunk to this longer side (faster; boxes come back in original pixels).
        lazy: when YuNet would have to be downloaded, return a ``LazyDetector`` that does it on first use
            (with a short timeout, a failure remembered for an hour) instead of now.
        close_up: YuNet's close-up rule, a fraction of ``score_threshold`` (``YuNetDetector``); None or 0: off.

    Raises:
        DetectorError: ``yunet`` asked for and unavailable; an unknown name.
    """
    if lazy and download and name in ("auto", "yunet") and model_path is None and not _local_yunet():
        build = partial(make_detector, name, None, score_threshold, min_face, True, max_side, False, close_up)
        return LazyDetector(build, name)
    if name == "haar":
        return HaarDetector(min_face=min_face, max_side=max_side)
    if name not in ("auto", "yunet"):
        raise DetectorError(f"unknown detector {name!r}; known: auto, yunet, haar")
    try:
        path = find_yunet(model_path, download=download)
        return YuNetDetector(path, score_threshold, min_face, max_side, close_up=close_up or None)
    except DetectorError as e:
        if name == "yunet":
            raise
        warnings.warn(
            f"YuNet face detector unavailable ({e}); falling back to OpenCV's Haar cascade, which misses more "
            "faces and has no landmarks for alignment",
            DetectorFallbackWarning,
            stacklevel=2,
        )
        return HaarDetector(min_face=min_face, max_side=max_side)


def _local_yunet() -> bool:
    """Whether a YuNet file is at hand without downloading (``$FERKIT_YUNET`` set counts: its error is immediate)."""
    if os.environ.get("FERKIT_YUNET"):
        return True
    try:
        find_yunet(None, download=False)
    except DetectorError:
        return False
    return True
