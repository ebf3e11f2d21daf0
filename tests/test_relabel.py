"""Naming numbered classes: a label table's or class folder's 0..6 by a dataset's code order or a mapping."""

import numpy as np
import pytest
import synth

from ferkit.config import config_from_dict
from ferkit.data import load_source
from ferkit.data.relabel import CODE_ORDERS, relabel
from ferkit.errors import DataError


@pytest.fixture
def numbered(tmp_path):
    """A label table whose labels are FER-2013 codes (3 happy, 0 angry, 6 neutral, 3.0 happy again)."""
    return synth.label_table(tmp_path / "t", {"images/a.jpg": "3", "images/b.jpg": "0", "images/c.jpg": "6",
                                              "images/d.jpg": "3.0"})  # fmt: skip


def test_a_code_order_names_the_numbers(numbered):
    raw = load_source(numbered, cache=False)
    assert raw.taxonomy.classes == ("0", "3", "3.0", "6") and raw.taxonomy.canonical() == (None,) * 4
    with pytest.raises(DataError, match="classes '3' and '3.0' would both be 'happy'"):
        relabel(raw, "fer2013")  # two spellings of one code in the table: the user must merge them
    src = load_source(synth.label_table(numbered.parent / "u", {"images/a.jpg": "3", "images/b.jpg": "0",
                                                                "images/c.jpg": "6"}), labels="fer2013")  # fmt: skip
    assert src.taxonomy.classes == ("angry", "happy", "neutral")
    assert dict(zip(src.ids, (src.taxonomy.classes[i] for i in src.labels), strict=True)) == {
        "images/a.jpg": "happy", "images/b.jpg": "angry", "images/c.jpg": "neutral"}  # fmt: skip
    rafdb = load_source(numbered.parent / "u", labels="rafdb")  # RAF-DB numbers 1..7: 3 is disgust, 6 angry
    assert rafdb.taxonomy.classes == ("0", "disgust", "angry") and rafdb.taxonomy.canonical()[1:] == (
        "disgust",
        "angry",
    )
    np.testing.assert_array_equal(rafdb.targets, src.targets)  # the faces and targets are the same; names differ


def test_a_mapping_names_some_numbers_and_errors_name_the_source(numbered):
    raw = load_source(numbered, cache=False)
    src = relabel(raw, {0: "angry", 6: "Neutral"})  # YAML gives int keys; a spelling ferkit knows
    assert src.taxonomy.classes == ("angry", "3", "3.0", "Neutral")
    assert src.taxonomy.canonical() == ("angry", None, None, "neutral")
    with pytest.raises(DataError, match="unknown code order 'kdef'"):
        relabel(raw, "kdef")
    with pytest.raises(DataError, match=r"the labels \['8', '9'\] name none of the source's classes") as e:
        relabel(raw, {8: "angry", 9: "sad"})
    assert str(numbered) in e.value.path


def test_every_code_order_names_ferkit_classes():
    from ferkit.taxonomy import canonical_name

    for order, codes in CODE_ORDERS.items():
        assert all(canonical_name(c) for c in codes.values()), order
    assert CODE_ORDERS["rafdb"]["1"] == "surprise" and CODE_ORDERS["ferplus"]["0"] == "neutral"
    assert CODE_ORDERS["fer2013"]["7"] == "contempt" and CODE_ORDERS["affectnet"]["7"] == "contempt"


def test_a_training_config_names_a_sources_numbers(numbered):
    cfg = config_from_dict({"data": {"sources": [{"path": str(numbered), "labels": {0: "angry", 3: "happy"}},
                                                 {"path": "x", "labels": "rafdb"}]}})  # fmt: skip
    assert cfg.data.sources[0].labels == {0: "angry", 3: "happy"} and cfg.data.sources[1].labels == "rafdb"


def test_inspect_suggests_and_applies_a_code_order(numbered, capsys):
    from ferkit.cli import main

    assert main(["data", "inspect", str(numbered), "--no-cache"]) == 0
    assert "numbered classes: name them with --labels affectnet|ckplus|fer2013|ferplus|rafdb" in capsys.readouterr().out
    assert main(["data", "inspect", str(numbered.parent / "missing"), "--labels", "fer2013"]) != 0


def test_eval_scores_a_numbered_table_by_its_code_order(numbered, model_file, capsys):
    """Without --labels a numbered table shares no class with the model, and eval says none could be scored."""
    from ferkit.cli import main

    table = synth.label_table(numbered.parent / "u", {"images/a.jpg": "3", "images/b.jpg": "0"}, table="test.csv")
    assert main(["eval", str(model_file), "--data", str(table), "--json"]) != 0  # was a numpy traceback
    assert "none of its test faces is of a class the model has" in capsys.readouterr().err
    assert main(["eval", str(model_file), "--data", str(table), "--labels", "fer2013", "--json"]) == 0
    assert '"n": 2' in capsys.readouterr().out
