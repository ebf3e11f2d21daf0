"""bench/model_card.py --int8-only: a re-export's table replaces the old one in the card and the README, and only it."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "model_card", Path(__file__).resolve().parents[1] / "bench" / "model_card.py"
)
model_card = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_card)

OLD = (
    (
        "\nExported ONNX, FER-2013 PrivateTest accuracy without TTA (`python bench/int8_accuracy.py "
        "src/ferkit/weights/m.ferkit`, same machine; ms per face at batch 1 on one thread):\n"
    )
    + """
| export | accuracy | points vs fp32 | ms/face | MB |
|---|---|---|---|---|
| fp32 | 69.41% | +0.00 | 3.88 | 24.6 |
| int8 static percentile | 69.30% | -0.11 | 1.31 | 6.3 |
"""
)


def result(acc: float) -> dict:
    return {"accuracy": acc, "ms per face (batch 1, 1 thread)": 1.0, "file MB": 6.3}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    for d in ("weights", "results"):
        (tmp_path / d).mkdir()
    monkeypatch.setattr(model_card, "WEIGHTS", tmp_path / "weights")
    monkeypatch.setattr(model_card, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(model_card, "ROOT", tmp_path)
    run = {"date": "2026-12-06 10:40 UTC", "machine": "x86_64, 2 CPUs, AMD EPYC (avx2)", "command": "c", "split": "s"}
    out = {"fp32": result(0.6941), "int8 static percentile": result(0.6935), "run": run}
    (tmp_path / "results" / "int8_accuracy-m.json").write_text(json.dumps(out))
    return tmp_path


def test_int8_only_rewrites_the_exports_table_in_card_and_readme(tree, monkeypatch):
    card = "# Model card: m\n\nbefore\n" + OLD + "\n## Limits\n- after\n"
    (tree / "weights" / "m.md").write_text(card)
    (tree / "README.md").write_text("<!-- model:start -->\nm" + OLD + "\nrest\n<!-- model:end -->\n")
    monkeypatch.setattr(sys, "argv", ["model_card.py", "--name", "m", "--int8-only"])
    assert model_card.main() == 0
    for path in (tree / "weights" / "m.md", tree / "README.md"):
        text = path.read_text()
        assert "69.30%" not in text and "| int8 static percentile | 69.35% | -0.06 | 1.00 | 6.3 |" in text
        assert "2026-12-06 10:40 UTC, x86_64, 2 CPUs, AMD EPYC (avx2); ms per face" in text
        assert "| run |" not in text  # the provenance entry is not an export
    assert card.replace(OLD, "") == (tree / "weights" / "m.md").read_text().replace(
        model_card.int8_table(json.loads((tree / "results" / "int8_accuracy-m.json").read_text()), "m"), ""
    )  # nothing else in the card changed


def test_int8_only_on_a_card_without_the_table_is_an_error(tree, monkeypatch):
    (tree / "weights" / "m.md").write_text("# Model card: m\n")
    (tree / "README.md").write_text("")
    monkeypatch.setattr(sys, "argv", ["model_card.py", "--name", "m", "--int8-only"])
    with pytest.raises(SystemExit, match="no exports table of m"):
        model_card.main()
