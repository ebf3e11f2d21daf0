import cv2
import numpy as np
import pytest
from conftest import face_image

import ferkit
from ferkit.errors import DetectorError, ImageError, ModelFileError
from ferkit.inference.backends import load_backend
from ferkit.inference.detectors import Detection, HaarDetector, YuNetDetector
from ferkit.inference.predictor import PRETRAINED, Face, Predictor, softmax
from ferkit.preprocess import to_input

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")


class FixedDetector:
    """Returns the same boxes for every image: predictor tests need no real detector."""

    name = "fixed"

    def __init__(self, dets):
        self.dets = dets

    def detect(self, image):
        return list(self.dets)


DETS = [Detection((100.0, 120.0, 200.0, 240.0), 0.9, None), Detection((400.0, 100.0, 120.0, 150.0), 0.8, None)]


@pytest.fixture(scope="module")
def onnx_file(model_file, tmp_path_factory):
    from ferkit.export import export_onnx

    return export_onnx(model_file, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(params=["torch", "onnx"])
def predictor(request, model_file, onnx_file):
    path = model_file if request.param == "torch" else onnx_file
    return Predictor.from_file(path, detector=FixedDetector(DETS))


def test_lazy_top_level_names():
    assert ferkit.Predictor is Predictor and ferkit.Face is Face


def test_predict_faces(predictor):
    faces = predictor.predict(face_image())
    assert len(faces) == 2
    for f, d in zip(faces, DETS, strict=True):
        assert f.box == d.box and f.landmarks is None and f.detection_score == pytest.approx(d.score)
        assert tuple(f.probs) == CLASSES  # the model's own order
        assert sum(f.probs.values()) == pytest.approx(1, abs=1e-5)
        assert f.label == max(f.probs, key=f.probs.get) and f.score == f.probs[f.label]
    d = faces[0].to_dict()
    assert set(d) == {"box", "label", "score", "probs", "landmarks", "detection_score"}


def test_one_batch_for_all_faces(predictor, monkeypatch):
    calls = []
    real = predictor.backend.logits
    monkeypatch.setattr(predictor.backend, "logits", lambda x: calls.append(x.shape) or real(x))
    predictor.predict(face_image())
    assert calls == [(2, 1, 48, 48)]


def test_classify_and_temperature(predictor, model_file):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    probs = predictor.classify(crops)
    assert probs.shape == (5, 8) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert predictor.info.temperature == 1.5
    backend, _ = load_backend(model_file, "torch")
    np.testing.assert_allclose(probs, softmax(backend.logits(to_input(crops)) / 1.5), atol=1e-4)
    assert predictor.classify(crops[0]).shape == (1, 8)
    np.testing.assert_allclose(predictor.classify(crops[0]), probs[:1], atol=1e-5)
    big = cv2.resize(crops[1], (96, 96))  # another size is resized like the dataset adapters do
    assert predictor.classify(big).shape == (1, 8)
    assert predictor.classify(np.zeros((0, 48, 48), np.uint8)).shape == (0, 8)
    with pytest.raises(ValueError):
        predictor.classify(np.zeros((2, 48, 48, 3), np.uint8))


def test_flip_tta_averages_a_face_and_its_mirror(predictor, model_file, monkeypatch):
    crops = np.random.default_rng(1).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    predictor.tta = "flip"
    probs = predictor.classify(crops)
    backend, _ = load_backend(model_file, "torch")
    views = [softmax(backend.logits(to_input(np.ascontiguousarray(v)))) for v in (crops, crops[:, :, ::-1])]
    expected = softmax(np.log((views[0] + views[1]) / 2) / 1.5)  # mean over views, then the temperature
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    np.testing.assert_allclose(predictor.classify(crops[:, :, ::-1]), probs, atol=1e-5)  # mirror-blind now
    calls = []
    real = predictor.backend.logits
    monkeypatch.setattr(predictor.backend, "logits", lambda x: calls.append(x.shape) or real(x))
    predictor.tta = "tencrop"
    assert predictor.classify(crops).shape == (3, 8) and calls == [(30, 1, 48, 48)]  # every view in one batch
    with pytest.raises(ValueError, match="tta"):
        Predictor.from_file(model_file, detector=FixedDetector(DETS), tta="mirror")


def test_inputs_path_bytes_rgb(predictor, tmp_path):
    img = face_image()
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), img)
    a = predictor.predict(img)
    b = predictor.predict(path)
    c = predictor.predict(path.read_bytes())
    d = predictor.predict(img[..., ::-1].copy(), color="rgb")
    e = predictor.predict(str(path))
    for other in (b, c, d, e):  # PNG is lossless: the same pixels, the same probabilities
        for x, y in zip(a, other, strict=True):
            np.testing.assert_allclose(list(x.probs.values()), list(y.probs.values()), atol=1e-5)
    with pytest.raises(ImageError, match="nothing.jpg"):
        predictor.predict(tmp_path / "nothing.jpg")


def test_no_face_is_empty(model_file):
    p = Predictor.from_file(model_file, detector=FixedDetector([]))
    assert p.predict(np.zeros((100, 100, 3), np.uint8)) == []  # over 96 px a side: a photo without faces


def test_a_small_image_without_a_found_face_is_a_face_crop(model_file):
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (90, 70, 3), np.uint8)  # at most 96 px a side: a face crop, as class folders say
    p = Predictor.from_file(model_file, detector=FixedDetector([]))
    (f,) = p.predict(crop)
    assert f.whole and f.detection_score == 0.0 and f.box == (0.0, 0.0, 70.0, 90.0) and f.landmarks is None
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)  # classified as it is: no margin, resized like a dataset crop
    np.testing.assert_allclose(
        list(f.probs.values()), p.classify(cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA))[0], atol=1e-5
    )
    assert Predictor.from_file(model_file, detector=FixedDetector([]), whole_image="never").predict(crop) == []
    assert p.predict(np.full((40, 40, 3), 128, np.uint8)) == []  # one flat grey is never a face crop
    assert p.predict(crop[:15]) == [] and len(p.predict(crop[:16])) == 1  # nor is a sliver under 16 px
    found = Predictor.from_file(model_file, detector=FixedDetector([Detection((10.0, 10.0, 40.0, 50.0), 0.9)]))
    (g,) = found.predict(crop)  # a face found in a small image: its detected crop, not the whole image
    assert not g.whole and g.box == (10.0, 10.0, 40.0, 50.0)


def test_whole_image_always_takes_any_image_without_a_found_face(model_file, tmp_path):
    big = face_image(size=(200, 160))
    p = Predictor.from_file(model_file, detector=FixedDetector([]), whole_image="always")
    (f,) = p.predict(big)
    assert f.whole and f.box == (0.0, 0.0, 160.0, 200.0)
    assert Predictor.from_file(model_file, detector=FixedDetector([])).predict(big) == []
    with pytest.raises(ValueError, match="whole_image must be one of small, always, never"):
        Predictor.from_file(model_file, detector=FixedDetector([]), whole_image="crops")


def test_real_detectors_end_to_end(model_file, yunet_path):
    img = face_image(faces=((200, 240, 100), (480, 200, 60)))
    p = Predictor.from_file(model_file, detector="yunet", yunet=yunet_path)
    assert isinstance(p.detector, YuNetDetector)
    faces = p.predict(img)
    assert len(faces) == 2 and all(f.landmarks is not None and len(f.landmarks) == 5 for f in faces)
    small = Predictor.from_file(model_file, detector="yunet", yunet=yunet_path, det_size=320)
    assert small.detector.max_side == 320 and len(small.predict(img)) == 2
    h = Predictor.from_file(model_file, detector="haar")
    assert isinstance(h.detector, HaarDetector) and len(h.predict(img)) == 2


def test_backends_agree_through_predict(model_file, onnx_file):
    img = face_image()
    t = Predictor.from_file(model_file, backend="torch", detector=FixedDetector(DETS)).predict(img)
    o = Predictor.from_file(onnx_file, backend="onnx", detector=FixedDetector(DETS), threads=1).predict(img)
    m = Predictor.from_file(model_file, backend="onnx", detector=FixedDetector(DETS)).predict(img)  # in-memory
    for a, b, c in zip(t, o, m, strict=True):
        np.testing.assert_allclose(list(a.probs.values()), list(b.probs.values()), atol=1e-4)
        np.testing.assert_allclose(list(a.probs.values()), list(c.probs.values()), atol=1e-4)


def test_model_file_errors(tmp_path, onnx_file):
    with pytest.raises(ModelFileError, match="no such model file"):
        Predictor.from_file(tmp_path / "none.ferkit")
    with pytest.raises(ModelFileError, match="onnx backend"):
        Predictor.from_file(onnx_file, backend="torch")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="junk.onnx"):
        Predictor.from_file(tmp_path / "junk.onnx")


def test_from_pretrained_runs_onnx_by_default(tmp_path, monkeypatch, model_file, onnx_file):
    from ferkit import shipped

    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ModelFileError, match=f"{PRETRAINED}: not a shipped model"):
        Predictor.from_pretrained()
    (tmp_path / f"{PRETRAINED}.onnx").write_bytes(onnx_file.read_bytes())
    assert Predictor.from_pretrained(detector=FixedDetector([])).backend.name == "onnx"
    with pytest.raises(ModelFileError, match=f"{PRETRAINED}: no torch file in this installation"):
        Predictor.from_pretrained(backend="torch")
    (tmp_path / f"{PRETRAINED}.ferkit").write_bytes(model_file.read_bytes())
    assert Predictor.from_pretrained(detector=FixedDetector([])).backend.name == "onnx"
    assert Predictor.from_pretrained(backend="torch", detector=FixedDetector([])).backend.name == "torch"
    with monkeypatch.context() as m:  # no ONNX Runtime: torch and the .ferkit file
        m.setattr(shipped, "_installed", lambda module: module != "onnxruntime")
        assert Predictor.from_pretrained(detector=FixedDetector([])).backend.name == "torch"


def test_models_are_chosen_by_name(tmp_path, monkeypatch, model_file, onnx_file):
    from ferkit import shipped

    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path)
    (tmp_path / "ferkit-s.ferkit").write_bytes(model_file.read_bytes())
    (tmp_path / "ferkit-l.int8.onnx").write_bytes(onnx_file.read_bytes())  # an int8-only ONNX model still resolves
    assert shipped.shipped_models() == ["ferkit-l", "ferkit-s"]
    assert Predictor.from_pretrained("ferkit-s", detector=FixedDetector([])).backend.name == "torch"
    assert Predictor.from_pretrained("ferkit-l", detector=FixedDetector([])).backend.name == "onnx"
    assert shipped.resolve_model("ferkit-l", "onnx") == tmp_path / "ferkit-l.int8.onnx"
    assert shipped.resolve_model(str(model_file)) == model_file  # a path still works
    with pytest.raises(ModelFileError, match="ferkit-xl: no such model file, and not a shipped model's name"):
        shipped.resolve_model("ferkit-xl")
    with pytest.raises(ModelFileError, match=r"shipped: ferkit-l, ferkit-s"):
        Predictor.from_pretrained("ferkit-m")


def test_building_a_predictor_never_waits_on_the_network(tmp_path, monkeypatch, onnx_file):
    from ferkit.inference import yunet_file
    from ferkit.inference.detectors import DetectorFallbackWarning

    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FERKIT_YUNET", raising=False)
    calls = []

    def unreachable(dest=None, url="", sha256="", timeout=0.0):
        calls.append(timeout)
        raise DetectorError("could not download YuNet: timed out")

    monkeypatch.setattr(yunet_file, "download_yunet", unreachable)
    p = Predictor.from_file(onnx_file)
    assert p.classify(np.zeros((2, 48, 48), np.uint8)).shape == (2, 8) and calls == []
    assert "loaded on first use" in repr(p)
    with pytest.warns(DetectorFallbackWarning, match="timed out"):
        p.predict(np.zeros((64, 64, 3), np.uint8))  # the first detection tries, briefly, then falls back
    assert calls == [yunet_file.ON_DEMAND_TIMEOUT] and p.detector.name == "haar"
    with pytest.warns(DetectorFallbackWarning, match="min ago"):  # another predictor (or process): remembered
        Predictor.from_file(onnx_file).predict(np.zeros((64, 64, 3), np.uint8))
    assert len(calls) == 1
    with pytest.raises(DetectorError, match="timed out"):  # fetch-models tries whatever was remembered
        yunet_file.fetch_yunet()
    assert calls[-1] == yunet_file.FETCH_TIMEOUT


def test_onnx_inference_without_torch(onnx_file, tmp_path):
    """Inference needs only onnxruntime: run predict in a fresh interpreter where importing torch fails."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    img = tmp_path / "face.png"
    cv2.imwrite(str(img), face_image())
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Block())
import ferkit
from ferkit.inference.detectors import HaarDetector
p = ferkit.Predictor.from_file({str(onnx_file)!r}, detector=HaarDetector())
assert len(p.predict({str(img)!r})) == 1 and "torch" not in sys.modules
print("ok")
"""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
