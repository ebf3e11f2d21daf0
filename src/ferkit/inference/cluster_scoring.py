"""What runs on ``ferkit.inference.cluster``'s workers: the ``Recipe`` each actor rebuilds the driver's
``Predictor`` from, the rows (``row_schema``), the scoring actors for photos and video frame ranges, and
``track_video``, which rejoins one video's face tracks once all its frame ranges are scored.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferkit import shipped
from ferkit.errors import DetectorError, FerkitError
from ferkit.inference.batch import predict_paths
from ferkit.inference.cluster_io import read_image
from ferkit.inference.predictor import Face, Predictor

# ---- the model, rebuilt in each actor -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What each actor needs to build the same ``Predictor``: the model and YuNet files travel as bytes, so workers
    need neither the driver's files nor a network connection (the package itself must be installed there)."""

    name: str
    model: bytes
    suffix: str
    backend: str = "auto"
    detector: str = "yunet"  # resolved on the driver: "yunet" or "haar", never a silent per-actor fallback
    yunet: bytes | None = None
    options: dict[str, Any] = field(default_factory=dict)  # score_threshold, min_face, max_pixels, det_size, ...

    def build(self) -> Predictor:
        """The Predictor (its files are loaded at once, so the temporary copies go when it is built)."""
        with tempfile.TemporaryDirectory(prefix="ferkit-ray-") as tmp:
            model = Path(tmp) / f"model{self.suffix}"
            model.write_bytes(self.model)
            yunet = None
            if self.yunet is not None:
                yunet = Path(tmp) / "yunet.onnx"
                yunet.write_bytes(self.yunet)
            kw: dict[str, Any] = dict(threads=1, yunet=yunet, **self.options)
            return Predictor.from_file(model, self.backend, self.detector, **kw)  # type: ignore[arg-type]


def make_recipe(
    model: str | Path | None = None, backend: str = "auto", detector: str = "auto", yunet: str | Path | None = None,
    **options: Any,
) -> Recipe:  # fmt: skip
    """A ``Recipe`` from ``ferkit predict``'s model options (a shipped model's name or a file path).

    ``auto`` resolves here, once: YuNet when its file is found (or downloaded), else Haar with a warning.
    """
    from ferkit.inference.detectors import DetectorFallbackWarning
    from ferkit.inference.yunet_file import find_yunet

    path = shipped.resolve_model(model, backend)  # type: ignore[arg-type]
    name = str(model) if model is not None and str(model) in shipped.shipped_models() else path.name
    name = shipped.DEFAULT if model is None else name
    yunet_bytes = None
    if detector in ("auto", "yunet"):
        try:
            yunet_bytes = find_yunet(yunet, download=True).read_bytes()
            detector = "yunet"
        except DetectorError as e:
            if detector == "yunet":
                raise
            warnings.warn(f"YuNet face detector unavailable ({e}); every actor uses OpenCV's Haar cascade",
                          DetectorFallbackWarning, stacklevel=2)  # fmt: skip
            detector = "haar"
    return Recipe(name, path.read_bytes(), "".join(path.suffixes[-2:]) or ".onnx", backend, detector, yunet_bytes,
                  options)  # fmt: skip


# ---- rows ----------------------------------------------------------------------------------------------------


def row_schema(classes: tuple[str, ...]):
    """The Arrow schema of every row, photos and videos alike (so one folder of files reads as one table)."""
    import pyarrow as pa

    return pa.schema([
        ("path", pa.string()), ("frame", pa.int64()), ("time", pa.float64()), ("face", pa.int32()),
        ("track", pa.int32()), ("box", pa.list_(pa.float64())), ("label", pa.string()), ("score", pa.float64()),
        ("probs", pa.struct([(c, pa.float64()) for c in classes])), ("detection_score", pa.float64()),
        ("model", pa.string()), ("head", pa.string()), ("error", pa.string()),
    ])  # fmt: skip


def _rows(path: str, frame: int | None, time: float | None, faces: list[tuple[int | None, Face]] | None,
          error: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    base = {"path": path, "frame": frame, "time": time, "error": error}
    if not faces:  # an error, or nothing found: still one row, so that resume knows it was done
        return [base]
    return [
        {
            **base,
            "face": i,
            "track": tid,
            "box": list(f.box),
            "label": f.label,
            "score": f.score,
            "probs": f.probs,
            "detection_score": f.detection_score,
        }  # fmt: skip
        for i, (tid, f) in enumerate(faces)
    ]


class _Scorer:
    """A Ray actor: one Predictor (ONNX Runtime on one thread), photos or video frame ranges in, rows out."""

    def __init__(self, recipe: Recipe, every: int = 1) -> None:
        cv2.setNumThreads(1)  # one core per actor: Ray schedules the parallelism
        self.predictor = recipe.build()
        self.every = every
        self.tags = {"model": recipe.name, "head": self.predictor.head}
        self.schema = row_schema(self.predictor.classes)

    def _table(self, rows: list[dict[str, Any]]):
        import pyarrow as pa

        return pa.Table.from_pylist([{**r, **self.tags} for r in rows], schema=self.schema)

    def photos(self, batch: dict[str, np.ndarray]):
        p = self.predictor
        paths = [str(x) for x in batch["path"]]
        rows: list[dict[str, Any]] = []
        results = predict_paths(p, paths, len(paths), workers=1, read=lambda s: read_image(s, p.max_pixels))
        for path, _, faces, error in results:
            rows += _rows(path, None, None, [(None, f) for f in faces or []], error)
        return self._table(rows)

    def frames(self, batch: dict[str, np.ndarray]):
        rows: list[dict[str, Any]] = []
        for path, start, stop in zip(batch["path"], batch["start"], batch["stop"], strict=True):
            try:
                rows += self._range(str(path), int(start), int(stop))
            except FerkitError as e:
                rows += _rows(str(path), None, None, None, str(e))
        return self._table(rows)

    def _range(self, path: str, start: int, stop: int, chunk: int = 8) -> list[dict[str, Any]]:
        """Frames [start, stop) (stop -1: to the end) of every ``every``-th frame, ``chunk`` frames per batch."""
        from ferkit.inference.video import open_source

        cap = open_source(path)
        try:
            fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
            fps = fps if 1 <= fps <= 240 else 25.0  # as analyze_video
            if start and not (cap.set(cv2.CAP_PROP_POS_FRAMES, start) and cap.get(cv2.CAP_PROP_POS_FRAMES) == start):
                cap.release()  # an inexact seek: read from the start instead
                cap = open_source(path)
                for _ in range(start):
                    cap.grab()
            rows: list[dict[str, Any]] = []
            pending: list[tuple[int, np.ndarray]] = []
            i = start
            while stop < 0 or i < stop:
                ok, frame = cap.read()
                if not ok:
                    break
                if i % self.every == 0:
                    pending.append((i, frame))
                    if len(pending) == chunk:
                        rows += self._score_frames(path, pending, fps)
                i += 1
            rows += self._score_frames(path, pending, fps)
            return rows
        finally:
            cap.release()

    def _score_frames(self, path: str, pending: list[tuple[int, np.ndarray]], fps: float) -> list[dict[str, Any]]:
        """Rows of the pending (index, frame) pairs, their faces classified in one batch; empties ``pending``."""
        faces = self.predictor.predict_arrays([f for _, f in pending]) if pending else []
        rows = [
            r
            for (k, _), fs in zip(pending, faces, strict=True)
            for r in _rows(path, k, k / fps, [(None, f) for f in fs])
        ]
        pending.clear()
        return rows


class PhotoScorer(_Scorer):
    def __call__(self, batch: dict[str, np.ndarray]):
        return self.photos(batch)


class FrameScorer(_Scorer):
    def __call__(self, batch: dict[str, np.ndarray]):
        return self.frames(batch)


def track_video(table, classes: tuple[str, ...], every: int = 1, smooth: float = 0.3):
    """One video's frame rows (any order) -> the same rows in frame order, with track ids and the smoothed
    probabilities of ``ferkit video`` (``IouTracker``, ``smooth`` per video frame as its ``--smooth``)."""
    import pyarrow as pa

    from ferkit.inference.tracking import IouTracker, step_alpha

    rows = table.to_pylist()
    errors = [r for r in rows if r["error"] is not None]
    if errors:
        return pa.Table.from_pylist(errors[:1], schema=table.schema)
    rows.sort(key=lambda r: (r["frame"], -1 if r["face"] is None else r["face"]))
    tracker = IouTracker(classes, alpha=step_alpha(smooth, every), max_age=max(2, 10 // every))
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j]["frame"] == rows[i]["frame"]:
            j += 1
        group = [r for r in rows[i:j] if r["face"] is not None]
        faces = [Face(tuple(r["box"]), r["probs"], r["label"], r["score"], None, r["detection_score"]) for r in group]  # type: ignore[arg-type]
        tracked = tracker.update(faces, rows[i]["time"])
        if not group:
            out.append(rows[i])
        for r, (tid, f) in zip(group, tracked, strict=True):
            out.append({**r, "track": tid, "label": f.label, "score": f.score, "probs": f.probs})
        i = j
    return pa.Table.from_pylist(out, schema=table.schema)


__all__ = ["FrameScorer", "PhotoScorer", "Recipe", "make_recipe", "row_schema", "track_video"]
