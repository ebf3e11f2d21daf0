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
