import json

import numpy as np
import pytest
import torch
from synth import write_fer2013_csv

from ferkit.cli import main
from ferkit.config import load_config
from ferkit.engine.checkpoint import ModelFile, load_model_file, save_model_file
from ferkit.engine.losses import partial_label_loss
from ferkit.engine.run_data import prepare_data
from ferkit.engine.train import train
from ferkit.errors import ModelFileError
from ferkit.heads import Head, column_names, head_for_source, head_slices, match_columns, pick_head, prior_weights
from ferkit.inference.backends import load_backend
from ferkit.inference.predictor import Predictor
from ferkit.models import build_model, head_of

FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
A = Head("a", FER7, ("fer2013",))
B = Head("b", ("happy", "neutral", "contempt"), ("ferplus",))


def test_columns_slices_and_lookup():
    assert column_names([A]) == list(FER7)
    assert column_names([A, B])[7:] == ["b/happy", "b/neutral", "b/contempt"]
    assert head_slices([A, B]) == {"a": slice(0, 7), "b": slice(7, 10)}
    assert pick_head([A, B]) == (A, slice(0, 7))
    assert pick_head([A, B], "b") == (B, slice(7, 10))
    with pytest.raises(KeyError, match="heads: a, b"):
        pick_head([A, B], "c")
    assert head_for_source([A, B], "ferplus") is B and head_for_source([A, B], "rafdb") is A
    assert head_for_source([A, Head("c", FER7, ("fer2013#1",))], "fer2013") is A  # the first that matches


def test_match_columns_by_head_then_source_then_default():
    single = [Head("default", FER7 + ("contempt",), ("fer2013", "ferplus"))]
    # a single-head file starts every head of a two-head model, class by class
    assert match_columns([A, B], single) == list(range(7)) + [3, 6, 7]
    # same head name first; a head the source model lacks falls back to a head sharing a source, then the default
    other = [Head("x", ("contempt", "happy")), Head("b", ("neutral",), ("ferplus",))]
    assert match_columns([B], other) == [0 + 1, 2, 0]  # happy from x (default), neutral from b, contempt from x
    assert match_columns([Head("c", ("fear",))], [B]) == [-1]


def _two_head_config(tmp_path, epochs=4):
    csv = write_fer2013_csv(tmp_path / "fer2013.csv")
    return load_config(
        None,
        [
            f"data.sources=[{{path: {csv}, head: a}}, {{path: {csv}, head: b}}]",
            "data.group_faces=true",
            "model.name=fernet_s",
            "model.kwargs={widths: [16, 16, 16, 16]}",
            f"epochs={epochs}",
            "batch_size=8",
            "threads=1",
            "amp=false",
            f"out={tmp_path / 'run'}",
        ],
    )


def test_each_label_trains_only_its_own_head(tmp_path):
    cfg = _two_head_config(tmp_path)
    data = prepare_data(cfg)
    assert [h.name for h in data.heads] == ["a", "b"] and data.heads[0].sources == ("fer2013#0",)
    cols = head_slices(data.heads)
    first = data.train.source == 0
    assert data.train.masks[first][:, cols["b"]].sum() == 0 and data.train.masks[~first][:, cols["a"]].sum() == 0
    model = build_model("fernet_s", num_classes=len(column_names(data.heads)), widths=(16, 16, 16, 16))
    x = torch.from_numpy(data.train.images[first][:16]).unsqueeze(1).float() / 255
    y, m = (torch.from_numpy(a[first][:16]) for a in (data.train.targets, data.train.masks))
    partial_label_loss(model(x), y, m).backward()
    grad = head_of(model)[1].weight.grad
    assert grad[cols["a"]].abs().sum() > 0 and grad[cols["b"]].abs().sum() == 0


def test_two_head_run_records_heads_and_every_backend_picks_one(tmp_path, capsys):
    cfg = _two_head_config(tmp_path)
    path = train(cfg)
    mf = load_model_file(path)
    assert [h.name for h in mf.heads] == ["a", "b"] and len(mf.classes) == 14
    assert mf.classes[7] == "b/angry" and all(h.temperature > 0 for h in mf.heads)
    assert set(mf.metrics["calibration"]["temperatures"]) == {"a", "b"}
    for h in mf.heads:  # each head's class mix: its mean calibrated probabilities on its validation faces
        assert len(h.prior) == len(h.classes) and abs(sum(h.prior) - 1) < 1e-5 and min(h.prior) > 0
    faces = np.stack([np.full((48, 48), 40 * i, np.uint8) for i in range(4)])
    a = Predictor.from_file(path, detector="haar")
    b = Predictor.from_file(path, detector="haar", head="b")
    assert a.head == "a" and a.classes == FER7 and b.classes == FER7
    full = load_model_file(path).build()
    with torch.no_grad():
        logits = full(torch.from_numpy(faces).unsqueeze(1).float() / 255).numpy()
    t_b = mf.heads[1].temperature
    expected = np.exp(logits[:, 7:] / t_b) / np.exp(logits[:, 7:] / t_b).sum(1, keepdims=True)
    np.testing.assert_allclose(b.classify(faces), expected, atol=1e-5)
    with pytest.raises(ModelFileError, match="heads: a, b"):
        Predictor.from_file(path, detector="haar", head="c")
    # ONNX carries every head
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(path), "--out", str(onnx_path)]) == 0
    onnx_b = Predictor.from_file(onnx_path, detector="haar", head="b")
    np.testing.assert_allclose(onnx_b.classify(faces), b.classify(faces), atol=1e-4)
    _, info = load_backend(onnx_path)
    assert [h.name for h in info.heads] == ["a", "b"] and info.heads[1].prior == mf.heads[1].prior
    balanced = Predictor.from_file(onnx_path, detector="haar", head="b", prior="balanced")
    w = 1 / np.array(mf.heads[1].prior)
    expected = onnx_b.classify(faces) * w
    np.testing.assert_allclose(balanced.classify(faces), expected / expected.sum(1, keepdims=True), atol=1e-5)
    # eval scores a source with the head of its convention, and says which
    capsys.readouterr()
    csv = tmp_path / "fer2013.csv"
    assert main(["eval", str(path), "--data", str(csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["head"] == "a"
    assert main(["eval", str(path), "--data", str(csv), "--json", "--head", "b"]) == 0
    cli_b = json.loads(capsys.readouterr().out)
    assert cli_b["head"] == "b"
    # so does the library's evaluate_model, with the same numbers as the CLI
    from ferkit.data import load_source
    from ferkit.engine.evaluate import evaluate_model

    src = load_source(csv)
    assert evaluate_model(path, src, backend="torch")["head"] == "a"
    lib_b = evaluate_model(path, src, backend="torch", head="b")
    assert lib_b["head"] == "b" and lib_b["accuracy"] == cli_b["accuracy"] and lib_b["n"] == cli_b["n"]


def test_prior_weights_move_a_head_to_another_class_mix():
    h = Head("b", ("happy", "neutral", "contempt"), prior=(0.3, 0.6, 0.1))
    np.testing.assert_allclose(prior_weights(h, "balanced"), [1 / 0.3, 1 / 0.6, 1 / 0.1])
    # contempt named at 40%: the other two keep their ratio (1:2) in the remaining 60%
    np.testing.assert_allclose(prior_weights(h, {"contempt": 0.4}), [0.2 / 0.3, 0.4 / 0.6, 0.4 / 0.1])
    np.testing.assert_allclose(prior_weights(h, {"happy": 1, "neutral": 1, "contempt": 2}), [0.25 / 0.3, 0.25 / 0.6,
                               0.5 / 0.1])  # fmt: skip
    assert Head.from_dict(h.to_dict()) == h and "prior" not in Head("a", ("x",)).to_dict()
    for bad, match in [({"bored": 0.1}, "unknown class 'bored'.*'happy', 'neutral', 'contempt'"),
                       ({"happy": 0}, "share of 'happy' must be a positive number, got 0"),
                       ({"happy": "x"}, "positive number"), ({"happy": float("nan")}, "positive number"),
                       ({"happy": 0.5, "neutral": 0.6}, "sum to 1.1"), ("skewed", "'balanced' or shares")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            prior_weights(h, bad)
    with pytest.raises(ValueError, match="head 'a' records no class prior.*--resume"):
        prior_weights(Head("a", ("x", "y")), "balanced")


def test_single_head_version_1_files_still_load(tmp_path):
    model = build_model("fernet_s", num_classes=7, widths=(16, 16, 16, 16))
    mf = ModelFile("fernet_s", {"widths": [16, 16, 16, 16]}, list(FER7), temperature=1.3, state_dict=model.state_dict())
    d = mf.to_dict()
    del d["heads"]
    d["version"] = 1
    torch.save(d, tmp_path / "old.ferkit")
    old = load_model_file(tmp_path / "old.ferkit")
    assert [h.name for h in old.heads] == ["default"] and old.heads[0].classes == FER7
    p = Predictor.from_file(tmp_path / "old.ferkit", detector="haar")
    assert p.classes == FER7 and p.info.temperature == pytest.approx(1.3)
    save_model_file(old, tmp_path / "new.ferkit")
    assert load_model_file(tmp_path / "new.ferkit").heads[0].temperature == pytest.approx(1.3)


def test_heads_that_do_not_match_the_columns_are_refused():
    with pytest.raises(ModelFileError, match="do not match"):
        ModelFile("fernet_s", {}, list(FER7), heads=[A, B])
