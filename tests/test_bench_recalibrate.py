"""bench/recalibrate.py: a model file calibrated again from the file alone gives what its run would give."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from synth import write_fer2013_csv

from ferkit.config import load_config
from ferkit.engine.checkpoint import load_model_file
from ferkit.engine.train import train

_spec = importlib.util.spec_from_file_location(
    "recalibrate", Path(__file__).resolve().parents[1] / "bench" / "recalibrate.py"
)
recalibrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recalibrate)


def test_recalibrating_the_file_alone_matches_the_run(tmp_path, monkeypatch):
    csv = write_fer2013_csv(tmp_path / "fer2013.csv")
    cfg = load_config(
        None,
        [
            f"data.sources=[{{path: {csv}}}]",
            "model.name=fernet_s",
            "model.kwargs={widths: [16, 16, 16, 16]}",
            "epochs=3",
            "batch_size=8",
            "threads=1",
            "amp=false",
            f"out={tmp_path / 'run'}",
            "calibrate.class_bias=true",  # offsets always, so that there are some to take out
            "calibrate.bags=3",
        ],
    )
    with pytest.warns(UserWarning):  # few validation faces per class
        run_file = train(cfg)
    run = load_model_file(run_file)
    assert any(run.metrics["calibration"]["class_bias"].values())
    out = tmp_path / "again"
    monkeypatch.setattr(sys, "argv", ["recalibrate.py", str(run_file), str(out), "--card", "the old card"])
    with pytest.warns(UserWarning):
        assert recalibrate.main() == 0
    trained, best = load_model_file(out / "best.ferkit"), load_model_file(tmp_path / "run" / "best.ferkit")
    for k, v in best.state_dict.items():  # the offsets taken back out give the network as trained
        torch.testing.assert_close(trained.state_dict[k], v, atol=1e-6, rtol=0)
    assert "calibration" not in trained.metrics
    again = load_model_file(out / "model.ferkit")
    for c, v in run.metrics["calibration"]["class_bias"].items():  # the same calibration as the run's
        assert again.metrics["calibration"]["class_bias"][c] == pytest.approx(v, abs=1e-6)
    assert again.metrics["calibration"]["temperatures"] == pytest.approx(run.metrics["calibration"]["temperatures"])
    for k, v in run.state_dict.items():
        torch.testing.assert_close(again.state_dict[k], v, atol=1e-5, rtol=0)
    assert again.metrics["recalibrated"]["card"] == "the old card" and again.metrics["train"] == run.metrics["train"]


def test_another_calibration_setting_applies_to_the_file(tmp_path, monkeypatch):
    csv = write_fer2013_csv(tmp_path / "fer2013.csv")
    overrides = [f"data.sources=[{{path: {csv}}}]", "model.kwargs={widths: [16, 16, 16, 16]}", "model.name=fernet_s"]
    overrides += ["epochs=2", "batch_size=8", "threads=1", "amp=false", f"out={tmp_path / 'run'}"]
    with pytest.warns(UserWarning):
        run_file = train(load_config(None, [*overrides, "calibrate.class_bias=true", "calibrate.bags=1"]))
    out = tmp_path / "none"
    monkeypatch.setattr(sys, "argv", ["recalibrate.py", str(run_file), str(out), "calibrate.class_bias=false"])
    assert recalibrate.main() == 0
    again = load_model_file(out / "model.ferkit")
    assert "class_bias" not in again.metrics["calibration"] and again.config["calibrate"]["class_bias"] is False
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():  # no offsets now: the network as trained
        torch.testing.assert_close(again.build()(x), load_model_file(out / "best.ferkit").build()(x))
