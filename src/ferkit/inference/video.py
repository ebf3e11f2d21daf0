"""Video and webcams: faces tracked across frames, their probabilities smoothed over time.

Every ``every``-th frame is analysed (detection + one batched classification); an IoU tracker links faces to
tracks, and each track keeps an exponential moving average (EMA) of its probabilities, which steadies the label
that flickers frame to frame on a single-frame classifier. Outputs: an annotated video, a per-frame timeline
(JSONL or CSV) and a PNG plot of each track's emotions over time.
"""

from __future__ import annotations

import csv
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.inference.annotate import annotate
from ferkit.inference.predictor import Face, Predictor
from ferkit.inference.tracking import IouTracker, Track, step_alpha


@dataclass(frozen=True)
class FrameResult:
    """One analysed frame: its index, time, and (track id, smoothed face) pairs."""

    index: int
    time: float
    faces: list[tuple[int, Face]]


def open_source(source: str | int) -> cv2.VideoCapture:
    """A capture for a file path, a webcam index (``0`` or ``"0"``), or a stream URL.

    Raises:
        FerkitError: the source cannot be opened.
    """
    src: str | int = int(source) if isinstance(source, str) and source.isdigit() else source
    if isinstance(src, str) and "://" not in src and not Path(src).is_file():
        raise FerkitError(f"{src}: no such video file")
    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        raise FerkitError(f"{source}: cannot open as a video file, webcam index or stream")
    return cap


def _writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), fourcc, fps, size)
    if not w.isOpened():
        raise FerkitError(f"{path}: cannot write a video here (use .avi or .mp4)")
    return w


class TimelineWriter:
    """Per analysed frame, per face: JSONL (one line per frame) or CSV (one row per face), flushed as it goes."""

    def __init__(self, path: str | Path, classes: tuple[str, ...]) -> None:
        self.path, self.classes = Path(path), classes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._f) if self.path.suffix.lower() == ".csv" else None
        if self._csv:
            self._csv.writerow(["frame", "time", "track", "x", "y", "w", "h", "label", "score", *classes])

    def write(self, r: FrameResult) -> None:
        if self._csv is None:
            faces = [{"track": tid, **f.to_dict()} for tid, f in r.faces]
            self._f.write(json.dumps({"frame": r.index, "time": round(r.time, 3), "faces": faces}) + "\n")
        else:
            for tid, f in r.faces:
                d = f.to_dict()
                self._csv.writerow(
                    [r.index, round(r.time, 3), tid, *d["box"], d["label"], d["score"], *d["probs"].values()]
                )
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def plot_timeline(tracks: list[Track], classes: tuple[str, ...], path: str | Path, max_tracks: int = 6) -> Path:
    """A PNG with one panel per track (the longest ``max_tracks``): smoothed probability of each class over time."""
    from ferkit.inference.annotate import color_of
    from ferkit.viz import _plt

    plt = _plt()

    shown = sorted(sorted(tracks, key=lambda t: -len(t.history))[:max_tracks], key=lambda t: t.id)
    n = max(1, len(shown))
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.4 * n), sharex=True, squeeze=False)
    for ax, t in zip(axes[:, 0], shown, strict=False):
        times = [h[0] for h in t.history]
        probs = np.stack([h[1] for h in t.history])  # (T, C)
        for k, c in enumerate(classes):
            b, g, r = color_of(c)
            ax.plot(times, probs[:, k], label=c, color=(r / 255, g / 255, b / 255), lw=1.5)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face #{t.id}")
        ax.grid(alpha=0.3)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center")
    axes[0, 0].legend(loc="upper right", ncol=min(len(classes), 5), fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class _Background:
    """Run ``fn`` on items in one background thread through a bounded queue (frame reading, video writing), so
    that decoding and encoding overlap with detection and classification on another core."""

    _END = object()

    def __init__(self, fn, size: int = 4) -> None:
        self._fn, self._q = fn, queue.Queue(maxsize=size)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (item := self._q.get()) is not self._END:
                self._fn(item)
        except BaseException as e:  # re-raised in the caller's thread by put() or close()
            self.error = e
            while self._q.get() is not self._END:  # drain, so that put() never blocks forever
                pass

    def put(self, item: object) -> None:
        if self.error:
            raise self.error
        self._q.put(item)

    def close(self) -> None:
        self._q.put(self._END)
        self._thread.join()
        if self.error:
            raise self.error


def _read_ahead(cap: cv2.VideoCapture, stop: threading.Event, size: int = 4) -> Iterator[np.ndarray]:
    """Frames of a capture, decoded by a background thread up to ``size`` frames ahead."""
    q: queue.Queue = queue.Queue(maxsize=size)

    def run() -> None:
        while not stop.is_set():
            ok, frame = cap.read()
            while not stop.is_set():
                try:
                    q.put(frame if ok else None, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if not ok:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while (frame := q.get()) is not None:
            yield frame
    finally:
        stop.set()
        thread.join()


def analyze_video(
    predictor: Predictor,
    source: str | int,
    every: int = 1,
    out_video: str | Path | None = None,
    timeline: str | Path | None = None,
    max_frames: int | None = None,
    alpha: float = 0.3,
    tracker: IouTracker | None = None,
) -> Iterator[FrameResult]:
    """Analyse a video, yielding a ``FrameResult`` per analysed frame and writing the asked outputs as it goes.

    Frames are decoded, and the annotated video drawn and encoded, in background threads.

    Args:
        predictor: detector and classifier.
        source: file path, webcam index or stream URL.
        every: analyse every N-th frame (the annotated video repeats the last result in between).
        out_video: annotated video to write (.avi: MJPG, .mp4: mp4v).
        timeline: per-frame results to write (.jsonl or .csv).
        max_frames: stop after this many frames read (a webcam never ends otherwise).
        alpha: EMA weight of the newest frame, per video frame: with ``every`` N it is compounded over N frames
            so that the smoothing lasts the same time whatever N.
        tracker: a tracker to use (pass one to read its tracks afterwards, e.g. for ``plot_timeline``);
            its own ``alpha`` is then used as given.
    """
    if every < 1:
        raise ValueError("every must be >= 1")
    cap = open_source(source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if 1 <= fps <= 240 else 25.0
    tracker = tracker or IouTracker(predictor.classes, alpha=step_alpha(alpha, every), max_age=max(2, 10 // every))
    tl = TimelineWriter(timeline, predictor.classes) if timeline else None
    writer: list[cv2.VideoWriter] = []

    def draw_and_write(item: tuple[np.ndarray, list[tuple[int, Face]]]) -> None:
        frame, faces = item
        # small frames come back enlarged (readable text), always by the same factor for one video
        drawn = annotate(frame, [f for _, f in faces], track_ids=[tid for tid, _ in faces], sidebar=True)
        if not writer:
            writer.append(_writer(Path(out_video), fps, (drawn.shape[1], drawn.shape[0])))  # type: ignore[arg-type]
        writer[0].write(drawn)

    out = _Background(draw_and_write) if out_video is not None else None
    stop = threading.Event()
    last: list[tuple[int, Face]] = []
    frames = _read_ahead(cap, stop)
    try:
        for i, frame in enumerate(frames):
            if max_frames is not None and i >= max_frames:
                break
            t = i / fps
            if i % every == 0:
                last = tracker.update(predictor.predict_array(frame), t)
                r = FrameResult(i, t, last)
                if tl:
                    tl.write(r)
                yield r
            if out is not None:
                out.put((frame, last))
    finally:
        stop.set()
        frames.close()  # joins the reader thread before the capture is released
        try:
            if out is not None:
                out.close()
        finally:
            cap.release()
            if writer:
                writer[0].release()
            if tl:
                tl.close()
