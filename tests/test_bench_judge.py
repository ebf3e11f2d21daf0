"""bench/judge.py: the accuracy clauses of a training rule, read from bench/zoom.py's and bench/degrade.py's JSON."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("judge", Path(__file__).resolve().parents[1] / "bench" / "judge.py")
judge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(judge)


def write(tmp_path, name, fer, ferplus, drop_fer=-3.0, drop_ferplus=-3.0):
    """The two scripts' JSON for a file with these clean accuracies and the same drop under both conditions."""
    zoom = tmp_path / f"zoom-{name}.json"
    rows = [{"set": "fer2013", "zoom": 1.0, "tta": "none", "accuracy": fer / 100}]
    rows += [{"set": "fer2013", "zoom": 1.064, "tta": "none", "accuracy": 0.0}]  # another zoom: not read
    rows += [{"set": "ferplus", "zoom": 1.0, "tta": "none", "accuracy": ferplus / 100}]
    zoom.write_text(json.dumps({"rows": rows}))
    degrade = tmp_path / f"degrade-{name}.json"
    results = []
    for s, clean, drop in (("fer2013", fer, drop_fer), ("ferplus", ferplus, drop_ferplus)):
        results.append({"set": s, "condition": "none", "accuracy": clean / 100})
        results += [{"set": s, "condition": c, "accuracy": (clean + drop) / 100} for c in judge.CONDITIONS]
    degrade.write_text(json.dumps({"results": results}))
    return judge.read(zoom, degrade)


def test_read_takes_zoom_1_without_tta_and_the_drops_in_points(tmp_path):
    got = write(tmp_path, "a", 68.0, 84.0, drop_fer=-3.5, drop_ferplus=-2.0)
    assert got["clean"] == pytest.approx({"fer2013": 68.0, "ferplus": 84.0}) and got["mean"] == pytest.approx(76.0)
    assert got["drops"]["fer2013", "JPEG quality 30"] == pytest.approx(-3.5)
    assert got["drops"]["ferplus", "low resolution 24 px"] == pytest.approx(-2.0)


@pytest.mark.parametrize(
    "cand, verdict",
    [
        ((68.4, 84.2, -3.0, -3.0), "meets"),  # +0.30 exactly, drops equal
        ((68.4, 84.1, -3.0, -3.0), "does not meet"),  # +0.25
        ((69.0, 85.0, -3.0, -3.1), "does not meet"),  # +1.0, but one drop is worse
    ],
)
def test_verdict_needs_the_gain_and_no_worse_drop(tmp_path, monkeypatch, capsys, cand, verdict):
    files = {"base": write(tmp_path, "base", 68.0, 84.0), "cand": write(tmp_path, "cand", *cand)}
    monkeypatch.setattr(judge, "measure", lambda name, path: files[name])
    monkeypatch.setattr(sys, "argv", ["judge.py", "cand=c.ferkit", "base=b.ferkit", "--gain", "0.30"])
    assert judge.main() == 0
    out = capsys.readouterr().out
    assert f"verdict: cand {verdict} the accuracy clauses against base" in out
    assert "| clean, zoom 1.0, TTA none | 68.00% / 84.00%, mean 76.00% |" in out


def test_a_file_argument_without_a_name_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["judge.py", "c.ferkit", "base=b.ferkit"])
    with pytest.raises(SystemExit) as e:
        judge.main()
    assert e.value.code == 2
