import numpy as np

from ferkit.inference.annotate import annotate
from ferkit.inference.predictor import Face

PROBS = {"angry": 0.1, "happy": 0.7, "sad": 0.2}


def _face(x):
    return Face(
        (x, 40.0, 100.0, 120.0),
        PROBS,
        "happy",
        0.7,
        ((x + 30, 80), (x + 70, 80), (x + 50, 100), (x + 35, 130), (x + 65, 130)),
    )


def test_annotate_sizes_and_is_a_copy():
    img = np.full((480, 640, 3), 100, np.uint8)
    one = annotate(img, [_face(50.0)])
    assert one.shape == img.shape and (img == 100).all() and not (one == 100).all()
    many = annotate(img, [_face(50.0), _face(300.0)])
    assert many.shape[0] == 480 and many.shape[1] > 640  # several faces: bars in a sidebar
    assert annotate(img, [], sidebar=True).shape == many.shape  # video frames keep one size
    small = annotate(np.zeros((48, 48, 3), np.uint8), [_face(0.0)])
    assert small.shape == (480, 480, 3)  # enlarged so that text is readable
    crowd = annotate(img, [_face(float(x)) for x in range(0, 600, 40)])
    assert crowd.shape == many.shape
