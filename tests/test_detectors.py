import hashlib

import cv2
import numpy as np
import pytest
from conftest import face_image

from ferkit.errors import DetectorError
from ferkit.inference import yunet_file
from ferkit.inference.detectors import DetectorFallbackWarning, HaarDetector, YuNetDetector, make_detector
from ferkit.inference.yunet_file import download_yunet, find_yunet

TWO_FACES = ((200, 240, 100), (480, 200, 60))


def test_yunet_finds_faces_with_landmarks(yunet_path):
    dets = YuNetDetector(yunet_path).detect(face_image(TWO_FACES))
    assert len(dets) == 2
    for d in sorted(dets, key=lambda d: d.box[0]):
        x, y, w, h = d.box
        assert 0.6 <= d.score <= 1 and w > 40 and h > 40
        assert d.landmarks.shape == (5, 2) and d.landmarks.dtype == np.float32
        assert d.landmarks[0, 0] < d.landmarks[1, 0]  # subject's right eye is on the image's left
        assert x < d.landmarks[2, 0] < x + w and y < d.landmarks[2, 1] < y + h


def test_yunet_gray_and_blank(yunet_path):
    det = YuNetDetector(yunet_path)
    assert det.detect(np.full((240, 320, 3), 100, np.uint8)) == []
    gray = cv2.cvtColor(face_image(), cv2.COLOR_BGR2GRAY)
    assert len(det.detect(gray)) == 1
    assert len(det.detect(cv2.cvtColor(face_image(), cv2.COLOR_BGR2BGRA))) == 1


def test_yunet_min_face_and_threshold(yunet_path):
    img = face_image(TWO_FACES)
    assert len(YuNetDetector(yunet_path, min_face=150).detect(img)) == 1
    assert YuNetDetector(yunet_path, score_threshold=0.999).detect(img) == []


def test_yunet_large_image_boxes_in_original_pixels(yunet_path):
    img = face_image()
    big = cv2.resize(img, None, fx=2, fy=2)  # 1280x960 > max_side 640: detected at half size
    (small,) = YuNetDetector(yunet_path).detect(img)
    (large,) = YuNetDetector(yunet_path).detect(big)
    np.testing.assert_allclose(np.array(large.box) / 2, small.box, atol=4)


def test_haar_finds_face_without_landmarks():
    dets = HaarDetector().detect(face_image())
    assert len(dets) == 1 and dets[0].landmarks is None
    x, y, w, h = dets[0].box
    assert x < 200 < x + w and y < 240 < y + h


def test_find_yunet_order(tmp_path, monkeypatch, yunet_path):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FERKIT_YUNET", raising=False)
    with pytest.raises(DetectorError, match="no YuNet model file"):
        find_yunet()
    with pytest.raises(DetectorError, match="no such"):
        find_yunet(tmp_path / "missing.onnx")
    assert find_yunet(yunet_path) == yunet_path
    monkeypatch.setenv("FERKIT_YUNET", str(yunet_path))
    assert find_yunet() == yunet_path
    monkeypatch.delenv("FERKIT_YUNET")
    yunet_file.cache_path().parent.mkdir(parents=True)
    yunet_file.cache_path().write_bytes(yunet_path.read_bytes())
    assert find_yunet() == yunet_file.cache_path()


def test_auto_falls_back_to_haar_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("FERKIT_YUNET", raising=False)
    with pytest.warns(DetectorFallbackWarning, match="Haar"):
        det = make_detector("auto", download=False)
    assert det.name == "haar"
    with pytest.raises(DetectorError):
        make_detector("yunet", download=False)
    with pytest.raises(DetectorError, match="unknown detector"):
        make_detector("mtcnn")  # type: ignore[arg-type]


def test_download_checksum(tmp_path):
    # A local file:// URL stands in for the release: no network in tests.
    src = tmp_path / "release.onnx"
    src.write_bytes(b"not really a model")
    dest = tmp_path / "cache" / "yunet.onnx"
    with pytest.raises(DetectorError, match="sha256"):
        download_yunet(dest, url=src.as_uri(), sha256="0" * 64)
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # nothing half-written is left
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    assert download_yunet(dest, url=src.as_uri(), sha256=good) == dest and dest.read_bytes() == src.read_bytes()
    with pytest.raises(DetectorError, match="could not download"):
        download_yunet(tmp_path / "x.onnx", url=(tmp_path / "absent").as_uri(), sha256=good)


def test_yunet_shared_between_threads(yunet_path):
    from concurrent.futures import ThreadPoolExecutor

    det = YuNetDetector(yunet_path)
    images = [face_image(), face_image(TWO_FACES, size=(400, 700))] * 4
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda im: len(det.detect(im)), images))
    assert counts == [1, 2] * 4


def test_onnxruntime_and_opencv_engines_agree(yunet_path):
    img = face_image(TWO_FACES, size=(333, 517))  # not a multiple of 32: padding must match OpenCV's
    a = sorted(YuNetDetector(yunet_path, engine="onnxruntime").detect(img), key=lambda d: d.box)
    b = sorted(YuNetDetector(yunet_path, engine="opencv").detect(img), key=lambda d: d.box)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.box, y.box, atol=1e-2)
        np.testing.assert_allclose(x.landmarks, y.landmarks, atol=1e-2)
        assert x.score == pytest.approx(y.score, abs=1e-4)


@pytest.mark.parametrize("engine", ["onnxruntime", "opencv"])
def test_bad_yunet_file(tmp_path, engine):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(DetectorError, match="bad.onnx"):
        YuNetDetector(bad, engine=engine)


def test_engine_auto_picks_by_input_shape(yunet_path, tmp_path):
    onnx = pytest.importorskip("onnx")
    assert YuNetDetector(yunet_path).engine == "onnxruntime"  # dynamic input (2026may)
    proto = onnx.load(str(yunet_path))
    for dim, v in zip(proto.graph.input[0].type.tensor_type.shape.dim[2:], (640, 640), strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = v
    fixed = tmp_path / "face_detection_yunet_2023mar.onnx"  # like the 2023mar release: fixed 640x640 input
    onnx.save(proto, str(fixed))
    det = YuNetDetector(fixed)
    assert det.engine == "opencv" and len(det.detect(face_image())) == 1
    with pytest.raises(DetectorError, match="fixed input size"):
        YuNetDetector(fixed, engine="onnxruntime")


def test_legacy_cache_name_is_found(tmp_path, monkeypatch, yunet_path):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("FERKIT_YUNET", raising=False)
    legacy = tmp_path / "face_detection_yunet_2023mar.onnx"
    legacy.write_bytes(yunet_path.read_bytes())
    assert find_yunet() == legacy


def test_a_close_up_the_detector_is_unsure_of_is_taken_only_when_nothing_else_is_a_face():
    from ferkit.inference.detectors import pick_faces

    def face(x, y, w, h, score):
        return [x, y, w, h, *([0.0] * 10), score]

    # a small sure face; big ones at 0.4, 0.2 (too weak) and 0.35 (not the best)
    faces = np.array([face(0, 0, 30, 30, 0.9), face(10, 10, 120, 120, 0.4), face(0, 0, 150, 150, 0.2),
                      face(5, 5, 110, 110, 0.35)], np.float32)  # fmt: skip
    assert pick_faces(faces, 200, 200, 0.6, 0.3)[:, 2].tolist() == [30]  # a sure face: the rule stays out of it
    assert pick_faces(faces[1:], 200, 200, 0.6, 0.3)[:, 2].tolist() == [120]  # the best big one above 0.3
    assert len(pick_faces(faces[1:], 200, 200, 0.6, None)) == 0  # off
    assert len(pick_faces(faces[1:2], 400, 400, 0.6, 0.3)) == 0  # 120x120 is under a quarter of 400x400


def test_yunet_takes_a_tight_crop_it_scores_below_the_threshold(yunet_path):
    """A face filling its image scores lower than the same face with context; the close-up rule keeps it."""
    img = face_image()  # one face on a background, found at the default threshold
    sure = YuNetDetector(yunet_path).detect(img)
    assert len(sure) == 1
    x, y, w, h = (int(v) for v in sure[0].box)
    crop = img[max(0, y + h // 6) : y + h, max(0, x + w // 8) : x + w - w // 8]  # no forehead, no ears: a tight crop
    strict = YuNetDetector(yunet_path, close_up=None).detect(crop)  # it scores about 0.5 there, under 0.6
    rescued = YuNetDetector(yunet_path).detect(crop)  # close-up: half the threshold, 0.3
    assert strict == [] and len(rescued) == 1 and 0.3 <= rescued[0].score < 0.6
    assert rescued[0].box[2] * rescued[0].box[3] >= 0.25 * crop.shape[0] * crop.shape[1]


def test_the_close_up_rule_is_an_option_of_every_path(yunet_path, model_file):
    from ferkit.inference.predictor import Predictor

    on = Predictor.from_file(model_file, detector="yunet", yunet=yunet_path).detector
    off = Predictor.from_file(model_file, detector="yunet", yunet=yunet_path, close_up=0).detector
    strict = make_detector("yunet", yunet_path, score_threshold=0.9)
    assert (on.close_up, off.close_up, strict.close_up) == (pytest.approx(0.3), None, pytest.approx(0.45))
    with pytest.raises(ValueError, match=r"close_up must be a fraction .* got 1.5"):
        YuNetDetector(yunet_path, close_up=1.5)
