import shutil

import numpy as np
import pytest
import synth

from ferkit.data.storage import Tree, decode_image
from ferkit.errors import DataError
from ferkit.imaging import to_face


def test_zip_with_one_top_folder_reads_like_the_folder(tmp_path):
    synth.class_folders(tmp_path / "top", {"happy": 1})
    (tmp_path / "top/.hidden").write_text("x")
    archive = shutil.make_archive(str(tmp_path / "ds"), "zip", tmp_path, "top")
    folder, zipped = Tree(tmp_path / "top"), Tree(archive)
    assert folder.names() == zipped.names() == ["happy/img0.png"]
    assert folder.read("happy/img0.png") == zipped.read("happy/img0.png")
    assert zipped.where("happy/img0.png").endswith("ds.zip!top/happy/img0.png")


def test_a_plain_file_is_its_folder_with_a_focus(tmp_path):
    (tmp_path / "a.csv").write_text("1")
    (tmp_path / "b.csv").write_text("2")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/c.csv").write_text("3")
    tree = Tree(tmp_path / "a.csv")
    assert tree.focus == "a.csv" and tree.names() == ["a.csv", "b.csv"]
    assert tree.read("b.csv") == b"2"
    with pytest.raises(DataError, match="missing file"):
        tree.read("sub/c.csv")


def test_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        Tree(tmp_path / "nope")


def test_decode_rejects_empty_truncated_and_garbage(tmp_path):
    path = synth.write_image(tmp_path / "x.jpg", synth.face(1))
    data = path.read_bytes()
    assert decode_image(data, "x").shape == (48, 48)
    for bad, match in (
        (b"", "empty"),
        (data[: len(data) // 2], "truncated"),
        (b"hello", "not an image in a supported format"),
    ):
        with pytest.raises(DataError, match=match):
            decode_image(bad, "x.jpg")


def test_to_face_resizes_and_grays():
    face = to_face(synth.face(0, 100, color=True))
    assert face.shape == (48, 48) and face.dtype == np.uint8
