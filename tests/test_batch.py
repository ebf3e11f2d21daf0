import threading

import cv2
import numpy as np
import pytest
from conftest import face_image

from ferkit.errors import FerkitError
from ferkit.inference.batch import ResultWriter, list_images, predict_paths, prefetch
from ferkit.inference.detectors import Detection
from ferkit.inference.predictor import Predictor


class BoxPerImage:
    """One fixed face per image, except all-black images which have none."""

    name = "fixed"

    def detect(self, image):
        return [] if image.max() == 0 else [Detection((10.0, 10.0, 60.0, 60.0), 0.9, None)]


def test_prefetch_in_order_and_bounded():
    started = []
    lock = threading.Lock()

    def fn(x):
        with lock:
            started.append(x)
        return x * 2

    gen = prefetch(fn, range(100), workers=2, ahead=4)
    assert next(gen) == 0
    assert len(started) <= 6  # not all 100 submitted at once
    assert list(gen) == [2 * x for x in range(1, 100)]


def test_predict_paths_batches_and_errors(tmp_path, model_file, monkeypatch):
    p = Predictor.from_file(model_file, detector=BoxPerImage())
    paths = []
    for i in range(7):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), face_image() if i != 3 else np.zeros((50, 50, 3), np.uint8))
        paths.append(str(path))
    (tmp_path / "bad.png").write_bytes(b"nope")
    paths.insert(5, str(tmp_path / "bad.png"))
    calls = []
    real = p.backend.logits
    monkeypatch.setattr(p.backend, "logits", lambda x: calls.append(len(x)) or real(x))
    out = list(predict_paths(p, paths, batch=3))
    assert [o[0] for o in out] == paths
    assert out[5][3] is not None and "bad.png" in out[5][3] and out[5][2] is None
    assert out[3][2] == [] and all(len(o[2]) == 1 for i, o in enumerate(out) if i not in (3, 5))
    assert calls == [3, 1, 2]  # 8 paths in chunks of 3 (one black, one bad): each chunk's faces in one batch
    single = p.predict(paths[0])
    np.testing.assert_allclose(list(single[0].probs.values()), list(out[0][2][0].probs.values()), atol=1e-5)


def test_list_images(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/1.jpg", "a/2.PNG", "a/notes.txt", "3.png"):
        (tmp_path / name).write_bytes(b"x")
    assert list_images([str(tmp_path / "a")]) == [str(tmp_path / "a/1.jpg"), str(tmp_path / "a/2.PNG")]
    assert list_images([str(tmp_path / "*.png"), str(tmp_path / "3.png")]) == [str(tmp_path / "3.png")]
    assert list_images([str(tmp_path / "missing.jpg")]) == [str(tmp_path / "missing.jpg")]
    with pytest.raises(FerkitError, match="no files match"):
        list_images([str(tmp_path / "*.gif")])


def test_csv_resume_refuses_other_columns(tmp_path):
    out = tmp_path / "r.csv"
    with ResultWriter(out, ["happy", "sad"]) as w:
        w.write({"path": "x.jpg", "faces": []})
    with pytest.raises(FerkitError, match="columns"):
        ResultWriter(out, ["angry", "happy"], resume=True)
    with ResultWriter(out, ["happy", "sad"], resume=True) as w:
        assert w.done == {"x.jpg"}
