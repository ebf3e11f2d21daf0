"""The test-time view (``Preprocessing.zoom``): what it does to faces, that model files and ONNX carry it, and that
every path from uint8 faces to model input applies it."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
from synth import write_fer2013_csv

from ferkit.data import read_source
from ferkit.engine.checkpoint import load_model_file, save_model_file
from ferkit.engine.evaluate import evaluate_source, predict_logits
from ferkit.inference.backends import load_backend
from ferkit.inference.predictor import Predictor
from ferkit.preprocess import Preprocessing, softmax, to_input, tta_views, zoom_faces


def _faces(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_zoom_one_is_identity():
    faces = _faces()
    assert zoom_faces(faces, 1.0) is faces
    for tta in ("none", "flip", "tencrop"):
        for a, b in zip(tta_views(faces, tta, 1.0), tta_views(faces, tta), strict=True):
            np.testing.assert_array_equal(a, b)
    assert zoom_faces(np.zeros((0, 48, 48), np.uint8), 1.2).shape == (0, 48, 48)


def test_zoom_enlarges_the_centre():
    face = np.zeros((1, 48, 48), np.uint8)
    face[0, 14:34, 14:34] = 255  # a centred 20 px square
    out = zoom_faces(face, 1.2)
    assert out.shape == face.shape and out.dtype == np.uint8
    assert (out[0] > 127).sum() == 24 * 24  # 20 px * 1.2, still centred
    assert (out[0, 12:36, 12:36] > 127).all()
    # equal to resizing the centre square of side 48 / zoom back to 48, when that side is whole (40 px); only the
    # outermost output pixels differ: they blend in the pixels just outside the square, which a crop cannot see
    faces = _faces()
    crop = np.stack([cv2.resize(f[4:44, 4:44], (48, 48), interpolation=cv2.INTER_LINEAR) for f in faces])
    assert np.abs(zoom_faces(faces, 1.2).astype(int) - crop)[:, 1:-1, 1:-1].max() <= 1


def test_tta_views_are_taken_of_the_zoomed_faces():
    faces = _faces()
    zoomed = zoom_faces(faces, 1.1)
    for a, b in zip(tta_views(faces, "tencrop", 1.1), tta_views(zoomed, "tencrop"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_preprocessing_round_trip_and_old_files():
    p = Preprocessing(size=48, margin=0.1, align=False, zoom=1.08)
    assert Preprocessing.from_dict(p.to_dict()) == p
    assert Preprocessing.from_dict({"size": 48, "margin": 0.0, "align": True}).zoom == 1.0  # written before zoom
    with pytest.raises(ValueError, match="zoom"):
        Preprocessing(zoom=0.0)


@pytest.fixture(scope="module")
def zoomed_file(model_file, tmp_path_factory):
    mf = load_model_file(model_file)
    mf.preprocessing = replace(mf.preprocessing, zoom=1.1)
    path = tmp_path_factory.mktemp("zoom") / "zoomed.ferkit"
    save_model_file(mf, path)
    return path


def test_model_file_and_onnx_carry_zoom(zoomed_file, tmp_path):
    from ferkit.export import export_onnx

    assert load_model_file(zoomed_file).preprocessing.zoom == 1.1
    onnx_path = export_onnx(zoomed_file, tmp_path / "m.onnx")
    _, info = load_backend(onnx_path)
    assert info.preprocessing.zoom == 1.1 and info.preprocessing == load_model_file(zoomed_file).preprocessing


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_predictor_applies_zoom(zoomed_file, tta, monkeypatch):
    faces = _faces(5, seed=1)
    p = Predictor.from_file(zoomed_file, backend="torch", detector="haar", tta=tta)
    backend, info = load_backend(zoomed_file, "torch")
    views = tta_views(zoom_faces(faces, 1.1), tta)
    logits = [backend.logits(to_input(np.ascontiguousarray(v))) for v in views]
    expected = softmax(np.log(np.mean([softmax(z) for z in logits], 0)), info.temperature)
    seen = []
    real = p.backend.logits
    monkeypatch.setattr(p.backend, "logits", lambda x: seen.append(x) or real(x))
    np.testing.assert_allclose(p.classify(faces), expected, atol=1e-5)
    np.testing.assert_array_equal(seen[0], to_input(np.concatenate(views)))  # the zoomed faces, in one batch


def test_evaluation_applies_zoom(tmp_path):
    src = read_source(write_fer2013_csv(tmp_path / "fer.csv"))
    seen = []

    def logits_fn(x):
        seen.append(x)
        return np.zeros((len(x), 7), np.float32)

    faces = src.split("test").images
    predict_logits(logits_fn, faces, zoom=1.15)
    np.testing.assert_array_equal(seen[-1], to_input(zoom_faces(faces, 1.15)))
    fer = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    rep = evaluate_source(logits_fn, fer, src, "test", zoom=1.15)
    np.testing.assert_array_equal(seen[-1], to_input(zoom_faces(faces, 1.15)))
    assert rep["zoom"] == 1.15
