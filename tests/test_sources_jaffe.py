import numpy as np
import pytest
import synth

from ferkit.data.sources import jaffe, read_source
from ferkit.data.storage import decode_image
from ferkit.errors import DataError
from ferkit.imaging import crop_face
from ferkit.inference.detectors import Detection
from ferkit.taxonomy import FERKIT

BOX = Detection(box=(64.0, 56.0, 120.0, 130.0), score=0.9, landmarks=None)


class FixedDetector:
    name = "fixed"

    def __init__(self, found=(BOX,)):
        self.found = list(found)

    def detect(self, image):
        return self.found


def test_jaffe_table():
    assert jaffe.TAXONOMY.remap_to(FERKIT).tolist() == [0, 1, 2, 3, 6, 4, 5]


def test_crop_is_the_inference_crop_of_the_detected_box(tmp_path, monkeypatch):
    monkeypatch.setattr(jaffe, "_detector", FixedDetector)
    root = synth.jaffe(tmp_path, ["KA.AN1.39.tiff", "KM.SU3.70.tiff"])
    src = read_source(root)
    assert src.format == "jaffe" and src.splits.tolist() == ["train", "train"]
    assert src.ids.tolist() == ["KA/KA.AN1.39.tiff", "KM/KM.SU3.70.tiff"]
    assert [src.taxonomy.classes[i] for i in src.labels] == ["AN", "SU"]
    photo = decode_image((root / "jaffe/KA.AN1.39.tiff").read_bytes(), "x")
    assert photo.shape == (256, 256)
    assert np.array_equal(src.images[0], crop_face(photo, BOX, jaffe.PREPROCESSING))


def test_most_confident_face_is_used(tmp_path, monkeypatch):
    small = Detection(box=(0.0, 0.0, 30.0, 30.0), score=0.5, landmarks=None)
    monkeypatch.setattr(jaffe, "_detector", lambda: FixedDetector([small, BOX]))
    src = read_source(synth.jaffe(tmp_path, ["KA.HA1.29.tiff"]))
    photo = decode_image((tmp_path / "jaffe/KA.HA1.29.tiff").read_bytes(), "x")
    assert np.array_equal(src.images[0], crop_face(photo, BOX, jaffe.PREPROCESSING))


def test_no_face_is_a_data_error_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(jaffe, "_detector", lambda: FixedDetector([]))
    synth.jaffe(tmp_path, ["KA.AN1.39.tiff"])
    with pytest.raises(DataError, match="no face found") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("KA.AN1.39.tiff")


def test_bad_files_skipped_with_reasons(tmp_path, monkeypatch):
    monkeypatch.setattr(jaffe, "_detector", FixedDetector)
    synth.jaffe(tmp_path, ["KA.AN1.39.tiff", "KA.XX1.40.tiff", "KA.DI1.41.tiff"])
    (tmp_path / "jaffe/KA.DI1.41.tiff").write_bytes(b"II*\x00garbage")
    with pytest.raises(DataError, match=r"KA.DI1.41.tiff: truncated TIFF"):
        read_source(tmp_path)
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 1 and len(src.skipped) == 2


def test_real_detector_on_a_drawn_face(tmp_path, monkeypatch, yunet_path):
    # End to end through the real default detector (YuNet from the shared model file; skipped without it).
    import cv2
    from conftest import face_image

    monkeypatch.setenv("FERKIT_YUNET", str(yunet_path))
    (tmp_path / "jaffe").mkdir()
    photo = cv2.cvtColor(face_image(((128, 128, 70),), size=(256, 256)), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "jaffe/KA.HA1.29.tiff"), photo)
    cv2.imwrite(str(tmp_path / "jaffe/KA.NE1.26.tiff"), np.full((256, 256), 90, np.uint8))
    src = read_source(tmp_path, on_error="skip")
    assert src.ids.tolist() == ["KA/KA.HA1.29.tiff"] and src.images.shape == (1, 48, 48)
    assert [s.reason for s in src.skipped] == ["no face found"]


def test_cache_is_keyed_by_the_detector(tmp_path, monkeypatch):
    from ferkit.data import load_source

    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(jaffe, "_detector", FixedDetector)
    root = synth.jaffe(tmp_path / "ds", ["KA.AN1.39.tiff"])
    first = load_source(root)
    other = Detection(box=(10.0, 10.0, 60.0, 60.0), score=1.0, landmarks=None)

    class OtherDetector(FixedDetector):
        name = "other"

        def __init__(self):
            super().__init__([other])

    monkeypatch.setattr(jaffe, "_detector", OtherDetector)
    second = load_source(root)
    assert not np.array_equal(first.images, second.images)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
