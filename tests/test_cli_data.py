import json

import pytest
import synth

from ferkit.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))


def test_inspect_json_counts(tmp_path, capsys):
    root = synth.fer2013_folders(tmp_path / "fer", {"train/angry": 2, "train/happy": 1, "test/happy": 2})
    assert main(["data", "inspect", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "fer2013" and out["path"] == str(root)
    assert out["splits"]["train"]["angry"] == 2 and out["splits"]["train"]["happy"] == 1
    assert out["splits"]["val"]["happy"] == 1 and out["splits"]["test"]["happy"] == 1


def test_inspect_table_grid_and_format(tmp_path, capsys):
    root = synth.ckplus(tmp_path / "ck", {"anger": 2, "sadness": 1})
    grid = tmp_path / "grid.png"
    assert main(["data", "inspect", str(root), "--grid", str(grid)]) == 0
    out = capsys.readouterr().out
    assert "format ckplus" in out and "angry" in out and "sad" in out and grid.exists()
    assert main(["data", "inspect", str(root / "CK+48"), "--format", "folder", "--json", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "folder"


def test_inspect_bad_input_raise_and_skip(tmp_path, capsys):
    root = synth.class_folders(tmp_path / "ds", {"happy": 2})
    synth.truncate(root / "happy/img0.png")
    assert main(["data", "inspect", str(root)]) == 1
    assert "img0.png" in capsys.readouterr().err
    assert main(["data", "inspect", str(root), "--on-error", "skip", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"]["count"] == 1


def test_dedupe_reports_leaks(tmp_path, capsys):
    a = synth.fer2013_folders(tmp_path / "a", {"train/angry": 3})
    b = synth.class_folders(tmp_path / "b", {"test/angry": 1})
    (b / "test/angry/img0.png").write_bytes((a / "train/angry/Training_1001.jpg").read_bytes())
    assert main(["data", "dedupe", str(a), str(b), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {"query": "b:test", "reference": "a:train", "query_rows": 1, "duplicates": 1} in rows
    assert main(["data", "dedupe", str(a), str(b), "--threshold", "0"]) == 0
    assert "b:test" in capsys.readouterr().out


def test_prepare_and_help(tmp_path, capsys):
    root = synth.class_folders(tmp_path / "ds", {"happy": 1})
    assert main(["data", "prepare", str(root)]) == 0
    assert "1 faces" in capsys.readouterr().out
    for verb in ([], ["inspect"], ["prepare"], ["dedupe"]):
        with pytest.raises(SystemExit):
            main(["data", *verb, "--help"])
        assert "example:" in capsys.readouterr().out


def test_eval_on_a_source_without_the_split_names_the_splits_it_has(tmp_path, capsys, model_file):
    root = synth.ckplus(tmp_path, {"anger": 2, "happy": 2})  # CK+ has a train split only
    assert main(["eval", str(model_file), "--data", str(root)]) == 1
    assert "no 'test' split (it has train); pass --split train" in capsys.readouterr().err
