"""The Predictor: an image in, a ``Face`` per detected face out (box, probabilities over the model's classes).

Example:
    >>> import ferkit
    >>> p = ferkit.Predictor.from_pretrained()
    >>> for face in p.predict("photo.jpg"):
    ...     print(face.label, round(face.score, 2), face.box)

Every face of an image is classified in one batch. Probabilities are ``softmax(logits / temperature)`` with the
temperature stored in the model file (calibration). An image where the detector finds no face can still be one face
crop (a folder of ready-made crops): ``whole_image`` says which such images are classified whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from ferkit import shipped
from ferkit.heads import Prior, prior_weights
from ferkit.imaging import MAX_PIXELS, PHOTO_SIDE, Color, ImageInput, crop_faces, load_image, to_face, whole_image
from ferkit.inference.backends import Backend, BackendName, ModelInfo, load_backend, select_head
from ferkit.inference.detectors import CLOSE_UP, Detection, Detector, DetectorName, make_detector
from ferkit.preprocess import TTA, mean_softmax_logits, softmax, to_input, tta_views

PRETRAINED = shipped.DEFAULT  # the default shipped model's name
# which images where no face is found are classified whole, as one face crop: small ones (at most PHOTO_SIDE pixels
# a side, what class folders take as crops), every one (a folder of face crops), or none
WholeImage = Literal["small", "always", "never"]
MIN_WHOLE_SIDE = 16  # pixels: a smaller image is never a face crop (training's smallest faces are 16 px)
FLAT_STD = 2.0  # grey levels: an image whose standard deviation is below this is blank, never a face crop


@dataclass(frozen=True)
class Face:
    """One classified face.

    Attributes:
        box: (x, y, w, h) in pixels of the input image.
        probs: probability per class name, in the model's class order.
        label: the most probable class.
        score: its probability.
        landmarks: five (x, y) points (eyes, nose, mouth corners) or None.
        detection_score: the detector's confidence; 0.0 when no face was found and the whole image was classified
            as one face crop (``whole``; then ``box`` covers the image).
    """

    box: tuple[float, float, float, float]
    probs: dict[str, float]
    label: str
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None
    detection_score: float = 1.0

    @property
    def whole(self) -> bool:
        """No detector found this face: the whole image was classified as one face crop."""
        return self.detection_score == 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, coordinates rounded to 0.1 px and probabilities to 1e-4."""
        return {
            "box": [round(v, 1) for v in self.box],
            "label": self.label,
            "score": round(self.score, 4),
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks] if self.landmarks else None,
            "detection_score": round(self.detection_score, 4),
        }


class Predictor:
    """Face detection, cropping and classification in one object.

    Args:
        backend: the classifier backend.
        info: the model's classes, preprocessing and temperature.
        detector: a face detector, or None to build the default (``make_detector("auto")``) on first use.
        max_pixels: refuse larger input images.
        tta: test-time augmentation (see ``from_file``).
        head: which head of a multi-head model answers (None: its default head, the first).
        whole_image: which images where no face is found are classified whole, as one face crop (see
            ``from_file``).
        prior: the class mix of the faces it will see (see ``from_file``); None: the mix the model was
            calibrated for.
    """

    def __init__(
        self,
        backend: Backend,
        info: ModelInfo,
        detector: Detector | None = None,
        max_pixels: int = MAX_PIXELS,
        tta: TTA = "none",
        head: str | None = None,
        whole_image: WholeImage = "small",
        prior: Prior | None = None,
    ) -> None:
        if tta not in get_args(TTA):
            raise ValueError(f"tta must be one of {', '.join(get_args(TTA))}, got {tta!r}")
        if whole_image not in get_args(WholeImage):
            raise ValueError(f"whole_image must be one of {', '.join(get_args(WholeImage))}, got {whole_image!r}")
        self.whole_image = whole_image
        self.heads = info.heads  # every head of the model; ``info`` and ``backend`` below see the chosen one
        self.backend, self.info = select_head(backend, info, head)
        self.head = self.info.heads[0].name
        self.prior = prior
        self._prior_weights = None if prior is None else np.array(prior_weights(self.info.heads[0], prior), np.float32)
        self._detector = detector
        self.max_pixels = max_pixels
        self.tta = tta

    # ---- construction ----------------------------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        backend: BackendName = "auto",
        detector: Detector | DetectorName = "auto",
        threads: int | None = None,
        yunet: str | Path | None = None,
        score_threshold: float = 0.6,
        min_face: float = 20.0,
        max_pixels: int = MAX_PIXELS,
        det_size: int = 640,
        tta: TTA = "none",
        head: str | None = None,
        whole_image: WholeImage = "small",
        prior: Prior | None = None,
        close_up: float | None = CLOSE_UP,
    ) -> Predictor:
        """A predictor from a ferkit model file (``.ferkit``) or an exported ``.onnx`` file.

        Args:
            path: the model.
            backend: ``torch``, ``onnx``, or ``auto`` (the file's own kind).
            detector: a detector object, or ``auto`` / ``yunet`` / ``haar`` (see ``make_detector``).
            threads: classifier threads; None: the backend's default.
            yunet: explicit YuNet model file.
            score_threshold: minimum face confidence.
            close_up: when no face clears ``score_threshold``, a face covering a quarter of the image or more is
                taken from this fraction of it (a close-up or a ready-made crop; ``YuNetDetector``); 0 or None: off.
            min_face: minimum face side in pixels.
            max_pixels: refuse larger input images.
            det_size: the detector sees the image shrunk to this longer side; smaller is faster (detection
                cost grows with pixels) but misses more small faces.
            tta: test-time augmentation: ``none``, ``flip`` (each face and its mirror image, twice the classifier
                cost) or ``tencrop`` (ten crops, ten times); the probabilities are the views' mean.
            head: the head of a multi-head model that answers (its labelling convention, e.g. ``fer2013`` or
                ``ferplus``); None: the model's default head.
            whole_image: an image where the detector finds no face is classified whole, as one face crop (a
                ``Face`` with ``detection_score`` 0.0 and a box covering the image), when it is ``small`` (the
                default: at most ``PHOTO_SIDE`` = 96 pixels wide and tall, the size class folders take as face crops),
                ``always`` (every image is a face crop: a folder of ready-made crops), or ``never``. Where a face is
                found, its detected crop is used either way. A blank image (one grey level), or one under 16 px a
                side, is never a face.
            prior: the class mix of the faces it will see, when it differs from the mix the model's calibrated
                probabilities assume (``Head.prior``, in the model card): ``"balanced"`` (every class equally
                likely: rare classes are called far more often, at lower precision) or shares by class name, e.g.
                ``{"contempt": 0.05}`` (the classes not named keep their shares). The probabilities are re-weighted
                by the ratio of the two mixes and renormalised (Saerens et al. 2002). None: as calibrated.

        Raises:
            ValueError: a bad ``tta``, ``whole_image`` or ``prior`` (an unknown class, a share that is not
                positive), or a prior for a model file that records none.
        """
        b, info = load_backend(path, backend, threads)
        if isinstance(detector, str):
            detector = make_detector(detector, yunet, score_threshold, min_face, max_side=det_size, close_up=close_up)
        return cls(b, info, detector, max_pixels, tta, head, whole_image, prior)

    @classmethod
    def from_pretrained(cls, name: str | None = None, backend: BackendName = "auto", **kwargs: Any) -> Predictor:
        """A model shipped in the package, by name (``ferkit.shipped.shipped_models()``; None: the default model).

        It runs on ONNX Runtime when that is installed (its ``.onnx`` file: 2-3x faster per face than torch, and far
        less slowed by a busy machine), else, or with ``backend="torch"``, on torch (its ``.ferkit`` file). Other
        arguments as in ``from_file``.

        Raises:
            ModelFileError: no shipped model has that name, or it lacks a file for the backend.
        """
        path = pretrained_path(backend, name)
        return cls.from_file(path, backend="onnx" if path.suffix == ".onnx" else backend, **kwargs)

    def __repr__(self) -> str:
        det = self._detector.name if self._detector is not None else "auto (not built yet)"
        return (
            f"Predictor(backend={self.backend.name}, arch={self.info.arch or '?'}, head={self.head}, "
            f"classes={list(self.classes)}, "
            f"detector={det}{'' if self.tta == 'none' else f', tta={self.tta}'}"
            f"{'' if self.prior is None else f', prior={self.prior!r}'})"
        )

    # ---- properties ------------------------------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = make_detector("auto")
        return self._detector

    # ---- work ------------------------------------------------------------------------------------------------

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities for already-cropped gray faces.

        Args:
            faces: (N, H, W) or one (H, W) uint8 face; resized to the model's input size if needed.

        Returns:
            (N, C) float32 probabilities in the order of ``classes`` ((1, C) for a single face).
        """
        faces = np.asarray(faces)
        if faces.ndim == 2:
            faces = faces[None]
        if faces.ndim != 3:
            raise ValueError(f"faces must be (N, H, W) or (H, W) gray, got shape {faces.shape}")
        if faces.dtype != np.uint8:
            raise ValueError(f"faces must be uint8, got {faces.dtype}")
        s = self.info.preprocessing.size
        if faces.shape[1:] != (s, s):
            faces = np.stack([to_face(f, s) for f in faces]) if len(faces) else np.zeros((0, s, s), np.uint8)
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        views = tta_views(faces, self.tta, self.info.preprocessing.zoom)  # the model file's view, then TTA's
        x = to_input(views[0] if len(views) == 1 else np.ascontiguousarray(np.concatenate(views)))
        logits = self.backend.logits(x)  # one batch for all views: (V * N, 1, s, s) -> (V * N, C)
        probs = softmax(mean_softmax_logits(np.split(logits, len(views))), self.info.temperature)
        if self._prior_weights is not None:  # another class mix than the calibrated one
            probs = probs * self._prior_weights
            probs /= probs.sum(1, keepdims=True)
        return probs

    def detect(self, image: ImageInput, color: Color = "bgr") -> list[Detection]:
        """Faces found in an image (no classification)."""
        return self.detector.detect(load_image(image, color, self.max_pixels))

    def predict_array(self, bgr: np.ndarray) -> list[Face]:
        """``predict`` for an image already in (H, W, 3) BGR uint8 (video frames skip the input checks)."""
        return self.predict_arrays([bgr])[0]

    def predict_arrays(self, images: list[np.ndarray]) -> list[list[Face]]:
        """``predict`` for several BGR uint8 images, with every face of every image classified in one batch."""
        dets = [self.detector.detect(im) or self._no_face(im) for im in images]
        crops = [crop_faces(im, d, self.info.preprocessing) for im, d in zip(images, dets, strict=True)]
        n = sum(len(d) for d in dets)
        if n == 0:
            return [[] for _ in images]
        probs = self.classify(np.concatenate(crops))  # (N faces, C), one batch
        out, i = [], 0
        for d in dets:
            out.append([self._face(det, p) for det, p in zip(d, probs[i : i + len(d)], strict=True)])
            i += len(d)
        return out

    def predict(self, image: ImageInput, color: Color = "bgr") -> list[Face]:
        """Detect and classify every face of an image.

        Args:
            image: a path, encoded bytes, an array (gray, BGR/RGB, with alpha, uint8 or 16-bit), or a PIL image.
            color: channel order of an array, ``bgr`` (default) or ``rgb``.

        Returns:
            One ``Face`` per detected face, left to right (ferkit's detectors' order); when none is found, the whole
            image as one face if ``whole_image`` takes it, else empty.

        Raises:
            ImageError: unreadable input, naming the file.
        """
        return self.predict_array(load_image(image, color, self.max_pixels))

    def _no_face(self, image: np.ndarray) -> list[Detection]:
        """What an image where the detector found nothing gives: the whole image as one face crop, or nothing."""
        small = max(image.shape[:2]) <= PHOTO_SIDE
        take = self.whole_image == "always" or (self.whole_image == "small" and small)
        if not take or min(image.shape[:2]) < MIN_WHOLE_SIDE:
            return []
        whole = whole_image(image)
        blank = float(crop_faces(image, [whole], self.info.preprocessing).std()) < FLAT_STD  # one grey level
        return [] if blank else [whole]

    def _face(self, d: Detection, p: np.ndarray) -> Face:
        i = int(p.argmax())
        lm = tuple((float(x), float(y)) for x, y in d.landmarks) if d.landmarks is not None else None
        return Face(
            box=tuple(float(v) for v in d.box),  # type: ignore[arg-type]
            probs={c: float(v) for c, v in zip(self.classes, p, strict=True)},
            label=self.classes[i],
            score=float(p[i]),
            landmarks=lm,
            detection_score=float(d.score),
        )


def pretrained_path(backend: BackendName = "auto", name: str | None = None) -> Path:
    """The file of a shipped model (None: the default) for a backend; see ``ferkit.shipped.model_path``.

    Raises:
        ModelFileError: no shipped model has that name, or it lacks a file for the backend.
    """
    return shipped.model_path(name, backend)
