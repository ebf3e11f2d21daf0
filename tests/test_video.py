import json

import cv2
import numpy as np
import pytest
from conftest import draw_face

from ferkit.cli import main
from ferkit.errors import FerkitError
from ferkit.inference.predictor import Face, Predictor
from ferkit.inference.tracking import IouTracker, iou
from ferkit.inference.video import analyze_video, open_source, plot_timeline

CLASSES = ("happy", "sad")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 2 s, 10 fps MJPG clip of two cartoon faces; the left one drifts to the right."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (480, 320))
    assert w.isOpened()
    for i in range(20):
        img = np.full((320, 480, 3), (90, 110, 100), np.uint8)
        draw_face(img, 110 + 2 * i, 160, 70)
        draw_face(img, 360, 150, 55)
        w.write(cv2.GaussianBlur(img, (5, 5), 0))
    w.release()
    return path


def _face(box, p_happy):
    return Face(
        box, {"happy": p_happy, "sad": 1 - p_happy}, "happy" if p_happy > 0.5 else "sad", max(p_happy, 1 - p_happy)
    )


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0


def test_tracker_keeps_ids_and_smooths():
    tr = IouTracker(CLASSES, alpha=0.5, max_age=1)
    a = tr.update([_face((0, 0, 10, 10), 0.9), _face((50, 0, 10, 10), 0.1)], 0.0)
    assert [tid for tid, _ in a] == [1, 2]
    b = tr.update([_face((52, 0, 10, 10), 0.9), _face((1, 0, 10, 10), 0.1)], 0.1)  # order swapped, boxes moved
    assert [tid for tid, _ in b] == [2, 1]
    assert b[0][1].probs["happy"] == pytest.approx(0.5) and b[1][1].probs["happy"] == pytest.approx(0.5)
    tr.update([], 0.2)
    tr.update([], 0.3)  # unseen for 2 steps > max_age: both finished
    c = tr.update([_face((0, 0, 10, 10), 0.9)], 0.4)
    assert c[0][0] == 3 and len(tr.all_tracks()) == 3 and len(tr.all_tracks()[0].history) == 2


def test_analyze_video_outputs(clip, model_file, yunet_path, tmp_path):
    p = Predictor.from_file(model_file, detector="yunet", yunet=yunet_path)
    tracker = IouTracker(p.classes)
    out, tl = tmp_path / "ann.avi", tmp_path / "tl.jsonl"
    results = list(analyze_video(p, str(clip), every=2, out_video=out, timeline=tl, tracker=tracker))
    assert [r.index for r in results] == list(range(0, 20, 2))
    assert all(len(r.faces) == 2 for r in results)
    assert len(tracker.all_tracks()) == 2  # the moving face keeps its id
    lines = [json.loads(line) for line in tl.read_text().splitlines()]
    assert len(lines) == 10 and {f["track"] for line in lines for f in line["faces"]} == {1, 2}
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    cap.release()
    png = plot_timeline(tracker.all_tracks(), p.classes, tmp_path / "plot.png")
    assert cv2.imread(str(png)) is not None


def test_open_source_errors(tmp_path):
    with pytest.raises(FerkitError, match="no such video"):
        open_source(str(tmp_path / "none.mp4"))
    (tmp_path / "bad.avi").write_bytes(b"garbage")
    with pytest.raises(FerkitError, match="cannot open"):
        open_source(str(tmp_path / "bad.avi"))


def test_cli_video(clip, model_file, tmp_path, capsys):
    tl, png, ann = tmp_path / "t.csv", tmp_path / "p.png", tmp_path / "a.avi"
    args = ["video", str(clip), "--model", str(model_file), "--detector", "haar", "--every", "5", "--max-frames", "12"]
    assert main([*args, "--timeline", str(tl), "--plot", str(png), "--annotate", str(ann)]) == 0
    rows = tl.read_text().splitlines()
    assert rows[0].startswith("frame,time,track,x,y,w,h,label,score,angry") and len(rows) > 1
    assert {int(r.split(",")[0]) for r in rows[1:]} <= {0, 5, 10}
    assert png.stat().st_size > 1000 and ann.stat().st_size > 1000
    assert "face #1" in capsys.readouterr().out
    assert main(["video", str(tmp_path / "none.mp4"), "--model", str(model_file), "--detector", "haar"]) == 1
    assert main([*args, "--every", "0"]) == 2


def test_max_frames_and_early_stop(clip, model_file, tmp_path):
    p = Predictor.from_file(model_file, detector="haar")
    out = tmp_path / "short.avi"
    assert len(list(analyze_video(p, str(clip), out_video=out, max_frames=7))) == 7
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    cap.release()
    gen = analyze_video(p, str(clip), out_video=tmp_path / "stopped.avi")
    for _ in range(3):
        next(gen)
    gen.close()  # a consumer that stops early (Ctrl-C) still gets a finished, readable file
    cap = cv2.VideoCapture(str(tmp_path / "stopped.avi"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    cap.release()


def test_step_alpha_keeps_smoothing_time():
    from ferkit.inference.tracking import step_alpha

    assert step_alpha(0.3, 1) == pytest.approx(0.3)
    assert step_alpha(0.3, 2) == pytest.approx(1 - 0.7**2)
    assert step_alpha(1.0, 5) == 1.0
