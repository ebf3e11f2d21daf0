"""Parquet datasets: Hugging Face downloads (Image and ClassLabel features), and FER-2013 converted to parquet."""

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import synth

from ferkit.data.sources import detect_format, read_source
from ferkit.data.storage import Tree
from ferkit.errors import DataError

FER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _png(seed):
    return cv2.imencode(".png", synth.face(seed))[1].tobytes()


def _by_id(src):
    rows = zip(src.ids, src.labels, src.splits, strict=True)
    return {i: (src.taxonomy.classes[label], split) for i, label, split in rows}


def test_a_hugging_face_download_reads_its_class_labels_and_splits(tmp_path):
    synth.hf_parquet_file(tmp_path / "data/train-00000-of-00001.parquet", [3, 0, 6])
    synth.hf_parquet_file(tmp_path / "data/validation-00000-of-00001.parquet", [4], seed=10)
    synth.hf_parquet_file(tmp_path / "data/test-00000-of-00001.parquet", [5], seed=20)
    assert detect_format(Tree(tmp_path)) == "parquet"
    src = read_source(tmp_path)
    assert src.taxonomy.classes == tuple(FER)  # the ClassLabel's order
    assert _by_id(src) == {
        "data/train-00000-of-00001.parquet:1": ("happy", "train"),
        "data/train-00000-of-00001.parquet:2": ("angry", "train"),
        "data/train-00000-of-00001.parquet:3": ("neutral", "train"),
        "data/validation-00000-of-00001.parquet:1": ("sad", "val"),
        "data/test-00000-of-00001.parquet:1": ("surprise", "test"),
    }
    order = src.ids.tolist()
    np.testing.assert_array_equal(src.images[order.index("data/train-00000-of-00001.parquet:2")], synth.face(1))
    one = read_source(tmp_path / "data/test-00000-of-00001.parquet")  # one file, named
    assert len(one) == 1 and one.splits.tolist() == ["test"]


def test_labels_by_name_and_fer2013_pixels_without_metadata(tmp_path):
    """No Hugging Face metadata: a binary image column with names as labels (spellings merged); and FER-2013
    converted to parquet (emotion codes, pixels, Usage), read with FER-2013's codes as its CSV is."""
    table = pa.table({"img": pa.array([_png(0), _png(1)], pa.binary()), "Emotion": ["Happiness", "HAPPY"]})
    pq.write_table(table, tmp_path / "names.parquet")
    src = read_source(tmp_path / "names.parquet")
    assert src.taxonomy.classes == ("happy",) and len(src) == 2
    pixels = [synth.pixels(synth.face(i)) for i in range(3)]
    table = pa.table({"emotion": [3, 7, 0], "pixels": pixels, "Usage": ["Training", "PublicTest", "PrivateTest"]})
    pq.write_table(table, tmp_path / "fer2013.parquet")
    src = read_source(tmp_path / "fer2013.parquet")
    assert _by_id(src) == {
        "fer2013.parquet:1": ("happy", "train"),
        "fer2013.parquet:2": ("contempt", "val"),
        "fer2013.parquet:3": ("angry", "test"),
    }
    np.testing.assert_array_equal(src.images[1], synth.face(1))


def test_bad_rows_and_files_name_the_file_and_row(tmp_path):
    path = synth.hf_parquet_file(tmp_path / "train.parquet", [3, 9, 2])
    with pytest.raises(DataError, match=r"label 9 is not a code 0..6") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("train.parquet") and e.value.row == 2
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 2 and src.skipped[0].where.endswith("train.parquet, row 2")

    table = pa.table({"image": [{"bytes": None, "path": "elsewhere/x.png"}], "label": pa.array([1], pa.int64())})
    pq.write_table(table, path)
    with pytest.raises(DataError, match="no image bytes .*'elsewhere/x.png'"):
        read_source(tmp_path)

    path.write_bytes(b"PAR1 this is not a parquet file PAR1")
    with pytest.raises(DataError, match="not a readable parquet file") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("train.parquet")


def test_a_parquet_file_without_labels_says_so(tmp_path):
    pq.write_table(pa.table({"image": pa.array([_png(0)], pa.binary())}), tmp_path / "x.parquet")
    with pytest.raises(DataError, match="no label column"):
        read_source(tmp_path / "x.parquet")


def test_a_row_group_too_large_to_unpack_is_refused(tmp_path, monkeypatch):
    from ferkit.data.sources import parquet

    synth.hf_parquet_file(tmp_path / "train.parquet", [1, 2])
    monkeypatch.setattr(parquet, "MAX_UNPACKED_BYTES", 100)  # the real limit is 2 GiB; the faces here ~1 KB
    with pytest.raises(DataError, match="a row group unpacks to .* smaller row groups") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("train.parquet")


@pytest.mark.parametrize("writer", [pa.ipc.new_stream, pa.ipc.new_file])
def test_save_to_disk_arrow_files_read_like_parquet(tmp_path, writer):
    """``datasets``' save_to_disk writes Arrow streams (``train/data-00000-of-00001.arrow``) with the same
    Hugging Face metadata; Arrow files with a footer read too."""
    for split, labels, seed in [("train", [3, 0], 0), ("test", [6], 5)]:
        table = pq.read_table(synth.hf_parquet_file(tmp_path / f"tmp/{split}.parquet", labels, seed=seed))
        (tmp_path / "fer" / split).mkdir(parents=True)
        with writer(str(tmp_path / "fer" / split / "data-00000-of-00001.arrow"), table.schema) as w:
            w.write_table(table, max_chunksize=1)  # several record batches
    src = read_source(tmp_path / "fer")
    assert src.format == "parquet" and src.taxonomy.classes == tuple(FER)
    assert sorted(_by_id(src).values()) == [("angry", "train"), ("happy", "train"), ("neutral", "test")]
    np.testing.assert_array_equal(
        src.images[src.ids.tolist().index("train/data-00000-of-00001.arrow:2")], synth.face(1)
    )
