import pytest
import synth

from ferkit.data.sources import rafdb, read_source
from ferkit.errors import DataError
from ferkit.taxonomy import FERKIT


def test_rafdb_table():
    # Codes 1..7: surprise, fear, disgust, happy, sad, angry, neutral (not the FER-2013 order).
    assert rafdb.TAXONOMY.remap_to(FERKIT).tolist() == [5, 2, 1, 3, 4, 0, 6]


def _names(src):
    return [src.taxonomy.classes[i] for i in src.labels]


def test_basic_labels_splits_and_ids(tmp_path):
    synth.rafdb_basic(tmp_path, {"train_00001.jpg": 5, "train_00002.jpg": 1, "test_0001.jpg": 7})
    src = read_source(tmp_path)
    assert src.format == "rafdb"
    assert _names(src) == ["sad", "surprise", "neutral"]
    assert src.splits.tolist() == ["train", "train", "test"]
    assert src.ids.tolist() == ["train_00001", "train_00002", "test_0001"]


def test_basic_accepts_basic_folder_itself(tmp_path):
    synth.rafdb_basic(tmp_path, {"train_00001.jpg": 4})
    assert read_source(tmp_path / "basic").format == "rafdb"


@pytest.mark.parametrize(
    ("line", "match"),
    [("train_00002.jpg 8", "unknown label code 8"), ("train_00002.jpg x", "not an integer"),
     ("val_00002.jpg 1", "train_ or test_"), ("train_00002.jpg", "expected")],
)  # fmt: skip
def test_basic_bad_lines_name_file_and_row(tmp_path, line, match):
    synth.rafdb_basic(tmp_path, {"train_00001.jpg": 4})
    label_file = tmp_path / "basic/EmoLabel/list_patition_label.txt"
    label_file.write_text(label_file.read_text() + line + "\n")
    with pytest.raises(DataError, match=match) as e:
        read_source(tmp_path)
    assert e.value.row == 2 and "list_patition_label.txt" in e.value.path
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1 and len(src.skipped) == 1 and "row 2" in src.skipped[0].where


def test_basic_missing_and_truncated_images(tmp_path):
    synth.rafdb_basic(tmp_path, {"train_00001.jpg": 4, "train_00002.jpg": 3, "test_0001.jpg": 2})
    (tmp_path / "basic/Image/aligned/train_00001_aligned.jpg").unlink()
    synth.truncate(tmp_path / "basic/Image/aligned/test_0001_aligned.jpg")
    with pytest.raises(DataError, match="missing file") as e:
        read_source(tmp_path)
    assert "train_00001_aligned.jpg" in e.value.path
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1
    assert sorted(s.reason.split(":")[0] for s in src.skipped) == ["missing file", "truncated JPEG"]


def test_basic_missing_label_file(tmp_path):
    synth.rafdb_basic(tmp_path, {"train_00001.jpg": 4})
    (tmp_path / "basic/EmoLabel/list_patition_label.txt").unlink()
    with pytest.raises(DataError, match="list_patition_label.txt"):
        read_source(tmp_path, format="rafdb")


def test_reupload_folders_and_csv_agree(tmp_path):
    files = {"train/4/train_00001_aligned.jpg": 4, "train/6/train_00002_aligned.jpg": 6, "test/1/test_0001.jpg": 1}
    labels = {"train": {"train_00001_aligned.jpg": 4, "train_00002_aligned.jpg": 6}}
    src = read_source(synth.rafdb_reupload(tmp_path, files, labels))
    assert src.format == "rafdb-folders"
    assert sorted(zip(src.splits.tolist(), _names(src), strict=True)) == [
        ("test", "surprise"), ("train", "angry"), ("train", "happy"),
    ]  # fmt: skip


def test_reupload_folder_and_csv_disagree(tmp_path):
    files = {"train/4/train_00001_aligned.jpg": 4, "train/6/train_00002_aligned.jpg": 6}
    labels = {"train": {"train_00001_aligned.jpg": 5, "train_00002_aligned.jpg": 6}}
    synth.rafdb_reupload(tmp_path, files, labels)
    with pytest.raises(DataError, match="disagree") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("train_00001_aligned.jpg") and "train_labels.csv, row 2" in str(e.value)
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1 and len(src.skipped) == 1


def test_reupload_bad_csv_code_and_corrupt_image(tmp_path):
    files = {"train/4/a.jpg": 4, "train/6/b.jpg": 6}
    synth.rafdb_reupload(tmp_path, files, {"train": {"a.jpg": 9}})
    (tmp_path / "DATASET/train/6/b.jpg").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="unknown label code 9"):
        read_source(tmp_path)
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1 and len(src.skipped) == 2


def test_reupload_csv_row_without_image(tmp_path):
    synth.rafdb_reupload(tmp_path, {"train/4/a.jpg": 4}, {"train": {"a.jpg": 4, "gone.jpg": 2}})
    with pytest.raises(DataError, match="gone.jpg is not under train/") as e:
        read_source(tmp_path)
    assert e.value.row == 3 and e.value.path.endswith("train_labels.csv")
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1 and len(src.skipped) == 1


def test_reupload_unknown_label_folder(tmp_path):
    synth.rafdb_reupload(tmp_path, {"train/4/a.jpg": 4, "train/8/b.jpg": 8})
    with pytest.raises(DataError, match="label 1-7") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("train/8/b.jpg")
    assert len(read_source(tmp_path, on_error="skip").skipped) == 1
