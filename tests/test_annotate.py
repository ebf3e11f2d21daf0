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


def test_annotate_keeps_the_input_size_unless_a_panel_is_asked_for():
    img = np.full((480, 640, 3), 100, np.uint8)
    one = annotate(img, [_face(50.0)])
    assert one.shape == img.shape and (img == 100).all() and not (one == 100).all()
    many = annotate(img, [_face(50.0), _face(300.0)])
    assert many.shape == img.shape
    small = annotate(np.zeros((48, 48, 3), np.uint8), [_face(0.0)])
    assert small.shape == (48, 48, 3)
    crowd = annotate(img, [_face(float(x)) for x in range(0, 600, 40)])
    assert crowd.shape == img.shape
    panel = annotate(img, [_face(50.0), _face(300.0)], sidebar=True)
    assert panel.shape[0] == 480 and panel.shape[1] > 640  # bars in a column right of the image
    assert annotate(img, [], sidebar=True).shape == panel.shape  # video frames keep one size
    assert annotate(img, [_face(float(x)) for x in range(0, 600, 40)], sidebar=True).shape == panel.shape
    assert annotate(np.zeros((48, 48, 3), np.uint8), [_face(0.0)], sidebar=True).shape[0] == 480  # enlarged
