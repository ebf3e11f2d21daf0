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


def test_a_damaged_zip_entry_is_a_data_error_naming_it_and_skipping_keeps_the_rest(tmp_path):
    import io
    import zipfile

    import cv2

    from ferkit.data.sources import read_source

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"happy/{i}.png", cv2.imencode(".png", synth.face(i))[1].tobytes())
            z.writestr(f"sad/{i}.png", cv2.imencode(".png", synth.face(10 + i))[1].tobytes())
    data = bytearray(buf.getvalue())
    data[data.find(b"happy/0.png") + 50] ^= 0xFF  # a byte inside the first entry's compressed data
    (tmp_path / "ds.zip").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"ds.zip!happy/0.png: cannot read it \(BadZipFile"):
        read_source(tmp_path / "ds.zip")
    src = read_source(tmp_path / "ds.zip", on_error="skip")
    assert len(src) == 5 and [s.where for s in src.skipped] == [f"{tmp_path / 'ds.zip'}!happy/0.png"]


def test_files_too_large_to_be_a_face_are_refused_before_they_are_read(tmp_path, monkeypatch):
    import ferkit.data.storage as storage

    synth.class_folders(tmp_path / "top", {"happy": 1})
    archive = shutil.make_archive(str(tmp_path / "ds"), "zip", tmp_path, "top")
    monkeypatch.setattr(storage, "MAX_IMAGE_BYTES", 100)  # a zip bomb's entry, scaled down
    for tree in (Tree(tmp_path / "top"), Tree(archive)):
        with pytest.raises(DataError, match="img0.png: .* over the 0 MiB ferkit reads per file"):
            tree.read("happy/img0.png")


def test_a_pipe_is_not_a_dataset(tmp_path):
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("POSIX named pipes")
    os.mkfifo(tmp_path / "fer2013.csv")
    with pytest.raises(DataError, match="not a regular file or a folder"):
        Tree(tmp_path / "fer2013.csv")


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


def test_a_tar_archive_reads_like_its_folder_whatever_its_compression(tmp_path):
    import tarfile

    synth.class_folders(tmp_path / "top", {"happy": 2, "sad": 1})
    (tmp_path / "top/.hidden").write_text("x")
    folder = Tree(tmp_path / "top")
    for mode, suffix in (("w:gz", ".tar.gz"), ("w:bz2", ".tbz"), ("w", ".tar")):
        archive = tmp_path / f"ds{suffix}"
        with tarfile.open(archive, mode) as t:
            t.add(tmp_path / "top", "./top")  # members named ./top/...: the ./ is not part of the name
        tree = Tree(archive)
        assert tree.names() == folder.names() and len(tree.names()) == 3  # the hidden file left out
        sad = next(n for n in folder.names() if n.startswith("sad/"))
        assert tree.read(sad) == folder.read(sad) and tree.head(sad, 8) == b"\x89PNG\r\n\x1a\n"
        assert tree.where(sad) == f"{archive}!top/{sad}" and tree.focus is None
        with pytest.raises(DataError, match=r"ds.* missing file"):
            tree.read("happy/img9.png")


def test_a_compressed_file_is_a_tree_of_that_file(tmp_path):
    import bz2
    import gzip
    import lzma

    for suffix, codec in ((".gz", gzip), (".bz2", bz2), (".xz", lzma)):
        path = tmp_path / f"fer2013.csv{suffix}"
        path.write_bytes(codec.compress(b"emotion,pixels,Usage\n"))
        tree = Tree(path)
        assert tree.names() == ["fer2013.csv"] and tree.focus == "fer2013.csv"
        assert tree.read("fer2013.csv") == b"emotion,pixels,Usage\n"
        assert tree.where("fer2013.csv") == f"{path}!fer2013.csv"


def test_damaged_or_oversized_archives_are_data_errors_naming_them(tmp_path, monkeypatch):
    import gzip
    import tarfile

    import ferkit.data.storage as storage

    synth.class_folders(tmp_path / "top", {"happy": 3})
    with tarfile.open(tmp_path / "ds.tar.gz", "w:gz") as t:
        t.add(tmp_path / "top", "top")
    data = (tmp_path / "ds.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut.tar.gz: cannot (read it as a tar archive|unpack it)"):
        Tree(tmp_path / "cut.tar.gz").read("happy/img0.png")
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(b"x" * 1000)[:20])
    with pytest.raises(DataError, match=r"cut.csv.gz: cannot unpack it"):
        Tree(tmp_path / "cut.csv.gz")
    monkeypatch.setattr(storage, "MAX_UNPACKED_BYTES", 100)
    with pytest.raises(DataError, match=r"ds.tar.gz: over the 0 MiB ferkit unpacks in memory: extract it"):
        Tree(tmp_path / "ds.tar.gz")
    (tmp_path / "big.csv.gz").write_bytes(gzip.compress(b"x" * 1000))
    with pytest.raises(DataError, match=r"big.csv.gz: over the 0 MiB ferkit unpacks in memory: extract it"):
        Tree(tmp_path / "big.csv.gz")
