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


def test_original_release_file_lists_crop_the_listed_box(tmp_path):
    from ferkit.data.sources import jaffe
    from ferkit.data.sources.affectnet import five_points
    from ferkit.data.storage import decode_image
    from ferkit.imaging import Detection, crop_face

    root = synth.affectnet_lists(tmp_path, {"training.csv": [1, 8, 7], "validation.csv": [0]})
    src = read_source(root)
    assert src.format == "affectnet-lists"
    assert src.ids.tolist() == ["1/a.jpg", "3/c.png", "4/d.jpg"]
    assert [src.taxonomy.classes[i] for i in src.labels] == ["happy", "contempt", "neutral"]
    assert src.splits.tolist() == ["train", "train", "test"]
    assert [s.reason for s in src.skipped] == ["code 8 (none) is not an expression"]
    photo = decode_image((root / "Manually_Annotated_Images/1/a.jpg").read_bytes(), "x", gray=False)
    text = (root / "Manually_Annotated_file_lists/training.csv").read_text().splitlines()[1].split('"')[1]
    marks = five_points(text)
    assert marks.shape == (5, 2) and marks[0, 0] < marks[1, 0]  # the subject's right eye is on the image's left
    expected = crop_face(photo, Detection((40.0, 50.0, 120.0, 110.0), 1.0, marks), jaffe.PREPROCESSING)
    np.testing.assert_array_equal(src.images[0], expected)


@pytest.mark.parametrize(
    ("row", "match"),
    [("9/missing.jpg,40,50,120,110,,1,0,0", "image '9/missing.jpg' is not in the dataset"),
     ("1/a.jpg,40,50,0,110,,1,0,0", "empty or undefined face box"),
     ("1/a.jpg,40,nan,120,110,,1,0,0", "empty or undefined face box"),
     ("1/a.jpg,40,50,120,110,,12,0,0", "unknown expression code 12"),
     ("1/a.jpg,x,50,120,110,,1,0,0", "must be numbers"), ("1/a.jpg,40", "expected at least 7 fields"),
     ("1/a.jpg,40,50,120,110,,2,0,0", r"1/a.jpg is listed again \(first: .*training.csv, row 2\)")],
)  # fmt: skip
def test_original_release_bad_rows_name_the_list_and_row(tmp_path, row, match):
    root = synth.affectnet_lists(tmp_path, {"training.csv": [1]})
    path = root / "Manually_Annotated_file_lists/training.csv"
    path.write_text(path.read_text() + row + "\n")
    with pytest.raises(DataError, match=match) as e:
        read_source(root)
    assert e.value.row == 3 and e.value.path.endswith("training.csv")
    assert len(read_source(root, on_error="skip")) == 1


def test_a_listed_box_that_frames_no_face_of_its_image_is_an_error(tmp_path):
    """A damaged list can give any box: one outside the image, or far larger than it (which would make the crop
    allocate gigabytes), is an error naming the image, never a crop of nothing."""
    root = synth.affectnet_lists(tmp_path, {"training.csv": [1, 2, 3]})
    path = root / "Manually_Annotated_file_lists/training.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",40,50,120,110,", ",900,50,120,110,")  # right of the 200 px image
    lines[3] = lines[3].replace(",40,50,120,110,", ",0,0,1e9,1e9,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"face box \(900.0, 50.0, 120.0, 110.0\) does not frame a face of this 200x200"
    ):
        read_source(root)
    src = read_source(root, on_error="skip")
    assert src.ids.tolist() == ["1/a.jpg"] and len(src.skipped) == 2
