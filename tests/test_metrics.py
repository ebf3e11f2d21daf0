import numpy as np
import pytest

from ferkit.engine.calibrate import fit_temperature
from ferkit.engine.metrics import classification_report, confusion_matrix, expected_calibration_error


def test_report_by_hand():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 1, 1])
    r = classification_report(probs, y, ["a", "b"])
    assert r["accuracy"] == 0.75
    assert r["confusion"]["matrix"] == [[1, 0], [1, 2]]
    assert r["per_class"]["a"]["precision"] == 0.5 and r["per_class"]["a"]["recall"] == 1.0
    assert r["per_class"]["b"]["precision"] == 1.0 and r["per_class"]["b"]["recall"] == pytest.approx(2 / 3)
    f1a, f1b = 2 * 0.5 / 1.5, 2 * (2 / 3) / (1 + 2 / 3)
    assert r["macro_f1"] == pytest.approx((f1a + f1b) / 2)
    assert r["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert r["loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])))


def test_confusion_counts():
    assert confusion_matrix(np.array([0, 0, 2]), np.array([0, 2, 2]), 3).tolist() == [[1, 0, 1], [0, 0, 0], [0, 0, 1]]


def test_ece_perfect_and_overconfident():
    y = np.array([0, 1, 0, 1])
    assert expected_calibration_error(np.eye(2)[y], y) == 0.0
    wrong = np.array([[0.99, 0.01]] * 4)  # 99% sure, right half the time
    assert expected_calibration_error(wrong, y) == pytest.approx(0.49)


def test_temperature_recovers_scale():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (4000, 5))
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in p])
    t = fit_temperature(true_logits * 3.0, y)  # logits 3x too sharp -> temperature near 3
    assert 2.6 < t < 3.4
