"""Scoring at cluster scale on Ray Data (``pip install 'ferkit[ray]'``): photos and long videos spread over a
cluster, scored by actors that each load the model once; results as Parquet or JSONL, one row per face.

Example:
    >>> from ferkit.inference.cluster import predict_on_ray
    >>> predict_on_ray(["s3://bucket/photos/", "/shared/clips/"], "s3://bucket/scores/", model="ferkit-s")

The work is ferkit's single-process code run inside Ray actors: ``predict_paths`` (reading and decoding with the
checks of ``ferkit.imaging``, bad files as error records) for photos, ``Predictor.predict_arrays`` for video
frames, and ``IouTracker`` to rejoin each video's face tracks once all its frame ranges are scored. So the rows
equal those of ``ferkit predict FOLDER`` and ``ferkit video --timeline`` (probabilities within float tolerance).

Rows (``row_schema``): ``path``, ``frame`` (null for photos), ``time`` (s), ``face`` (index in the image or frame,
null when none was found), ``track`` (video face track), ``box`` [x, y, w, h], ``label``, ``score``, ``probs``
(a struct: one field per class name), ``detection_score``, ``model``, ``head``, ``error`` (a bad file: the rest null).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

# Sources and output live in cluster_io, the actors' work in cluster_scoring; their public names stay importable here.
from ferkit.inference.cluster_io import LIST_SUFFIXES as LIST_SUFFIXES
from ferkit.inference.cluster_io import VIDEO_SUFFIXES as VIDEO_SUFFIXES
from ferkit.inference.cluster_io import Format, _is_uri, _prepare_out, list_sources, read_image
from ferkit.inference.cluster_io import done_sources as done_sources
from ferkit.inference.cluster_scoring import FrameScorer, PhotoScorer, Recipe, make_recipe, row_schema, track_video

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
