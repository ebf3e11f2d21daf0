import numpy as np
import synth

from ferkit.data import cache, load_source


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = synth.class_folders(tmp_path / "ds", {"happy": 2, "sad": 1})
    synth.truncate(root / "sad/img2.png")
    first = load_source(root, on_error="skip")
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(cache, "read_source", lambda *a: (_ for _ in ()).throw(AssertionError("decoded again")))
    again = load_source(root, on_error="skip")
    assert np.array_equal(first.images, again.images) and again.ids.tolist() == first.ids.tolist()
    assert again.taxonomy == first.taxonomy and again.skipped == first.skipped


def test_damaged_entry_is_rebuilt_and_policy_is_in_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = synth.class_folders(tmp_path / "ds", {"happy": 2})
    load_source(root)
    (entry,) = (tmp_path / "cache").glob("*.npz")
    entry.write_bytes(b"damaged")
    assert len(load_source(root)) == 2
    load_source(root, on_error="skip")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_changed_files_miss_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = synth.class_folders(tmp_path / "ds", {"happy": 2})
    assert len(load_source(root)) == 2
    synth.write_image(root / "sad/new.png", synth.face(9))
    assert len(load_source(root)) == 3


def test_label_file_edited_in_place_misses_the_cache(tmp_path, monkeypatch):
    """Same size, same mtime, other labels (an in-place edit, a copy that keeps times): the content decides."""
    import os

    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = synth.rafdb_basic(tmp_path / "raf", {"train_00001.jpg": 1, "train_00002.jpg": 4, "test_0001.jpg": 5})
    labels = root / "basic/EmoLabel/list_patition_label.txt"
    before = load_source(root)
    st = labels.stat()
    labels.write_text(labels.read_text().replace("train_00001.jpg 1", "train_00001.jpg 2"))
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert labels.stat().st_size == st.st_size and labels.stat().st_mtime_ns == st.st_mtime_ns
    after = load_source(root)
    assert not np.array_equal(before.labels, after.labels)
