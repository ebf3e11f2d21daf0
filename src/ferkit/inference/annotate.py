"""Drawing predictions on images: a box and label per face, and a small bar chart of its probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ferkit.inference.predictor import Face

# BGR colour per class; unknown classes get gray.
COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 60),
    "fear": (150, 60, 150),
    "happy": (30, 200, 240),
    "sad": (200, 110, 40),
    "surprise": (0, 140, 255),
    "neutral": (170, 170, 170),
    "contempt": (120, 90, 60),
    "confused": (200, 200, 60),
}


def color_of(label: str) -> tuple[int, int, int]:
    return COLORS.get(label, (160, 160, 160))


def _text(img: np.ndarray, s: str, org: tuple[int, int], scale: float, color=(255, 255, 255), th: int = 1) -> None:
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, th, cv2.LINE_AA)


def draw_bars(img: np.ndarray, face: Face, x: int, y: int, scale: float) -> None:
    """A panel of horizontal probability bars, one per class, with its top-left corner at (x, y)."""
    row = max(10, int(16 * scale))
    label_w, bar_w, pct_w = int(70 * scale), int(90 * scale), int(40 * scale)
    n = len(face.probs)
    H, W = img.shape[:2]
    x = min(max(x, 0), max(W - label_w - bar_w - pct_w - 4, 0))
    y = min(max(y, 0), max(H - row * n - 4, 0))
    overlay = img.copy()
    cv2.rectangle(overlay, (x, y), (x + label_w + bar_w + pct_w + 4, y + row * n + 4), (0, 0, 0), -1)
    cv2.addWeighted(overlay, 0.55, img, 0.45, 0, dst=img)
    for i, (name, p) in enumerate(face.probs.items()):
        top = y + 2 + i * row
        _text(img, name, (x + 3, top + row - 4), 0.4 * scale, th=1)
        cv2.rectangle(img, (x + label_w, top + 2), (x + label_w + int(bar_w * p), top + row - 2), color_of(name), -1)
        _text(img, f"{p:.0%}", (x + label_w + bar_w + 3, top + row - 4), 0.4 * scale, th=1)


def annotate(image: np.ndarray, faces: Sequence[Face], bars: bool = True, track_ids: Sequence[int] | None = None):
    """A copy of a BGR image with each face's box, label and probability bars drawn on it.

    Small images are enlarged first so that the text stays readable; the returned image may therefore be larger
    than the input (by an integer factor).

    Args:
        image: (H, W, 3) BGR uint8.
        faces: predictions for this image.
        bars: draw the probability panel beside each face.
        track_ids: a number to show per face (video tracks).
    """
    k = max(1, int(np.ceil(480 / max(image.shape[:2]))))
    out = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR) if k > 1 else image.copy()
    scale = max(0.6, min(out.shape[:2]) / 640)
    th = max(1, int(round(2 * scale)))
    for i, f in enumerate(faces):
        x, y, w, h = (int(round(v * k)) for v in f.box)
        c = color_of(f.label)
        cv2.rectangle(out, (x, y), (x + w, y + h), c, th, cv2.LINE_AA)
        tag = f"{f.label} {f.score:.0%}" if track_ids is None else f"#{track_ids[i]} {f.label} {f.score:.0%}"
        (tw, tht), _ = cv2.getTextSize(tag, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, th)
        ty = max(y - 6, tht + 6)
        cv2.rectangle(out, (x - th // 2, ty - tht - 5), (x + tw + 6, ty + 4), c, -1)
        _text(out, tag, (x + 3, ty), 0.6 * scale, (255, 255, 255), th)
        if f.landmarks:
            for px, py in f.landmarks:
                cv2.circle(out, (int(px * k), int(py * k)), th + 1, (0, 255, 0), -1, cv2.LINE_AA)
        if bars:  # below the box, else right of it, else left of it, else wherever it fits
            panel_w, panel_h = int(200 * scale) + 4, max(10, int(16 * scale)) * len(f.probs) + 4
            H, W = out.shape[:2]
            if y + h + 6 + panel_h <= H:
                px, py = x, y + h + 6
            elif x + w + 6 + panel_w <= W or x - 6 - panel_w < 0:
                px, py = x + w + 6, y
            else:
                px, py = x - 6 - panel_w, y
            draw_bars(out, f, px, py, scale)
    return out
