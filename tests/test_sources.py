"""Every registered adapter: detected from its own layout, and yields 48x48 uint8 faces, splits and unique ids."""

import shutil

import cv2
import hostile
import numpy as np
import pytest
import synth

from ferkit.data.sources import ADAPTERS, detect_format, read_source
from ferkit.data.storage import Tree
from ferkit.errors import DataError


def _fixed(monkeypatch):
    from test_sources_jaffe import FixedDetector

    from ferkit.data.sources import jaffe

    monkeypatch.setattr(jaffe, "_detector", FixedDetector)


def _jaffe(root, monkeypatch):
    _fixed(monkeypatch)
    return synth.jaffe(root, ["KA.AN1.39.tiff", "KM.HA2.5.tiff"])


BUILDERS = {
    "ferplus": lambda r, m: synth.ferplus_folders(r),
    "ferplus-csv": lambda r, m: synth.ferplus_csv(r, ["Training", "PublicTest", "PrivateTest"]),
    "fer2013-csv": lambda r, m: synth.fer2013_csv(r / "fer2013.csv", [(0, "Training"), (3, "PrivateTest")]).parent,
    "fer2013": lambda r, m: synth.fer2013_folders(r, {"train/angry": 2, "test/happy": 2}),
    "rafdb": lambda r, m: synth.rafdb_basic(r, {"train_00001.jpg": 5, "test_0001.jpg": 1}),
    "rafdb-folders": lambda r, m: synth.rafdb_reupload(r, {"train/4/train_00001_aligned.jpg": 4, "test/1/t.jpg": 1}),
    "affectnet": lambda r, m: synth.affectnet(r, {"train_set": ["1", 3], "val_set": ["0"]}),
    "affectnet-lists": lambda r, m: synth.affectnet_lists(r, {"training.csv": [1, 3], "validation.csv": [0]}),
    "ckplus": lambda r, m: synth.ckplus(r, {"anger": 1, "happy": 2}),
    "ckplus-official": lambda r, m: _fixed(m) or synth.ckplus_official(r, {"S005/001": (3, "1.0000000e+00")}),
    "jaffe": _jaffe,
    "parquet": lambda r, m: synth.hf_parquet(r, {"train": [3, 0], "test": [6]}),
    "labels-csv": lambda r, m: synth.label_table(r, {"images/a.jpg": "happiness", "images/b.jpg": "ANGER"}),
    "folder": lambda r, m: synth.class_folders(r, {"happy": 2, "sad": 1}),
}


def test_every_adapter_has_a_builder_and_folder_is_last():
    assert set(BUILDERS) == set(ADAPTERS)
    assert list(ADAPTERS)[-1] == "folder"


@pytest.mark.parametrize("fmt", list(BUILDERS))
def test_adapter_detects_and_reads_its_layout(fmt, tmp_path, monkeypatch):
    root = BUILDERS[fmt](tmp_path / "ds", monkeypatch)
    assert detect_format(Tree(root)) == fmt
    src = read_source(root)
    assert src.format == fmt
    assert src.images.dtype == np.uint8 and src.images.shape[1:] == (48, 48) and len(src) >= 2
    assert set(src.splits.tolist()) <= {"train", "val", "test"}
    assert len(set(src.ids.tolist())) == len(src)
    assert src.targets.shape == (len(src), len(src.taxonomy))


@pytest.mark.parametrize("fmt", [f for f in BUILDERS if f != "jaffe"])
def test_adapter_reads_a_zip_like_a_folder(fmt, tmp_path, monkeypatch):
    root = BUILDERS[fmt](tmp_path / "ds", monkeypatch)
    archive = shutil.make_archive(str(tmp_path / "ds"), "zip", root)
    a, b = read_source(root), read_source(archive)
    assert b.format == fmt
    assert np.array_equal(a.images, b.images) and a.ids.tolist() == b.ids.tolist()


def test_format_forces_the_adapter(tmp_path):
    root = synth.ckplus(tmp_path, {"anger": 1, "happy": 1})
    src = read_source(root, format="folder")
    assert src.format == "folder" and src.taxonomy.classes == ("anger", "happy")
    with pytest.raises(DataError, match="unknown format"):
        read_source(root, format="nope")


def test_a_folder_format_asked_for_a_file_is_refused_not_read_from_the_files_beside_it(tmp_path):
    root = synth.ckplus(tmp_path, {"anger": 2, "happy": 2})
    one = next(root.rglob("*.png"))
    for fmt in ("folder", "ckplus", "jaffe", "rafdb"):
        with pytest.raises(DataError, match=f"format '{fmt}' reads a folder or a .zip, not one file") as e:
            read_source(one, format=fmt)
        assert e.value.path.endswith(one.name)


def test_empty_folder_is_a_data_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot tell the dataset format"):
        read_source(tmp_path / "empty")
    with pytest.raises(DataError, match="no class folders"):
        read_source(tmp_path / "empty", format="folder")


# ---- parallel decoding --------------------------------------------------------------------------------------


def _big_folder(root, n=40):
    """``n`` colour 200x160 JPEGs in two class folders: large enough that decoding is real work."""
    for k in range(n):
        synth.write_image(
            root / ("happy" if k % 2 else "sad") / f"img{k:03}.jpg", cv2.resize(synth.face(k, color=True), (200, 160))
        )
    return root


@pytest.fixture
def pooled(monkeypatch):
    """Every chunk goes to the thread pool, however small its files."""
    from ferkit.data import sources

    monkeypatch.setattr(sources, "SMALL", 0)
    monkeypatch.setattr(sources, "CHUNK", 4)


def test_parallel_decoding_matches_serial(tmp_path, pooled):
    root = _big_folder(tmp_path)
    one = read_source(root, threads=1)
    four = read_source(root, threads=4)
    assert one.ids.tolist() == four.ids.tolist()
    assert np.array_equal(one.images, four.images)
    assert np.array_equal(one.targets, four.targets)
    assert one.images.shape == (40, 48, 48)


def test_parallel_decoding_reports_the_first_bad_image_in_order(tmp_path, pooled):
    root = _big_folder(tmp_path)
    synth.truncate(root / "happy/img005.jpg")
    (root / "sad/img030.jpg").write_bytes(b"not an image")
    synth.write_image(root / "sad/zz/late.jpg", synth.face(99))  # out of layout: the adapter itself rejects it
    with pytest.raises(DataError, match=r"img005\.jpg.*truncated"):  # not the later layout error
        read_source(root, threads=4)
    skipped = []
    for threads in (1, 4):
        src = read_source(root, on_error="skip", threads=threads)
        assert len(src) == 38
        assert not any(i.endswith(("img005.jpg", "img030.jpg")) for i in src.ids)
        skipped.append([s.where.rsplit("/", 1)[-1] for s in src.skipped])
    assert skipped[0] == skipped[1] == ["img005.jpg", "img030.jpg", "late.jpg"]  # file order, any thread count


@pytest.mark.parametrize(
    "layout",
    [
        "ferplus",
        "ferplus-csv",
        "rafdb",
        "rafdb-folders",
        "affectnet",
        "affectnet-lists",
        "labels-csv",
        "ckplus-official",
        "parquet",
    ],
)
def test_damaged_label_files_are_read_or_refused_with_a_data_error(tmp_path, monkeypatch, layout):
    """Random damage to a dataset's label files (flipped, inserted, deleted bytes, a cut) never crashes an adapter:
    the dataset reads (bad records skipped and listed) or is a DataError naming a file."""
    root = tmp_path / "ds"
    if layout == "ferplus":
        synth.ferplus_folders(root)
        labels = sorted(root.rglob("label.csv"))
    elif layout == "ferplus-csv":
        synth.ferplus_csv(root, ["Training", "PublicTest", "PrivateTest"])
        labels = [root / "fer2013new.csv"]
    elif layout == "rafdb":
        synth.rafdb_basic(root, {"train_00001.jpg": 1, "train_00002.jpg": 4, "test_0001.jpg": 7})
        labels = [next(root.rglob("list_patition_label.txt"))]
    elif layout == "rafdb-folders":
        files = {"train/1/train_00001_aligned.jpg": 1, "test/7/test_0001_aligned.jpg": 7}
        synth.rafdb_reupload(
            root, files, {"train": {"train_00001_aligned.jpg": 1}, "test": {"test_0001_aligned.jpg": 7}}
        )
        labels = sorted(root.rglob("*_labels.csv"))
    elif layout == "affectnet-lists":
        synth.affectnet_lists(root, {"training.csv": [1, 8, 3], "validation.csv": [0, 7]})
        labels = sorted(root.rglob("*.csv"))
    elif layout == "ckplus-official":
        _fixed(monkeypatch)
        synth.ckplus_official(root, {"S005/001": (3, "1.0000000e+00"), "S006/002": (2, "7.0000000e+00")})
        labels = sorted(root.rglob("*_emotion.txt"))
    elif layout == "parquet":
        synth.hf_parquet(root, {"train": [3, 0, 6], "test": [1]})
        labels = sorted(root.rglob("*.parquet"))
    elif layout == "labels-csv":
        synth.label_table(root, {"images/a.jpg": "happiness", "images/b.png": "sad", "images/c.jpg": "Contempt"})
        labels = [root / "data/legend.csv"]
    else:
        synth.affectnet(root, {"train_set": [1, 3], "val_set": [0]})
        labels = sorted(root.rglob("*_exp.npy"))
    originals = {p: p.read_bytes() for p in labels}
    rng = np.random.default_rng(0)
    read = refused = 0
    for _ in range(40):
        for p, data in originals.items():
            p.write_bytes(hostile.damage(data, rng, max_run=20))
        try:
            read_source(root, on_error="skip")  # read_source has no cache: each mutant is parsed
            read += 1
        except DataError as e:
            assert str(root) in str(e.path), e
            refused += 1
    assert read + refused == 40
