"""Faces followed across video frames: an IoU tracker whose tracks keep an exponential moving average (EMA) of
their probabilities, which steadies the label that flickers frame to frame on a single-frame classifier."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ferkit.inference.predictor import Face


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """One face followed over time.

    Attributes:
        id: a number unique within the video, from 1.
        box: the last box seen.
        probs: EMA of the probabilities, in class order.
        last_seen: index of the analysed frame that last matched it.
        history: (time in seconds, smoothed probabilities) per analysed frame it was seen in.
    """

    id: int
    box: tuple[float, float, float, float]
    probs: np.ndarray
    last_seen: int
    history: list[tuple[float, np.ndarray]] = field(default_factory=list)


class IouTracker:
    """Greedy IoU matching of each analysed frame's faces to live tracks, with EMA smoothing.

    Args:
        classes: the model's classes (the order of the probability vectors).
        alpha: weight of the newest frame in the EMA (1.0: no smoothing).
        iou_threshold: least overlap to continue a track.
        max_age: analysed frames a track survives unseen.
    """

    def __init__(self, classes: tuple[str, ...], alpha: float = 0.3, iou_threshold: float = 0.3, max_age: int = 10):
        self.classes = classes
        self.alpha, self.iou_threshold, self.max_age = alpha, iou_threshold, max_age
        self.tracks: list[Track] = []
        self.finished: list[Track] = []
        self._next_id, self._step = 1, 0

    def update(self, faces: list[Face], time_s: float) -> list[tuple[int, Face]]:
        """Match faces to tracks; returns (track id, face with smoothed probabilities) per face."""
        self._step += 1
        pairs = sorted(
            ((iou(f.box, t.box), i, j) for i, f in enumerate(faces) for j, t in enumerate(self.tracks)), reverse=True
        )
        match: dict[int, Track] = {}
        used: set[int] = set()
        for score, i, j in pairs:
            if score < self.iou_threshold:
                break
            if i not in match and j not in used:
                match[i] = self.tracks[j]
                used.add(j)
        out = []
        for i, f in enumerate(faces):
            p = np.array([f.probs[c] for c in self.classes], np.float32)
            t = match.get(i)
            if t is None:
                t = Track(self._next_id, f.box, p, self._step)
                self._next_id += 1
                self.tracks.append(t)
            else:
                t.probs = self.alpha * p + (1 - self.alpha) * t.probs
                t.box, t.last_seen = f.box, self._step
            t.history.append((time_s, t.probs.copy()))
            k = int(t.probs.argmax())
            smooth = replace(
                f, probs={c: float(v) for c, v in zip(self.classes, t.probs, strict=True)}, label=self.classes[k]
            )
            out.append((t.id, replace(smooth, score=float(t.probs[k]))))
        alive = [t for t in self.tracks if self._step - t.last_seen <= self.max_age]
        self.finished += [t for t in self.tracks if t not in alive]
        self.tracks = alive
        return out

    def all_tracks(self) -> list[Track]:
        return sorted(self.finished + self.tracks, key=lambda t: t.id)


def step_alpha(alpha: float, every: int) -> float:
    """The EMA weight per analysed frame that smooths like ``alpha`` per video frame when analysing every N-th."""
    return 1.0 - (1.0 - alpha) ** every
