import numpy as np
import pytest
import synth

from ferkit.data.sources import affectnet, read_source
from ferkit.errors import DataError
from ferkit.taxonomy import FERKIT


def test_affectnet_table():
    # Codes 0..7: neutral, happy, sad, surprise, fear, disgust, anger, contempt.
    assert affectnet.TAXONOMY.remap_to(FERKIT).tolist() == [6, 3, 4, 5, 2, 1, 0, 7]


def test_codes_as_strings_or_ints_and_splits(tmp_path):
    src = read_source(synth.affectnet(tmp_path, {"train_set": ["3", 7, np.int64(0)], "val_set": ["6"]}))
    names = [src.taxonomy.classes[i] for i in src.labels]
    assert names == ["surprise", "contempt", "neutral", "anger"]
    assert src.splits.tolist() == ["train", "train", "train", "test"]  # val_set is AffectNet's test
    assert src.ids.tolist() == ["train_set/0", "train_set/1", "train_set/2", "val_set/3"]


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_non_expressions_are_dropped_and_counted(tmp_path, on_error):
    src = read_source(synth.affectnet(tmp_path, {"train_set": ["1", "8", "9", "10"]}), on_error=on_error)
    assert len(src) == 1
    reasons = sorted(s.reason for s in src.skipped)
    assert reasons == [
        f"code {c} ({n}) is not an expression" for c, n in ((10, "no-face"), (8, "none"), (9, "uncertain"))
    ]


def test_unknown_code_names_the_annotation(tmp_path):
    synth.affectnet(tmp_path, {"train_set": ["1", "11"]})
    with pytest.raises(DataError, match="unknown expression code 11") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("1_exp.npy")
    assert len(read_source(tmp_path, on_error="skip").skipped) == 1


def test_missing_annotation_missing_image_corrupt_image(tmp_path):
    synth.affectnet(tmp_path, {"train_set": ["1", "2", "3", "4", "5"]})
    (tmp_path / "train_set/annotations/0_exp.npy").unlink()
    (tmp_path / "train_set/images/1.jpg").unlink()
    synth.truncate(tmp_path / "train_set/images/2.jpg")
    (tmp_path / "train_set/annotations/3_exp.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="no annotations/0_exp.npy"):
        read_source(tmp_path)
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1 and len(src.skipped) == 4


def test_empty_affectnet_is_an_error(tmp_path):
    (tmp_path / "train_set/images").mkdir(parents=True)
    with pytest.raises(DataError):
        read_source(tmp_path, format="affectnet")
