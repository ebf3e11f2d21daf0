import cv2
import numpy as np
import pytest
from conftest import face_image

from ferkit.data.storage import decode_image
from ferkit.imaging import crop_face, crop_faces, eye_angle, to_face
from ferkit.inference.detectors import Detection, YuNetDetector
from ferkit.preprocess import Preprocessing

P = Preprocessing(size=48, margin=0.0, align=True)


def _level(box, dy=0.0):
    x, y, w, h = box
    lm = np.array([[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h + dy], [x + 0.5 * w, y + 0.6 * h],
                   [x + 0.35 * w, y + 0.8 * h], [x + 0.65 * w, y + 0.8 * h]], np.float32)  # fmt: skip
    return Detection(box, 0.9, lm)


def test_crop_shape_and_plain_slice():
    img = face_image()
    det = _level((150.0, 180.0, 100.0, 120.0))
    face = crop_face(img, det, P)
    assert face.shape == (48, 48) and face.dtype == np.uint8
    # level eyes: exactly the gray square of side max(w, h) around the box centre, area-resized
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    expected = to_face(gray[180:300, 140:260], 48)
    np.testing.assert_array_equal(face, expected)


def test_margin_and_size():
    img = face_image()
    det = Detection((150.0, 180.0, 100.0, 100.0), 0.9, None)
    face = crop_face(img, det, Preprocessing(size=64, margin=0.2, align=False))
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(face, to_face(gray[170:290, 140:260], 64))


def test_box_past_border_is_padded():
    img = face_image()
    for box in [(-50.0, -40.0, 120.0, 120.0), (600.0, 440.0, 100.0, 100.0), (900.0, 900.0, 50.0, 50.0)]:
        assert crop_face(img, Detection(box, 0.9, None), P).shape == (48, 48)


def test_alignment_undoes_rotation():
    img = face_image(size=(400, 400), faces=((200, 200, 80),))
    det = _level((130.0, 110.0, 140.0, 180.0))
    upright = crop_face(img, det, P)
    rot = cv2.getRotationMatrix2D((200, 200), -25, 1.0)  # rotate the image 25 degrees (clockwise on screen)
    rotated = cv2.warpAffine(img, rot, (400, 400), borderMode=cv2.BORDER_REPLICATE)
    lm = cv2.transform(det.landmarks[None], rot)[0]
    tilted = Detection(det.box, 0.9, lm)  # the box centre is the rotation centre: it does not move
    assert eye_angle(lm) == pytest.approx(25, abs=0.01)
    aligned = crop_face(rotated, tilted, P)
    unaligned = crop_face(rotated, tilted, Preprocessing(48, 0.0, align=False))
    err_aligned = np.abs(aligned.astype(int) - upright).mean()
    err_unaligned = np.abs(unaligned.astype(int) - upright).mean()
    assert err_aligned < 3 and err_unaligned > 3 * err_aligned


def test_crop_faces_batch_matches_single():
    img = face_image(faces=((200, 240, 100), (480, 200, 60)))
    dets = [_level((110.0, 130.0, 180.0, 210.0), dy=8), Detection((420.0, 130.0, 120.0, 130.0), 0.8, None)]
    batch = crop_faces(img, dets, P)
    assert batch.shape == (2, 48, 48)
    for face, d in zip(batch, dets, strict=True):
        np.testing.assert_array_equal(face, crop_face(img, d, P))
    assert crop_faces(img, [], P).shape == (0, 48, 48)


def test_training_and_inference_crops_identical(tmp_path):
    """A whole-photo dataset (e.g. JAFFE, gray files) read for training and the same file read by the predictor
    (colour decode) go through crop_face and give the same pixels."""
    gray_photo = cv2.cvtColor(face_image(size=(256, 256), faces=((128, 128, 70),)), cv2.COLOR_BGR2GRAY)
    path = tmp_path / "KA.HA1.29.png"
    cv2.imwrite(str(path), gray_photo)
    data = path.read_bytes()
    train_img = decode_image(data, str(path), gray=True)  # what a dataset adapter reads
    infer_img = decode_image(data, str(path), gray=False)  # what the predictor reads (BGR)
    for det in (_level((70.0, 60.0, 116.0, 140.0), dy=10), Detection((70.0, 60.0, 116.0, 140.0), 0.9, None)):
        np.testing.assert_array_equal(crop_face(train_img, det, P), crop_face(infer_img, det, P))


def test_yunet_crop_frames_face_like_fer2013(yunet_path):
    """The default margin (0.0) frames a detected face like FER-2013: the crop spans the drawn face oval."""
    img = face_image()
    (det,) = YuNetDetector(yunet_path).detect(img)
    face = crop_face(img, det, P)
    assert face.shape == (48, 48)
    x, y, w, h = det.box
    assert 0.7 < w / 160 < 1.3 and 0.7 < h / 200 < 1.3  # the drawn oval is 160 x 200
