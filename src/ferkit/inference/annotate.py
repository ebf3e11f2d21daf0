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


def draw_bars(img: np.ndarray, face: Face, x: int, y: int, scale: float, top: int | None = None) -> None:
    """A panel of horizontal probability bars, one per class (or the ``top`` most probable, in order), with its
    top-left corner at (x, y)."""
    row = max(10, int(16 * scale))
    label_w, bar_w, pct_w = int(70 * scale), int(90 * scale), int(40 * scale)
    items = list(face.probs.items())
    if top is not None:
        items = sorted(items, key=lambda kv: -kv[1])[:top]
    n = len(items)
    H, W = img.shape[:2]
    x = min(max(x, 0), max(W - label_w - bar_w - pct_w - 4, 0))
    y = min(max(y, 0), max(H - row * n - 4, 0))
    overlay = img.copy()
    cv2.rectangle(overlay, (x, y), (x + label_w + bar_w + pct_w + 4, y + row * n + 4), (0, 0, 0), -1)
    cv2.addWeighted(overlay, 0.55, img, 0.45, 0, dst=img)
    for i, (name, p) in enumerate(items):
        top = y + 2 + i * row
        _text(img, name, (x + 3, top + row - 4), 0.4 * scale, th=1)
        cv2.rectangle(img, (x + label_w, top + 2), (x + label_w + int(bar_w * p), top + row - 2), color_of(name), -1)
        _text(img, f"{p:.0%}", (x + label_w + bar_w + 3, top + row - 4), 0.4 * scale, th=1)


def _sidebar(out: np.ndarray, faces: Sequence[Face], names: Sequence[str], scale: float, th: int) -> np.ndarray:
    """The image with a dark column on its right listing each face's label and probability bars."""
    row = max(10, int(16 * scale))
    width = int(200 * scale) + 8
    H = out.shape[0]
    side = np.full((H, width, 3), 30, np.uint8)
    y = 4
    fits = sum(row * (len(f.probs) + 1) + 8 for f in faces) + 4 <= H
    top = None if fits else 3  # many faces: the three most probable classes of each
    for i, f in enumerate(faces):
        block = row * ((len(f.probs) if top is None else min(top, len(f.probs))) + 1) + 8
        if y + block > H:
            _text(side, f"+{len(faces) - i} more", (6, min(y + row, H - 4)), 0.5 * scale, th=1)
            break
        _text(side, f"{names[i]} {f.label} {f.score:.0%}", (6, y + row - 3), 0.5 * scale, color_of(f.label), th)
        draw_bars(side, f, 2, y + row + 2, scale, top)
        y += block
    return np.hstack([out, side])


def annotate(
    image: np.ndarray,
    faces: Sequence[Face],
    bars: bool = True,
    track_ids: Sequence[int] | None = None,
    sidebar: bool = False,
) -> np.ndarray:
    """A copy of a BGR image with each face's box, label and probability bars drawn on it.

    By default the copy has the input's size: the bars are drawn beside each box (the three most probable classes
    when there are several faces, so that panels cover less). ``sidebar`` puts them in a column right of the image
    instead, never over a face, enlarging a small image first so that the text stays readable: that copy is larger.

    Args:
        image: (H, W, 3) BGR uint8.
        faces: predictions for this image.
        bars: draw probability bars for each face.
        track_ids: a number to show per face (video tracks); else faces are numbered from 1 when there are several.
        sidebar: the bars in a column right of the image (``ferkit predict --panel``; video always, so that every
            frame has one size).
    """
    k = max(1, int(np.ceil(480 / max(image.shape[:2])))) if sidebar else 1
    out = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR) if k > 1 else image.copy()
    scale = max(0.6 if sidebar else 0.3, min(out.shape[:2]) / 640)
    th = max(1, int(round(2 * scale)))
    if track_ids is not None:
        names = [f"#{t}" for t in track_ids]
    else:
        names = [f"#{i + 1}" for i in range(len(faces))] if len(faces) > 1 else [""]
    top = None if len(faces) <= 1 else 3
    for i, f in enumerate(faces):
        x, y, w, h = (int(round(v * k)) for v in f.box)
        c = color_of(f.label)
        cv2.rectangle(out, (x, y), (x + w, y + h), c, th, cv2.LINE_AA)
        tag = f"{names[i]} {f.label} {f.score:.0%}".strip()
        (tw, tht), _ = cv2.getTextSize(tag, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, th)
        ty = max(y - 6, tht + 6)
        cv2.rectangle(out, (x - th // 2, ty - tht - 5), (x + tw + 6, ty + 4), c, -1)
        _text(out, tag, (x + 3, ty), 0.6 * scale, (255, 255, 255), th)
        if f.landmarks:
            for px, py in f.landmarks:
                cv2.circle(out, (int(px * k), int(py * k)), th + 1, (0, 255, 0), -1, cv2.LINE_AA)
        if bars and not sidebar:  # below the box, else right of it, else left of it, else wherever it fits
            rows = len(f.probs) if top is None else min(top, len(f.probs))
            panel_w, panel_h = int(200 * scale) + 4, max(10, int(16 * scale)) * rows + 4
            H, W = out.shape[:2]
            if y + h + 6 + panel_h <= H:
                px, py = x, y + h + 6
            elif x + w + 6 + panel_w <= W or x - 6 - panel_w < 0:
                px, py = x + w + 6, y
            else:
                px, py = x - 6 - panel_w, y
            draw_bars(out, f, px, py, scale, top)
    return _sidebar(out, faces, names, scale, th) if bars and sidebar else out
