import numpy as np
import pytest
import synth

from ferkit.data.sources import folder, read_source
from ferkit.data.storage import Tree
from ferkit.errors import DataError


def test_class_folders_all_train(tmp_path):
    src = read_source(synth.class_folders(tmp_path, {"Happiness": 2, "anger": 1}))
    assert src.format == "folder"
    assert src.taxonomy.classes == ("Happiness", "anger")  # source names as given, sorted
    assert src.taxonomy.canonical() == ("happy", "angry")
    assert src.splits.tolist() == ["train"] * 3


def test_split_folders_and_user_classes(tmp_path):
    files = {"Training/happy": 1, "validation/happy": 1, "testing/confused": 1, "train/bored": 1}
    src = read_source(synth.class_folders(tmp_path, files, suffix=".jpg"))
    assert src.taxonomy.classes == ("bored", "confused", "happy")
    assert src.taxonomy.canonical() == (None, "confused", "happy")  # bored: a class of its own, no ferkit name
    assert sorted(src.splits.tolist()) == ["test", "train", "train", "val"]
    assert folder.Adapter.taxonomy_of(Tree(tmp_path)) == src.taxonomy


def test_images_out_of_layout_and_corrupt(tmp_path):
    synth.class_folders(tmp_path, {"happy": 2})
    synth.write_image(tmp_path / "happy/deeper/x.png", synth.face(0))
    (tmp_path / "happy/img0.png").write_bytes(b"\x89PNG\r\n\x1a\nIEND-but-garbage")
    with pytest.raises(DataError) as e:
        read_source(tmp_path)
    assert "happy/" in e.value.path
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1 and len(src.skipped) == 2


def test_faces_are_resized_to_48(tmp_path):
    src = read_source(synth.class_folders(tmp_path, {"sad": 1}))
    assert src.images.shape == (1, 48, 48) and src.images.dtype == np.uint8


def test_wrapper_folders_are_looked_through(tmp_path):
    synth.class_folders(tmp_path / "mine/dataset", {"train/happy": 1, "val/sad": 1})
    src = read_source(tmp_path)
    assert src.taxonomy.classes == ("happy", "sad") and sorted(src.splits.tolist()) == ["train", "val"]
    assert src.ids[0].startswith("mine/dataset/")
    one_class = read_source(synth.class_folders(tmp_path / "b", {"happy": 2}))
    assert one_class.taxonomy.classes == ("happy",)
