"""The one face-crop path, shared by inference and by datasets of whole photos (e.g. JAFFE).

A detection becomes a model input in three steps: (1) a square of side ``max(w, h) * (1 + margin)`` centred on
the box, rotated so that the eyes are level when the detector gave landmarks and ``align`` is on; (2) gray;
(3) resized to ``size`` with ``to_face`` (area interpolation when shrinking), exactly as the
dataset adapters resize their faces. Pixels outside the image repeat the border.

An image no wider or taller than ``PHOTO_SIDE`` pixels is small enough to be a face crop already: class folders
take it as one, and the predictor classifies it whole when its detector finds no face in it (a ``whole``
detection, cropped as it is: no margin, no turn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ferkit.preprocess import Preprocessing

PHOTO_SIDE = 96  # pixels: a larger image is a photo to find faces in; a smaller one may be a face crop already


@dataclass(frozen=True)
class Detection:
    """One detected face.

    Attributes:
        box: (x, y, w, h) in image pixels, floats; may extend past the image border.
        score: detector confidence in [0, 1] (Haar reports 1.0).
        landmarks: (5, 2) float32 pixel coordinates, the subject's right eye, left eye, nose tip, right and
            left mouth corners (the subject's right eye is on the image's left), or None when the detector has none.
        whole: no detector found it: the whole image is taken as a face crop (``box`` covers the image, ``score``
            is 0.0), and it is cropped as it is.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None
    whole: bool = False


def whole_image(image: np.ndarray) -> Detection:
    """The whole image as one face crop (``Detection.whole``)."""
    h, w = image.shape[:2]
    return Detection((0.0, 0.0, float(w), float(h)), 0.0, None, whole=True)


def to_face(img: np.ndarray, size: int = 48) -> np.ndarray:
    """A gray image resized to (size, size) uint8, with area interpolation when shrinking."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.shape != (size, size):
        interp = cv2.INTER_AREA if min(img.shape[:2]) >= size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
    return np.ascontiguousarray(img, dtype=np.uint8)


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle in degrees of the line from the image-left eye to the image-right eye (0 when level)."""
    (x0, y0), (x1, y1) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def crop_square(image: np.ndarray, detection: Detection, margin: float, align: bool) -> np.ndarray:
    """The square face region of the image, at its native resolution, gray: (side, side) uint8.

    Gray conversion always comes first and the result does not depend on whether ``image`` was gray or colour:
    a gray photo decoded as gray (a dataset adapter) or as BGR (the predictor) crops to the same pixels.
    A ``whole`` detection is the whole image, gray, as it is (``to_face`` then resizes it, as class folders do).
    """
    if detection.whole:
        return _gray(image)
    x, y, w, h = detection.box
    cx, cy = x + w / 2, y + h / 2
    side = max(1, round(max(w, h) * (1.0 + margin)))
    angle = eye_angle(detection.landmarks) if (align and detection.landmarks is not None) else 0.0
    H, W = image.shape[:2]
    if abs(angle) < 0.5:  # close enough to level: an integer-aligned square
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        if x0 >= 0 and y0 >= 0 and x0 + side <= W and y0 + side <= H:
            return _gray(image[y0 : y0 + side, x0 : x0 + side])
        angle, cx, cy = 0.0, x0 + side / 2, y0 + side / 2  # past the border: an exact integer shift below
    # Only the part of the image that the rotated square can touch is converted to gray and warped.
    r = int(side * 0.71) + 2  # half the square's diagonal, plus the interpolation neighbourhood
    rx0, ry0 = max(int(cx) - r, 0), max(int(cy) - r, 0)
    rx1, ry1 = min(int(cx) + r + 1, W), min(int(cy) + r + 1, H)
    if rx1 <= rx0 or ry1 <= ry0:  # the square lies wholly outside the image: repeat its nearest pixel
        rx0, ry0 = min(max(int(cx), 0), W - 1), min(max(int(cy), 0), H - 1)
        rx1, ry1 = rx0 + 1, ry0 + 1
    region = _gray(image[ry0:ry1, rx0:rx1])
    # Rotate about the box centre by the eye angle, and move the centre to the middle of the side x side output.
    m = cv2.getRotationMatrix2D((cx - rx0, cy - ry0), angle, 1.0)  # (2, 3), region coordinates
    m[0, 2] += side / 2 - (cx - rx0)
    m[1, 2] += side / 2 - (cy - ry0)
    return cv2.warpAffine(region, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_face(image: np.ndarray, detection: Detection, preprocessing: Preprocessing) -> np.ndarray:
    """Crop one detected face into model input.

    Args:
        image: (H, W, 3) BGR, (H, W, 4) BGRA or (H, W) gray uint8.
        detection: the face's box and optional landmarks.
        preprocessing: size, margin and align, as stored in the model file.

    Returns:
        (size, size) uint8 gray face.
    """
    square = crop_square(image, detection, preprocessing.margin, preprocessing.align)
    return to_face(square, preprocessing.size)


def crop_faces(image: np.ndarray, detections: list[Detection], preprocessing: Preprocessing) -> np.ndarray:
    """All faces of one image: (N, size, size) uint8 (N may be 0)."""
    s = preprocessing.size
    if not detections:
        return np.zeros((0, s, s), np.uint8)
    return np.stack([crop_face(image, d, preprocessing) for d in detections])
