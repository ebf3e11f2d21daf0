"""Label tables: a CSV naming each image's file and label, images anywhere in the folder or zip."""

import shutil

import numpy as np
import pytest
import synth

from ferkit.data.sources import detect_format, read_source
from ferkit.data.storage import Tree
from ferkit.errors import DataError


def _faces(root, names, seed=0):
    faces = {}
    for i, name in enumerate(names):
        faces[name] = synth.face(seed + i)
        synth.write_image(root / name, faces[name])
    return faces


def _by_id(src):
    rows = zip(src.ids, src.labels, src.splits, strict=True)
    return {i: (src.taxonomy.classes[label], split) for i, label, split in rows}


def test_a_legend_beside_an_images_folder(tmp_path):
    """The muxspace/facial_expressions layout: data/legend.csv (user.id,image,emotion) and images/, labels in
    several spellings and cases of one class."""
    names = [f"images/face{i}.png" for i in range(5)]
    faces = _faces(tmp_path, names)
    (tmp_path / "data").mkdir()
    labels = ["HAPPINESS", "happiness", "anger", "Contempt", "surprise"]
    rows = "".join(f"u{i},face{i}.png,{lab}\n" for i, lab in enumerate(labels))
    (tmp_path / "data/legend.csv").write_text("user.id,image,emotion\n" + rows)
    assert detect_format(Tree(tmp_path)) == "labels-csv"
    src = read_source(tmp_path)
    assert src.taxonomy.classes == ("angry", "contempt", "happy", "surprise")  # spellings merged, ferkit names
    assert _by_id(src) == {
        "images/face0.png": ("happy", "train"),
        "images/face1.png": ("happy", "train"),
        "images/face2.png": ("angry", "train"),
        "images/face3.png": ("contempt", "train"),
        "images/face4.png": ("surprise", "train"),
    }
    for i, name in enumerate(src.ids):
        np.testing.assert_array_equal(src.images[i], faces[name])
    zipped = shutil.make_archive(str(tmp_path.parent / "zipped"), "zip", tmp_path)
    assert _by_id(read_source(zipped)) == _by_id(src)  # a zip reads the same


def test_tables_per_split_ids_without_extension_and_a_split_column(tmp_path):
    faces = _faces(tmp_path, [f"images/{i:04d}.jpg" for i in range(4)])
    (tmp_path / "train.csv").write_text("image_id;Emotion\n0000;sad\n0001;3\n")  # a number: a class of its own
    (tmp_path / "test_labels.csv").write_text("Image ID,label\nimages/0002.jpg,neutral\n")
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta/more.csv").write_text("file,label,Usage\n../images/0003.jpg,fear,PublicTest\n")
    src = read_source(tmp_path)
    assert src.taxonomy.classes == ("3", "fear", "neutral", "sad")
    assert _by_id(src) == {
        "images/0000.jpg": ("sad", "train"),
        "images/0001.jpg": ("3", "train"),
        "images/0002.jpg": ("neutral", "test"),
        "images/0003.jpg": ("fear", "val"),
    }
    assert len(faces) == len(src)


def test_a_table_beside_class_folders_with_split_folders(tmp_path):
    """AffectNet re-uploads: labels.csv (pth,label) beside train/<class>/ folders; the table gives the label, the
    top folder the split."""
    _faces(tmp_path, ["train/anger/a.png", "test/happy/b.png"])
    (tmp_path / "labels.csv").write_text("pth,label,relFCs\ntrain/anger/a.png,anger,0.9\ntest/happy/b.png,happy,0.8\n")
    src = read_source(tmp_path)
    assert src.format == "labels-csv"
    assert _by_id(src) == {"train/anger/a.png": ("angry", "train"), "test/happy/b.png": ("happy", "test")}


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("missing.png,happy", "file 'missing.png' names no image in the dataset"),
        ("same.png,happy", r"file 'same.png' names 2 images \(a/same.png, b/same.png\)"),
        ("face1.png,", "blank label"),
        ("face0.png,sad", r"images/face0.png is listed again \(first: .*labels.csv, row 2\)"),
        ("face1.png", "expected at least 2 fields"),
    ],
)
def test_bad_rows_name_the_table_and_row(tmp_path, row, match):
    _faces(tmp_path, ["images/face0.png", "images/face1.png", "a/same.png", "b/same.png"])
    (tmp_path / "labels.csv").write_text(f"image,emotion\nface0.png,happy\n{row}\n")
    with pytest.raises(DataError, match=match) as e:
        read_source(tmp_path)
    assert e.value.row == 3 and e.value.path.endswith("labels.csv")
    src = read_source(tmp_path, on_error="skip")
    assert _by_id(src) == {"images/face0.png": ("happy", "train")}
    assert len(src.skipped) == 1 and src.skipped[0].where.endswith("labels.csv, row 3")


def test_a_table_given_as_a_file_says_to_pass_its_folder(tmp_path):
    _faces(tmp_path, ["images/face0.png"])
    (tmp_path / "labels.csv").write_text("image,emotion\nimages/face0.png,happy\n")
    with pytest.raises(DataError, match="a label table of image files: pass the folder"):
        read_source(tmp_path / "labels.csv")


def test_a_csv_that_names_no_image_is_not_a_table(tmp_path):
    synth.class_folders(tmp_path, {"happy": 2})
    (tmp_path / "notes.csv").write_text("image,label\nsomewhere/else.png,happy\n")  # names no image of the tree
    assert detect_format(Tree(tmp_path)) == "folder"


def test_a_table_of_photos_crops_their_faces(tmp_path, monkeypatch):
    """Format labels-csv-photos (what data.photos makes of a label table): an image over 96 px a side is a photo
    whose face is found and cropped as at inference; a photo without a face is skipped and counted; a crop is read
    as it is."""
    from test_sources_jaffe import FixedDetector

    from ferkit.data.sources import jaffe
    from ferkit.engine.run_data import _format

    class Picky(FixedDetector):  # the fixed box, except in a flat image
        def detect(self, image):
            return [] if image.std() == 0 else self.found

    monkeypatch.setattr(jaffe, "_detector", Picky)
    synth.write_image(tmp_path / "images/photo.png", synth.face(0, 256))
    synth.write_image(tmp_path / "images/crop.png", synth.face(1, 64))
    synth.write_image(tmp_path / "images/blank.png", np.full((200, 200), 128, np.uint8))
    (tmp_path / "labels.csv").write_text("image,emotion\nphoto.png,happy\ncrop.png,sad\nblank.png,fear\n")
    assert _format(str(tmp_path), None, photos=True) == "labels-csv-photos"
    src = read_source(tmp_path, format="labels-csv-photos")
    assert _by_id(src) == {"images/photo.png": ("happy", "train"), "images/crop.png": ("sad", "train")}
    assert [s.reason for s in src.skipped] == ["no face found in the photo"]
    plain = read_source(tmp_path)  # without photos: every image resized whole
    assert plain.format == "labels-csv" and len(plain) == 3
    assert not np.array_equal(src.images[0], plain.images[plain.ids.tolist().index("images/photo.png")])
    np.testing.assert_array_equal(src.images[1], plain.images[plain.ids.tolist().index("images/crop.png")])
