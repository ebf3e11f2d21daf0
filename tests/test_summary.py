import numpy as np
import synth

from ferkit.data.sources import read_source
from ferkit.data.summary import face_grid, row_labels, summarize


def test_summary_uses_ferkit_names_and_lists_unmapped(tmp_path):
    src = read_source(synth.class_folders(tmp_path, {"train/anger": 2, "train/bored": 1, "test/Happiness": 1}))
    s = summarize(src)
    assert s["classes"] == ["angry", "happy"]
    assert s["splits"] == {"train": {"angry": 2, "happy": 0}, "test": {"angry": 0, "happy": 1}}
    assert s["unmapped"] == {"bored": 1}
    assert s["ties"] == 0 and s["skipped"] == {"count": 0, "reasons": {}}


def test_summary_of_votes_counts_ties_and_skips(tmp_path):
    synth.ferplus_folders(tmp_path)
    synth.truncate(tmp_path / "data/FER2013Test/fer0000005.png")
    src = read_source(tmp_path, on_error="skip")
    src.targets[0] = [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]
    assert row_labels(src)[0] == -1
    s = summarize(src)
    assert s["ties"] == 1
    assert s["skipped"] == {"count": 1, "reasons": {"truncated PNG": 1}}
    assert set(s["splits"]) == {"train", "val", "test"}
    assert "contempt" in s["classes"] and "unknown" not in s["classes"]


def test_face_grid_has_one_row_per_class(tmp_path):
    src = read_source(synth.ckplus(tmp_path, {"anger": 3, "happy": 1}))
    g = face_grid(src, per_class=2, scale=1)
    assert g.dtype == np.uint8 and g.shape == (48 * 7, 120 + 2 * 48)
