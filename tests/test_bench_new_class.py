"""bench/new_class.py's own logic: the K-per-class picker and the contempt figures read off a confusion matrix."""

import importlib.util
from pathlib import Path

import numpy as np

from ferkit.engine.metrics import classification_report

_spec = importlib.util.spec_from_file_location(
    "new_class", Path(__file__).resolve().parents[1] / "bench" / "new_class.py"
)
new_class = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(new_class)


def _labels():
    rng = np.random.default_rng(1)
    labels = np.array(["happy"] * 40 + ["contempt"] * 7 + ["sad"] * 20, dtype=object)
    return labels[rng.permutation(len(labels))]


def test_picks_k_per_class_of_that_class_and_all_of_a_short_one():
    labels = _labels()
    picks = new_class.pick_per_class(labels, ["happy", "contempt", "sad"], 10, seed=0)
    assert {c: len(p) for c, p in picks.items()} == {"happy": 10, "contempt": 7, "sad": 10}
    for c, rows in picks.items():
        assert (labels[rows] == c).all() and len(set(rows.tolist())) == len(rows)


def test_picks_are_seeded_and_a_smaller_k_is_a_subset():
    labels, classes = _labels(), ["happy", "contempt", "sad"]
    a = new_class.pick_per_class(labels, classes, 10, seed=3)
    assert all(np.array_equal(a[c], b) for c, b in new_class.pick_per_class(labels, classes, 10, seed=3).items())
    assert any(not np.array_equal(a[c], b) for c, b in new_class.pick_per_class(labels, classes, 10, 4).items())
    small = new_class.pick_per_class(labels, classes, 5, seed=3)
    assert all(set(small[c]) <= set(a[c]) for c in classes)


def test_contempt_view_counts_a_face_called_contempt_as_wrong():
    classes = ["happy", "sad", "contempt"]
    y = np.array([0, 0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 2, 1, 0, 2, 1])  # one happy face called contempt, one sad face called happy
    view = new_class.contempt_view(classification_report(np.eye(3)[pred], y, classes))
    assert view["others_n"] == 5 and view["others_accuracy"] == 3 / 5
    assert view["contempt_recall"] == 1 / 2 and view["contempt_precision"] == 1 / 2
    assert view["contempt_predicted"] == 2 and view["contempt_support"] == 2
