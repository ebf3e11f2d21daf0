import numpy as np
import pytest
import synth

from ferkit.data.sources import ckplus, read_source
from ferkit.errors import DataError
from ferkit.taxonomy import FERKIT


def test_ckplus_table():
    assert ckplus.TAXONOMY.remap_to(FERKIT).tolist() == [0, 7, 1, 2, 3, 4, 5]


def test_all_train_with_subject_in_id(tmp_path):
    src = read_source(synth.ckplus(tmp_path, {"anger": 1, "sadness": 2}))
    assert src.splits.tolist() == ["train"] * 3
    assert [src.taxonomy.classes[i] for i in src.labels] == ["anger", "sadness", "sadness"]
    assert src.ids[0] == "anger/S010_001_00000000.png"
    assert [ckplus.subject(i) for i in src.ids] == ["S010", "S011", "S012"]


def test_truncated_png_and_unknown_folder(tmp_path):
    synth.ckplus(tmp_path, {"anger": 2, "happy": 1})
    synth.truncate(tmp_path / "CK+48/anger/S010_001_00000000.png")
    synth.write_image(tmp_path / "CK+48/bored/S099_001_00000001.png", synth.face(1))
    with pytest.raises(DataError, match="truncated") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("S010_001_00000000.png")
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 2
    assert sorted(s.reason.split(";")[0].split(":")[0] for s in src.skipped) == [
        "truncated PNG", "unknown class folder 'bored'",
    ]  # fmt: skip


def test_empty_ckplus_folder(tmp_path):
    (tmp_path / "CK+48/anger").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        read_source(tmp_path, format="ckplus")


@pytest.fixture
def fixed_detector(monkeypatch):
    from test_sources_jaffe import FixedDetector

    from ferkit.data.sources import jaffe

    monkeypatch.setattr(jaffe, "_detector", FixedDetector)


def test_official_release_reads_the_last_three_frames_of_labelled_sequences(tmp_path, fixed_detector):
    from test_sources_jaffe import BOX

    from ferkit.data.sources import jaffe
    from ferkit.data.storage import decode_image
    from ferkit.imaging import crop_face

    root = synth.ckplus_official(tmp_path, {"S005/001": (5, "3.0000000e+00"), "S010/002": (2, "2.0000000e+00"),
                                            "S010/003": (4, None)})  # fmt: skip
    src = read_source(root)
    assert src.format == "ckplus-official" and src.splits.tolist() == ["train"] * 5
    assert src.ids.tolist() == ["S005/S005_001_00000003.png", "S005/S005_001_00000004.png",
                                "S005/S005_001_00000005.png", "S010/S010_002_00000001.png",
                                "S010/S010_002_00000002.png"]  # fmt: skip
    assert [src.taxonomy.classes[i] for i in src.labels] == ["disgust"] * 3 + ["contempt"] * 2
    assert [ckplus.subject(i) for i in src.ids] == ["S005"] * 3 + ["S010"] * 2
    assert src.taxonomy.remap_to(FERKIT).tolist() == [6, 0, 7, 1, 2, 3, 4, 5]
    apex = decode_image((root / "cohn-kanade-images/S005/001/S005_001_00000005.png").read_bytes(), "x")
    np.testing.assert_array_equal(src.images[2], crop_face(apex, BOX, jaffe.PREPROCESSING))


@pytest.mark.parametrize(
    ("label", "match"),
    [("x", "expected one emotion code, found 'x'"), ("9.0000000e+00", "unknown emotion code 9.0000000e.00")],
)
def test_official_bad_label_files_name_the_file(tmp_path, fixed_detector, label, match):
    root = synth.ckplus_official(tmp_path, {"S005/001": (3, "5.0000000e+00"), "S006/001": (3, label)})
    with pytest.raises(DataError, match=match) as e:
        read_source(root)
    assert e.value.path.endswith("S006_001_00000003_emotion.txt")
    src = read_source(root, on_error="skip")
    assert len(src) == 3 and len(src.skipped) == 1


def test_official_label_without_its_frame(tmp_path, fixed_detector):
    root = synth.ckplus_official(tmp_path, {"S005/001": (3, "5.0000000e+00")})
    (root / "cohn-kanade-images/S005/001/S005_001_00000003.png").unlink()
    with pytest.raises(DataError, match="its frame S005_001_00000003.png is not among the images"):
        read_source(root)
