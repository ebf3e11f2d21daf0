import numpy as np
import pytest
import synth

from ferkit.data.sources import read_source
from ferkit.errors import DataError


def test_folders_votes_and_splits(tmp_path):
    src = read_source(synth.ferplus_folders(tmp_path))
    assert src.format == "ferplus"
    assert src.splits.tolist() == ["train", "train", "val", "val", "test", "test"]
    assert src.targets[0].tolist() == [8, 2, 0, 0, 0, 0, 0, 0, 0, 0]


def test_csv_pair_and_pointing_at_fer2013new(tmp_path):
    synth.ferplus_csv(tmp_path, ["Training", "PublicTest", "PrivateTest", "Training"], dropped=(1,))
    a = read_source(tmp_path)
    b = read_source(tmp_path / "fer2013new.csv")
    assert a.format == b.format == "ferplus-csv"
    assert b.ids.tolist() == ["fer0000000.png", "fer0000002.png", "fer0000003.png"]
    assert np.array_equal(a.images, b.images)
    assert read_source(tmp_path / "fer2013.csv").format == "fer2013-csv"  # the CSV beside it is FER-2013 itself
    for name in ["fer2013.csv", "fer2013new.csv"]:  # blank lines at the end of either file (an editor's habit)
        (tmp_path / name).write_text((tmp_path / name).read_text() + "\n\n")
    c = read_source(tmp_path / "fer2013new.csv")
    assert c.ids.tolist() == b.ids.tolist() and np.array_equal(c.images, b.images)


def test_fer2013new_without_fer2013_csv(tmp_path):
    synth.ferplus_csv(tmp_path, ["Training"])
    (tmp_path / "fer2013.csv").unlink()
    for path, fmt in [(tmp_path / "fer2013new.csv", None), (tmp_path, None), (tmp_path, "ferplus-csv")]:
        with pytest.raises(DataError, match="label the faces of FER-2013's fer2013.csv, which is not beside it"):
            read_source(path, format=fmt)


def test_bad_vote_rows_and_missing_png(tmp_path):
    synth.ferplus_folders(tmp_path)
    label = tmp_path / "data/FER2013Train/label.csv"
    label.write_text(
        label.read_text() + 'fer9.png,"(0, 0, 48, 48)",1,2\n' + 'fer0000001x.png,"(0, 0, 48, 48)"' + ",1" * 10
    )
    with pytest.raises(DataError, match="expected 12 fields") as e:
        read_source(tmp_path)
    assert e.value.row == 3
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 6 and [s.reason for s in src.skipped][1] == "missing file"


def test_csv_unknown_usage(tmp_path):
    synth.ferplus_csv(tmp_path, ["Training", "Training"])
    new = tmp_path / "fer2013new.csv"
    new.write_text(new.read_text().replace("Training,fer0000001", "Bogus,fer0000001"))
    with pytest.raises(DataError, match="unknown Usage 'Bogus'"):
        read_source(tmp_path)
