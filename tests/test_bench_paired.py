"""bench/paired.py: a paired bootstrap of two models' validation accuracy."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from synth import write_fer2013_csv

_spec = importlib.util.spec_from_file_location("paired", Path(__file__).resolve().parents[1] / "bench" / "paired.py")
paired = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paired)


def test_interval_brackets_the_resampled_differences():
    diffs = np.linspace(-0.01, 0.03, 101)
    got = paired.interval(diffs)
    assert got["ci90"] == pytest.approx([-0.008, 0.028])
    assert got["p_not_better"] == pytest.approx(26 / 101)


def test_a_model_against_itself_differs_by_nothing_and_is_never_better(tmp_path, monkeypatch, model_file):
    csv = write_fer2013_csv(tmp_path / "fer2013.csv")
    monkeypatch.setattr(paired, "SETS", [("fer2013", csv)])
    out = tmp_path / "paired.json"
    argv = ["paired.py", f"A={model_file}", f"B={model_file}", "--resamples", "200", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    assert paired.main() == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["set"] for r in rows] == ["fer2013", "mean"]
    assert rows[0]["n"] == 14 and rows[0]["diff"] == 0 and rows[0]["ci90"] == [0, 0]
    assert rows[1]["p_not_better"] == 1.0
    monkeypatch.setattr(sys, "argv", ["paired.py", f"A={model_file}", str(model_file)])
    with pytest.raises(SystemExit):
        paired.main()
