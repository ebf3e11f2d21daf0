"""Scoring at cluster scale on Ray Data (``pip install 'ferkit[ray]'``): photos and long videos spread over a
cluster, scored by actors that each load the model once; results as Parquet or JSONL, one row per face.

Example:
    >>> from ferkit.inference.cluster import predict_on_ray
    >>> predict_on_ray(["s3://bucket/photos/", "/shared/clips/"], "s3://bucket/scores/", model="ferkit-v4")

The work is ferkit's single-process code run inside Ray actors: ``predict_paths`` (reading and decoding with the
checks of ``ferkit.imaging``, bad files as error records) for photos, ``Predictor.predict_arrays`` for video
frames, and ``IouTracker`` to rejoin each video's face tracks once all its frame ranges are scored. So the rows
equal those of ``ferkit predict FOLDER`` and ``ferkit video --timeline`` (probabilities within float tolerance).

Rows (``row_schema``): ``path``, ``frame`` (null for photos), ``time`` (s), ``face`` (index in the image or frame,
null when none was found), ``track`` (video face track), ``box`` [x, y, w, h], ``label``, ``score``, ``probs``
(a struct: one field per class name), ``detection_score``, ``model``, ``head``, ``error`` (a bad file: the rest null).
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ferkit import shipped
from ferkit.errors import DetectorError, FerkitError, ImageError
from ferkit.imaging import IMAGE_SUFFIXES, MAX_FILE_BYTES, MAX_PIXELS, decode, load_image
from ferkit.inference.batch import list_images, predict_paths
from ferkit.inference.predictor import Face, Predictor

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
LIST_SUFFIXES = (".txt", ".lst")  # a SOURCE with this suffix lists one path or URI per line
Format = Literal["parquet", "jsonl"]


# ---- sources -------------------------------------------------------------------------------------------------


def _is_uri(s: str) -> bool:
    return "://" in s


def _uri_files(uri: str) -> list[str]:
    """Image and video files at a URI (a file, or everything below a prefix), read through pyarrow's file
    systems: the ones Ray's own readers use (``s3://``, ``gs://``, ``hdfs://``, ``file://``)."""
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(uri)
    scheme = uri.split("://", 1)[0]
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.File:
        return [uri]
    if info.type != fs.FileType.Directory:
        raise FerkitError(f"{uri}: no such file or prefix")
    wanted = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    return sorted(f"{scheme}://{f.path}" for f in found if f.is_file and Path(f.path).suffix.lower() in wanted)


def list_sources(sources: list[str]) -> tuple[list[str], list[str]]:
    """Photos and videos named by paths, folders, globs, list files (``.txt``/``.lst``, one per line) and URIs.

    Photos are listed as ``ferkit predict`` lists them (``list_images``); folders and globs also give their videos.

    Returns:
        (photos, videos), each in order without repeats.
    """
    photos: list[str] = []
    videos: list[str] = []
    for s in sources:
        if _is_uri(s):
            found = _uri_files(s)
        elif Path(s).is_file() and Path(s).suffix.lower() in LIST_SUFFIXES:
            lines = Path(s).read_text(encoding="utf-8").splitlines()
            listed = [x.strip() for x in lines if x.strip() and not x.strip().startswith("#")]
            more_photos, more_videos = list_sources(listed)
            photos += more_photos
            videos += more_videos
            continue
        elif Path(s).is_dir():
            found = list_images([s]) + [
                str(f) for f in sorted(Path(s).rglob("*")) if f.suffix.lower() in VIDEO_SUFFIXES
            ]
        else:
            found = list_images([s]) if glob.has_magic(s) and not Path(s).exists() else [s]
        for f in found:
            (videos if Path(f).suffix.lower() in VIDEO_SUFFIXES else photos).append(f)
    return list(dict.fromkeys(photos)), list(dict.fromkeys(videos))


def read_image(source: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A local path (as ``load_image`` reads it) or a URI (through pyarrow's file systems) -> BGR uint8.

    Raises:
        ImageError: unreadable or not an image, naming ``source``.
    """
    if not _is_uri(source):
        return load_image(source, max_pixels=max_pixels)
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(source)
        if (filesystem.get_file_info(path).size or 0) > MAX_FILE_BYTES:
            raise ImageError(f"files over {MAX_FILE_BYTES:,} bytes are not read", source)
        with filesystem.open_input_stream(path) as f:
            data = f.read()
    except (OSError, ValueError) as e:
        raise ImageError(f"cannot read ({e})", source) from None
    return decode(data, source, max_pixels)


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


# ---- output and resume -----------------------------------------------------------------------------------------


def _out_fs(out: str):
    from pyarrow import fs

    if _is_uri(out):
        return fs.FileSystem.from_uri(out)
    return fs.LocalFileSystem(), str(Path(out).resolve())


def done_sources(out: str, fmt: Format) -> set[str]:
    """Sources with rows in ``out`` already. A file a crash left unreadable is renamed ``*.partial`` (out of the
    table's way), and its sources are done again."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    filesystem, root = _out_fs(out)
    if filesystem.get_file_info(root).type != fs.FileType.Directory:
        return set()
    suffix = ".parquet" if fmt == "parquet" else ".json"
    done: set[str] = set()
    for f in filesystem.get_file_info(fs.FileSelector(root, recursive=True)):
        if not f.is_file or not f.path.endswith(suffix):
            continue
        try:
            if fmt == "parquet":
                done.update(pq.read_table(f.path, columns=["path"], filesystem=filesystem).column("path").to_pylist())
            else:
                with filesystem.open_input_stream(f.path) as s:
                    done.update(json.loads(line)["path"] for line in s.read().decode("utf-8").splitlines() if line)
        except (OSError, ValueError, KeyError):
            filesystem.move(f.path, f.path + ".partial")
    return done


def _prepare_out(out: str, fmt: Format, resume: bool, overwrite: bool) -> set[str]:
    from pyarrow import fs

    filesystem, root = _out_fs(out)
    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.File:
        raise FerkitError(f"{out}: is a file; --engine ray writes a folder of {fmt} files")
    if info.type == fs.FileType.Directory and filesystem.get_file_info(fs.FileSelector(root)):
        if resume:
            return done_sources(out, fmt)
        if not overwrite:
            raise FerkitError(f"{out}: exists; pass --resume to continue it or --force to replace it")
        filesystem.delete_dir_contents(root)
    return set()


# ---- the pipeline ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaySummary:
    """What ``predict_on_ray`` did: photos and videos scored and skipped (already in the output), and where."""

    photos: int
    videos: int
    skipped: int
    out: str


def _video_ranges(videos: list[str], chunk: int, every: int) -> list[dict[str, Any]]:
    """Each video cut into ranges of ``chunk`` frames (a multiple of ``every``); the last range runs to the end, so
    a frame count that is too low loses nothing. A video that cannot be counted is one range (its error row)."""
    chunk = max(every, chunk // every * every)
    ranges = []
    for v in videos:
        cap = cv2.VideoCapture(v) if not _is_uri(v) or v.startswith(("http://", "https://", "rtsp://")) else None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap is not None and cap.isOpened() else 0
        if cap is not None:
            cap.release()
        starts = list(range(0, max(n, 1), chunk))
        ranges += [{"path": v, "start": s, "stop": -1 if k == len(starts) - 1 else s + chunk}
                   for k, s in enumerate(starts)]  # fmt: skip
    return ranges


def _blocks(items: int, batch: int, workers: int) -> int:
    """Input blocks: a batch each, up to 50 per worker (enough to balance the load, few enough to plan)."""
    return max(1, min(-(-items // batch), 50 * workers))


def connect(address: str | None = None, num_cpus: int | None = None, **init: Any) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to), or start a local one (no
    dashboard; ``init``: more ``ray.init`` arguments); nothing when Ray is already initialised.

    A local instance's workers import the ferkit package this process imported, also from a source checkout on a
    relative ``PYTHONPATH`` (workers inherit the environment Ray starts with, not the driver's ``sys.path``).
    """
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False, **init)
        return
    saved = os.environ.get("PYTHONPATH")
    here = str(Path(__file__).resolve().parents[2])  # the folder that holds the ferkit package
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, saved) if p)
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, **init)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def predict_on_ray(
    sources: list[str],
    out: str,
    model: str | Path | None = None,
    *,
    fmt: Format = "parquet",
    address: str | None = None,
    workers: int | None = None,
    batch: int = 16,
    every: int = 1,
    smooth: float = 0.3,
    video_chunk: int = 300,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    backend: str = "auto",
    detector: str = "auto",
    yunet: str | Path | None = None,
    **options: Any,
) -> RaySummary:
    """Score photos and videos on Ray Data and write one row per face (see the module's docstring) to ``out``.

    Args:
        sources: folders, globs, list files, image or video paths, URIs (``s3://``, ``gs://``, ``file://``);
            local paths must be visible to every node (a shared file system) on a real cluster.
        out: a folder (local or URI) of Parquet (``fmt="parquet"``) or JSONL (``"jsonl"``, ``*.json`` files).
        model: a shipped model's name or a model file; None: the default shipped model.
        address: an existing cluster (``auto``, ``ray://host:10001``); None: the one Ray is initialised with, else a
            new local instance.
        workers: scoring actors (one CPU each); None: one per CPU of the cluster.
        batch: photos per actor call (their faces are classified together).
        every, smooth: as ``ferkit video --every --smooth``.
        video_chunk: frames per video range (the unit of work a long video is split into).
        resume: skip sources that already have rows in ``out``.
        overwrite: empty an existing ``out`` first.
        progress: Ray Data's progress bars.
        backend, detector, yunet, options: as ``Predictor.from_file`` (``threads`` is always 1).

    Raises:
        FerkitError: ``out`` exists (without ``resume``/``overwrite``), a bad source or model.
    """
    import ray

    if every < 1 or not 0 < smooth <= 1:
        raise ValueError("every must be >= 1 and smooth in (0, 1]")
    photos, videos = list_sources(sources)
    recipe = make_recipe(model, backend, detector, yunet, **options)
    probe = recipe.build()  # fails here, not in every actor, for a bad model or head
    classes = probe.classes
    done = _prepare_out(out, fmt, resume, overwrite)
    todo_photos = [p for p in photos if p not in done]
    todo_videos = [v for v in videos if v not in done]
    skipped = len(photos) + len(videos) - len(todo_photos) - len(todo_videos)
    connect(address, workers)
    n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    where = out if _is_uri(out) else str(Path(out).resolve())  # workers need not share the driver's cwd

    def score(ds, scorer: type, blocks: int, batch_size: int):
        # No more actors than blocks of work: each one costs a process, its imports and a model load.
        return ds.map_batches(scorer, batch_size=batch_size, batch_format="numpy", num_cpus=1,
                              compute=ray.data.ActorPoolStrategy(size=min(n, blocks)),
                              fn_constructor_kwargs={"recipe": recipe, "every": every})  # fmt: skip

    def write(ds, blocks: int) -> None:
        # Writing is light I/O: it asks for no CPU, so that it runs beside actors that hold every CPU instead of
        # waiting (with every result held in the object store) until they finish; at most one writer per actor.
        free = {"ray_remote_args": {"num_cpus": 0}, "concurrency": max(1, min(n, blocks))}
        if fmt == "parquet":
            ds.write_parquet(where, **free)
        else:
            ds.write_json(where, **free)

    ctx = ray.data.DataContext.get_current()
    saved = ctx.enable_progress_bars, ctx.shuffle_strategy
    ctx.enable_progress_bars = progress
    # Videos are regrouped by a sort-based shuffle: tasks on Ray's pooled workers. Ray's default hash shuffle starts
    # aggregator actors of its own, a fixed cost (seconds) that dominates a small job.
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    try:
        if todo_photos:
            blocks = _blocks(len(todo_photos), batch, n)
            ds = ray.data.from_items([{"path": p} for p in todo_photos], override_num_blocks=blocks)
            write(score(ds, PhotoScorer, blocks, batch), blocks)
        if todo_videos:
            ranges = _video_ranges(todo_videos, video_chunk, every)
            ds = ray.data.from_items(ranges, override_num_blocks=len(ranges))
            parts = max(1, min(len(todo_videos), n))
            track = {"classes": classes, "every": every, "smooth": smooth}
            scored = score(ds, FrameScorer, len(ranges), 1)
            tracked = scored.groupby("path", num_partitions=parts).map_groups(track_video, fn_kwargs=track,
                                                                                batch_format="pyarrow")  # fmt: skip
            write(tracked, parts)
    finally:
        ctx.enable_progress_bars, ctx.shuffle_strategy = saved
    return RaySummary(len(todo_photos), len(todo_videos), skipped, out)


__all__ = ["RaySummary", "Recipe", "list_sources", "make_recipe", "predict_on_ray", "read_image", "row_schema",
           "track_video"]  # fmt: skip
