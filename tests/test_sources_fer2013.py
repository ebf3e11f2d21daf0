import pytest
import synth

from ferkit.data.sources import read_source
from ferkit.errors import DataError


def test_csv_splits(tmp_path):
    path = synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training"), (3, "PublicTest"), (6, "PrivateTest")])
    src = read_source(path)  # the CSV file itself
    assert src.format == "fer2013-csv"
    assert src.splits.tolist() == ["train", "val", "test"]
    assert [src.taxonomy.classes[i] for i in src.labels] == ["angry", "happy", "neutral"]


def _append(path, line):
    path.write_text(path.read_text() + line + "\n")


@pytest.mark.parametrize(
    ("line", "match"),
    [("0,1 2 3,Training", "expected 2304 pixels"), ("9,{p},Training", "unknown emotion code 9"),
     ("x,{p},Training", "not an integer"), ("0,{p},Nope", "unknown Usage")],
)  # fmt: skip
def test_csv_bad_rows(tmp_path, line, match):
    path = synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training")])
    _append(path, line.format(p=synth.pixels(synth.face(5))))
    with pytest.raises(DataError, match=match) as e:
        read_source(path)
    assert e.value.row == 3 and e.value.path.endswith("fer2013.csv")
    src = read_source(path, on_error="skip")
    assert len(src) == 1 and src.skipped[0].where.endswith("fer2013.csv, row 3")


def test_folders_public_private_split(tmp_path):
    src = read_source(synth.fer2013_folders(tmp_path, {"train/angry": 1, "test/happy": 2}))
    assert sorted(src.splits.tolist()) == ["test", "train", "val"]


def test_folders_truncated_jpeg_and_bad_names(tmp_path):
    synth.fer2013_folders(tmp_path, {"train/angry": 2, "test/happy": 1})
    synth.truncate(tmp_path / "train/angry/Training_1000.jpg")
    synth.write_image(tmp_path / "test/happy/Other_1.jpg", synth.face(0))
    synth.write_image(tmp_path / "train/bored/Training_7.jpg", synth.face(0))
    with pytest.raises(DataError, match="must start with PublicTest_") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("Other_1.jpg")
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 2 and len(src.skipped) == 3
    assert any(s.where.endswith("Training_1000.jpg") and "truncated" in s.reason for s in src.skipped)
