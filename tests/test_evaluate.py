import json

import numpy as np
import pytest
from synth import write_fer2013_csv

from ferkit.cli import main
from ferkit.data import read_source
from ferkit.engine.evaluate import evaluate_model, evaluate_source
from ferkit.preprocess import tta_views

FER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def oracle(classes, wrong_every=0):
    """A logits function that reads the synthetic bar (row 4 + 6 * code) and answers in ``classes`` order."""

    def logits(x):
        rows = x[:, 0, :, 6:42].mean(2)  # (B, 48)
        code = np.array([np.argmax([r[4 + 6 * k : 8 + 6 * k].mean() for k in range(7)]) for r in rows])
        out = np.zeros((len(x), len(classes)), np.float32)
        for i, c in enumerate(code):
            name = FER[c]
            if wrong_every and i % wrong_every == 0:
                name = "contempt" if "contempt" in classes else FER[(c + 1) % 7]
            if name in classes:
                out[i, classes.index(name)] = 5.0
        return out

    return logits


def test_perfect_model_scores_one(tmp_path):
    src = read_source(write_fer2013_csv(tmp_path / "fer.csv"))
    rep = evaluate_source(oracle(FER), FER, src, "test")
    assert rep["n"] == 14 and rep["accuracy"] == 1.0 and rep["macro_f1"] == 1.0
    assert rep["excluded"] == {"test_classes_missing_from_model": {}, "model_classes_missing_from_test": []}


def test_model_class_missing_from_test_is_not_a_choice(tmp_path):
    # The model answers "contempt" for every third face, but FER-2013 cannot express contempt:
    # the choice is made among the 7 FER-2013 classes only, so contempt is never predicted or scored.
    classes = [*FER, "contempt"]
    src = read_source(write_fer2013_csv(tmp_path / "fer.csv"))
    rep = evaluate_source(oracle(classes, wrong_every=3), classes, src, "test")
    assert rep["excluded"]["model_classes_missing_from_test"] == ["contempt"]
    assert "contempt" not in rep["per_class"]
    assert rep["confusion"]["classes"] == FER


def test_test_class_missing_from_model_is_not_scored(tmp_path):
    classes = [c for c in FER if c != "disgust"]
    src = read_source(write_fer2013_csv(tmp_path / "fer.csv"))
    rep = evaluate_source(oracle(classes), classes, src, "test")
    assert rep["n"] == 12
    assert rep["excluded"]["test_classes_missing_from_model"] == {"disgust": 2}
    assert rep["accuracy"] == 1.0


def test_tta_views_keep_shape():
    faces = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    assert len(tta_views(faces, "none")) == 1
    flip = tta_views(faces, "flip")
    assert len(flip) == 2 and np.array_equal(flip[1], faces[:, :, ::-1])
    ten = tta_views(faces, "tencrop")
    assert len(ten) == 10 and all(v.shape == faces.shape for v in ten)


@pytest.mark.parametrize("tta", ["none", "tencrop"])
def test_eval_cli_json(tmp_path, model_file, capsys, tta):
    csv = write_fer2013_csv(tmp_path / "fer.csv")
    assert main(["eval", str(model_file), "--data", str(csv), "--json", "--tta", tta]) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "macro_f1", "per_class", "n", "excluded", "ece", "balanced_accuracy", "loss"):
        assert key in rep
    assert rep["n"] == 14 and rep["excluded"]["model_classes_missing_from_test"] == ["contempt"]
    assert rep["temperature"] == 1.5


def test_eval_cli_table_and_png(tmp_path, model_file, capsys):
    csv = write_fer2013_csv(tmp_path / "fer.csv")
    png = tmp_path / "cm.png"
    assert main(["eval", str(model_file), "--data", str(csv), "--data", str(csv), "--confusion-png", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.count("accuracy") == 2 and "confusion" in out and "excluded" in out
    assert len(list(tmp_path.glob("cm-*.png"))) == 2


def test_eval_cli_missing_data_is_an_error(tmp_path, model_file, capsys):
    assert main(["eval", str(model_file), "--data", str(tmp_path / "nope.zip")]) == 1
    assert "nope.zip" in capsys.readouterr().err


def test_evaluate_model_scores_a_file_with_its_temperature(tmp_path, model_file):
    from ferkit.inference.backends import load_backend

    src = read_source(write_fer2013_csv(tmp_path / "fer.csv"))
    rep = evaluate_model(model_file, src)
    backend, info = load_backend(model_file)
    direct = evaluate_source(backend.logits, list(info.classes), src, "test", "none", info.temperature)
    assert rep["model"] == str(model_file) and rep["temperature"] == 1.5
    assert rep["accuracy"] == direct["accuracy"] and rep["confusion"] == direct["confusion"]


def test_a_class_mix_moves_the_scores_as_the_predictor_does(tmp_path, model_file, capsys):
    from dataclasses import replace

    from ferkit.engine.checkpoint import load_model_file, save_model_file

    csv = write_fer2013_csv(tmp_path / "fer.csv")
    src = read_source(csv)
    assert evaluate_source(oracle(FER), FER, src, "test", weights=np.ones(7))["accuracy"] == 1.0
    w = np.ones(7)
    w[0] = 1e4  # the right class's logit 5 (e^5 ~ 148 times the rest) loses to a 10,000-fold weight on angry
    rep = evaluate_source(oracle(FER), FER, src, "test", weights=w)
    assert rep["per_class"]["angry"]["recall"] == 1.0 and rep["accuracy"] == rep["per_class"]["angry"]["support"] / 14
    assert main(["eval", str(model_file), "--data", str(csv), "--prior", "balanced"]) == 1
    assert "--prior: head 'default' records no class prior" in capsys.readouterr().err
    mf = load_model_file(model_file)
    mf.heads = [replace(mf.heads_now()[0], prior=(0.1, 0.02, 0.1, 0.3, 0.15, 0.1, 0.22, 0.01))]
    path = tmp_path / "with-prior.ferkit"
    save_model_file(mf, path)
    assert main(["eval", str(path), "--data", str(csv), "--json", "--prior", "angry=0.9"]) == 0
    cli = json.loads(capsys.readouterr().out)
    lib = evaluate_model(path, src, prior={"angry": 0.9})
    assert cli["prior"] == lib["prior"] == {"angry": 0.9} and cli["confusion"] == lib["confusion"]
    plain = evaluate_model(path, src)
    assert sum(r[0] for r in lib["confusion"]["matrix"]) > sum(r[0] for r in plain["confusion"]["matrix"])
