"""ferkit.inference.cluster on a real local Ray (no mocks of Ray): its rows equal single-process ``ferkit predict``'s
and ``ferkit video``'s, row by row, on a tiny synthetic folder with broken files and a short video split into ranges.

Kept small (37-48 s of CPU in all, most of it Ray starting processes; about half a minute on an idle 2 cores):
one Ray session for the module (``num_cpus=2``, no dashboard, a small object store), a random-weight 48x48 ONNX
model, 240x150 photos.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import draw_face, face_image

import ferkit
from ferkit.cli import main

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ferkit[ray]'): the Ray engine is untested")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from ferkit.inference.cluster import connect, list_sources, predict_on_ray, row_schema  # noqa: E402

N_PHOTOS = 9  # 0, 1 or 2 faces each
BROKEN = {
    "empty.jpg": b"",
    "noise.jpg": bytes(range(256)) * 4,
    "text.png": b"not a png at all\n",
    "header_only.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
}
N_FRAMES, CHUNK = 12, 4  # the clip is cut into three ranges, scored by whichever actor is free, then rejoined


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray for the module, as ``predict_on_ray`` starts it (``ray.init(num_cpus=2, include_dashboard=False,
    ...)``; its workers import the ferkit these tests import), with 100 MB of object store."""
    # On a busy machine Ray's raylet can abort at startup: it gives its agents a fixed 15 s to report their ports
    # (ray-project/ray#65983; RAY_agent_register_timeout_ms does not reach that wait in Ray 2.60). So one retry: a
    # second start finds Ray's files in the page cache.
    for attempt in range(2):
        try:
            connect(num_cpus=2, object_store_memory=100 * 2**20)
            break
        except Exception as e:
            ray.shutdown()
            if "timed out during startup" not in str(e) or attempt == 1:
                raise
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def onnx_model(model_file, tmp_path_factory) -> Path:
    """The conftest's tiny random-weight model as ONNX: actors load it without importing torch."""
    from ferkit.export import export_onnx

    return export_onnx(model_file, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Nine small photos (none, one or two cartoon faces) in two subfolders, four broken files, a truncated JPEG,
    and a 12-frame clip in which a second face leaves after 8 frames (its track ends)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(N_PHOTOS):
        faces = tuple(
            (int(60 + 110 * k + rng.integers(-8, 8)), int(75 + rng.integers(-8, 8)), 42) for k in range(i % 3)
        )
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        assert cv2.imwrite(str(sub / f"{i:03d}.{'jpg' if i % 4 else 'png'}"), face_image(faces, size=(150, 240)))
    for name, data in BROKEN.items():
        (root / name).write_bytes(data)
    good = (root / "a" / "001.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    clip = root / "clip.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 200))
    for i in range(N_FRAMES):
        img = np.full((200, 320, 3), (90, 110, 100), np.uint8)
        draw_face(img, 80 + 3 * i, 100, 45)
        if i < 8:
            draw_face(img, 240, 95, 40, smile=False)
        w.write(cv2.GaussianBlur(img, (5, 5), 0))
    w.release()
    return root


def _args(onnx_model: Path, yunet_path: Path) -> list[str]:
    return ["--model", str(onnx_model), "--detector", "yunet", "--yunet", str(yunet_path)]


def test_ray_rows_equal_folder_mode(folder, onnx_model, yunet_path, tmp_path, ray_local):
    opts = _args(onnx_model, yunet_path)
    single = tmp_path / "single.jsonl"
    assert main(["predict", str(folder), "--out", str(single), *opts]) == 0
    timeline = tmp_path / "clip.jsonl"
    assert main(["video", str(folder / "clip.avi"), "--timeline", str(timeline), *opts]) == 0

    out = tmp_path / "ray"
    ray_args = ["--engine", "ray", "--out", str(out), "--batch", "4", "--video-chunk", str(CHUNK)]  # work for 2 actors
    assert main(["predict", str(folder), *ray_args, *opts]) == 0
    files = sorted(out.glob("*.parquet"))
    probe = ferkit.Predictor.from_file(onnx_model, detector="haar")
    assert files and all(pq.read_schema(f).remove_metadata() == row_schema(probe.classes) for f in files)
    rows = pq.read_table(str(out)).to_pylist()
    assert {(r["model"], r["head"]) for r in rows} == {("tiny.onnx", probe.head)}

    by_path: dict[str, list[dict]] = {}
    for r in rows:
        by_path.setdefault(r["path"], []).append(r)
    expected = [json.loads(line) for line in single.read_text().splitlines()]
    assert sorted(e["path"] for e in expected) == sorted(set(by_path) - {str(folder / "clip.avi")})
    n_errors = n_faces = 0
    for e in expected:
        got = by_path[e["path"]]
        if "error" in e:  # a bad file: one row, the message of folder mode, nothing else
            n_errors += 1
            assert [r["error"] for r in got] == [e["error"]], e["path"]
            assert got[0]["face"] is None and got[0]["label"] is None and got[0]["probs"] is None
            continue
        faces = sorted((r for r in got if r["face"] is not None), key=lambda r: r["face"])
        assert len(faces) == len(e["faces"]) and (faces or len(got) == 1), e["path"]  # no face: still one row
        for r, f in zip(faces, e["faces"], strict=True):
            n_faces += 1
            assert r["frame"] is None and r["track"] is None and r["error"] is None, e["path"]
            assert r["label"] == f["label"] and list(r["probs"]) == list(f["probs"]), e["path"]
            np.testing.assert_allclose(r["box"], f["box"], atol=0.06)
            np.testing.assert_allclose(list(r["probs"].values()), list(f["probs"].values()), atol=2e-4)
            assert r["score"] == pytest.approx(f["score"], abs=2e-4)
    assert n_errors == len(BROKEN) + 1 and n_faces == sum(i % 3 for i in range(N_PHOTOS))  # YuNet finds them all

    # The clip: every frame once, in order, with the tracks and smoothed probabilities of ``ferkit video``.
    frames = sorted(by_path[str(folder / "clip.avi")], key=lambda r: (r["frame"], r["face"] or 0))
    expected_frames = [json.loads(line) for line in timeline.read_text().splitlines()]
    assert sorted({r["frame"] for r in frames}) == [f["frame"] for f in expected_frames] == list(range(N_FRAMES))
    for f in expected_frames:
        got = [r for r in frames if r["frame"] == f["frame"] and r["face"] is not None]
        assert [r["track"] for r in got] == [x["track"] for x in f["faces"]], f["frame"]
        for r, x in zip(got, f["faces"], strict=True):
            assert r["time"] == pytest.approx(f["time"], abs=1e-3) and r["label"] == x["label"]
            np.testing.assert_allclose(list(r["probs"].values()), list(x["probs"].values()), atol=2e-4)
    assert {r["track"] for r in frames} - {None} == {1, 2}  # None: a frame where the detector found no face
    assert max(r["frame"] for r in frames if r["track"] == 2) == 7  # the second face's track ends with it

    # A restart skips every source already written, and writes nothing.
    again = predict_on_ray([str(folder)], str(out), onnx_model, detector="yunet", yunet=yunet_path, resume=True,
                           progress=False)  # fmt: skip
    assert (again.photos, again.videos, again.skipped) == (0, 0, len(expected) + 1)
    assert sorted(out.glob("*.parquet")) == files


def test_jsonl_list_file_uri_and_resume(folder, onnx_model, yunet_path, tmp_path, ray_local):
    listed = [str(folder / "a" / "001.jpg"), f"file://{folder / 'b' / '002.jpg'}", str(folder / "missing.jpg")]
    (tmp_path / "list.txt").write_text("# three photos\n" + "\n".join(listed) + "\n")
    assert list_sources([str(tmp_path / "list.txt")]) == (listed, [])
    out = tmp_path / "rows"
    out.mkdir()
    (out / "old.json").write_text(json.dumps({"path": listed[0]}) + "\n")  # as if a first run had written it
    s = predict_on_ray([str(tmp_path / "list.txt")], str(out), onnx_model, fmt="jsonl", detector="yunet",
                       yunet=yunet_path, workers=1, resume=True, progress=False)  # fmt: skip
    assert (s.photos, s.videos, s.skipped) == (2, 0, 1)
    rows = [json.loads(x) for f in out.glob("*.json") if f.name != "old.json" for x in f.read_text().splitlines()]
    schema = row_schema(ferkit.Predictor.from_file(onnx_model, detector="haar").classes)
    assert all(list(r) == schema.names for r in rows)  # every column, in order, nulls included
    got = {r["path"]: r for r in rows if not r["face"]}  # face 0, or the one row of a file without faces
    assert set(got) == set(listed[1:])
    uri = got[listed[1]]  # read through pyarrow's file system: the same answer as the local path
    expected = ferkit.Predictor.from_file(onnx_model, detector="yunet", yunet=yunet_path).predict(
        cv2.imread(str(folder / "b" / "002.jpg"))
    )
    assert uri["error"] is None and uri["face"] == 0 and uri["label"] == expected[0].label
    assert list(uri["probs"]) == list(expected[0].probs) and len(uri["box"]) == 4
    np.testing.assert_allclose(list(uri["probs"].values()), list(expected[0].probs.values()), atol=1e-5)
    assert "no such file" in got[listed[2]]["error"] and got[listed[2]]["label"] is None


def test_model_options_reach_the_actors_predictor_and_bad_ones_stop_before_ray_starts(folder, onnx_model, tmp_path,
                                                                                      capsys):  # fmt: skip
    from ferkit.inference.cluster import make_recipe

    recipe = make_recipe(onnx_model, detector="haar", whole_image="never", head=None, tta="flip")
    p = recipe.build()
    assert (p.whole_image, p.tta) == ("never", "flip")
    out = tmp_path / "out"
    args = ["predict", str(folder), "--engine", "ray", "--out", str(out), "--model", str(onnx_model), "--detector",
            "haar", "--prior", "balanced"]  # fmt: skip
    assert main(args) == 1  # the tiny model records no class mix: the predictor refuses the prior, Ray never starts
    assert "records no class prior" in capsys.readouterr().err and not out.exists()
