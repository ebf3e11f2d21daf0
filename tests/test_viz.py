"""Plots return their figure and write a PNG when given a path; each copes with nothing to show."""

import cv2
import numpy as np
import pytest
import synth
from conftest import face_image

from ferkit import viz
from ferkit.data import read_source
from ferkit.inference.predictor import Face, Predictor

FACE = Face(box=(150, 140, 100, 120), probs={"happy": 0.7, "sad": 0.2, "neutral": 0.1}, label="happy", score=0.7)


def _png(path) -> tuple[int, int]:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img.shape[:2]


def test_plot_faces_with_and_without_faces(tmp_path):
    photo = face_image()
    fig = viz.plot_faces(photo, [FACE, FACE], crops=[np.zeros((48, 48), np.uint8)] * 2, path=tmp_path / "two.png")
    assert len(fig.axes) == 5  # the photo, then a crop and a bar chart per face
    assert _png(tmp_path / "two.png")
    assert len(viz.plot_faces(photo, [], path=tmp_path / "none.png").axes) == 1


def test_plot_prediction_shows_what_the_model_saw(tmp_path, model_file):
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), face_image())
    predictor = Predictor.from_file(model_file, detector="haar")
    fig = viz.plot_prediction(predictor, path, tmp_path / "pred.png")
    assert len(fig.axes) == 1 + 2 * len(predictor.predict(path)) and _png(tmp_path / "pred.png")


def test_plot_dataset_curves_and_reports(tmp_path):
    src = read_source(synth.write_fer2013_folders(tmp_path / "fer", train=3, test=2))
    viz.plot_dataset(src, path=tmp_path / "data.png")
    history = [{"epoch": i, "train_loss": 1.0 / (i + 1), "train_acc": 0.1 * i, "val_acc": 0.2, "val_acc/a": 0.2}
               for i in range(3)]  # fmt: skip
    viz.plot_curves(history, tmp_path / "curves.png")
    report = {"accuracy": 0.5, "macro_f1": 0.4, "confusion": {"classes": ["a", "b"], "matrix": [[1, 1], [0, 2]]}}
    fig = viz.plot_reports({"one": report, "two": report}, tmp_path / "reports.png")
    assert len(fig.axes) == 2
    for name in ("data.png", "curves.png", "reports.png"):
        assert _png(tmp_path / name)


def test_live_curves_outside_a_notebook_only_keep_the_history(capsys):
    curves = viz.LiveCurves()
    curves({"epoch": 0, "train_loss": 1.0, "train_acc": 0.5, "val_acc": 0.5})
    assert len(curves.history) == 1 and capsys.readouterr().out == ""


@pytest.mark.parametrize("n", [0, 1])
def test_plot_confusion_writes_a_png(tmp_path, n):
    classes = ["a", "b"][: n + 1]
    viz.plot_confusion(np.eye(len(classes), dtype=int).tolist(), classes, tmp_path / "cm.png", title="t")
    assert _png(tmp_path / "cm.png")
