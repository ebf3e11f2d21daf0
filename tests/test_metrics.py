import numpy as np
import pytest

from ferkit.engine.calibrate import fit_class_bias, fit_temperature, gated_class_bias
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


def _rare_class_case(seed=0):
    """Class 2 is rare and its faces score it just below the top class: never predicted without an offset."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.zeros(400, int), np.ones(400, int), np.full(40, 2)])
    logits = rng.normal(0, 0.1, (len(y), 3))
    logits[np.arange(len(y)), np.where(y == 2, 0, y)] += 2.0  # rare faces look most like class 0 ...
    logits[y == 2, 2] += 1.5  # ... with class 2 a close second
    logits[y != 2, 2] -= 1.0
    return logits, y


def test_class_bias_makes_a_never_predicted_class_predicted_within_the_accuracy_budget():
    logits, y = _rare_class_case()
    assert (logits.argmax(1) != 2).all()
    acc0 = (logits.argmax(1) == y).mean()
    bias = fit_class_bias(logits, y, max_accuracy_drop=0.005)
    pred = (logits + bias).argmax(1)
    assert bias[2] > bias[0] and (pred[y == 2] == 2).mean() > 0.5  # rare-class recall from 0 to most of it
    assert (pred == y).mean() >= acc0 - 0.005
    strict = fit_class_bias(logits, y, max_accuracy_drop=0.0)
    assert ((logits + strict).argmax(1) == y).mean() >= acc0  # no budget: accuracy never falls


def test_class_bias_leaves_a_model_with_nothing_to_gain_alone_and_never_unmasks():
    y = np.array([0, 1, 2, 0, 1, 2])
    logits = np.eye(3)[y] * 3.0
    assert (fit_class_bias(logits, y) == 0).all()  # already perfect: every offset stays 0
    masked, ym = _rare_class_case()
    masked[:, 2] = -1e9  # a class these rows' source lacks
    assert ((masked + fit_class_bias(masked, ym, max_accuracy_drop=1.0)).argmax(1) != 2).all()


def test_class_bias_keeps_every_groups_accuracy_within_the_budget():
    # group 0 is mostly class 0, group 1 mostly class 1, and each group's faces sit near the 0/1 boundary: an offset
    # that favours class 1 helps group 1 and hurts group 0. Pooled accuracy may allow it; the per-group budget not.
    rng = np.random.default_rng(1)
    g = np.repeat([0, 1], 500)
    y = np.where(rng.random(1000) < 0.8, g, 1 - g)
    logits = np.zeros((1000, 2))
    logits[np.arange(1000), y] += 0.5 + rng.normal(0, 0.4, 1000)
    logits[:, 1] -= 0.3  # the model leans to class 0 ...
    logits[g == 1, 1] -= 0.3  # ... most where class 1 is common, so macro-F1 wants class 1 raised
    base = [((logits.argmax(1) == y)[g == k]).mean() for k in (0, 1)]
    pooled = fit_class_bias(logits, y, max_accuracy_drop=0.0)
    grouped = fit_class_bias(logits, y, max_accuracy_drop=0.0, groups=g)
    after = [(((logits + grouped).argmax(1) == y)[g == k]).mean() for k in (0, 1)]
    assert after[0] >= base[0] and after[1] >= base[1]
    pooled_after = [(((logits + pooled).argmax(1) == y)[g == k]).mean() for k in (0, 1)]
    assert min(a - b for a, b in zip(pooled_after, base, strict=True)) < 0  # the pooled budget lets one group pay


def test_bagged_class_bias_keeps_a_real_offset_and_loses_less_to_noise_on_new_faces():
    logits, y = _rare_class_case()  # a real, systematic under-prediction of class 2
    single, bagged = fit_class_bias(logits, y, 0.005), fit_class_bias(logits, y, 0.005, bags=10)
    assert abs(bagged[2] - single[2]) < 0.3 and ((logits + bagged).argmax(1)[y == 2] == 2).mean() > 0.5
    assert np.array_equal(bagged, fit_class_bias(logits, y, 0.005, bags=10))  # seeded: the same offsets again

    def faces(rng, n):  # a model with no class bias at all: any offset fitted on few faces fits their noise
        yy = rng.integers(0, 4, n)
        z = rng.normal(0, 1, (n, 4))
        z[np.arange(n), yy] += 1.5
        return z, yy

    held_out = {"single": [], "bagged": []}  # macro-F1 on 4,000 new faces of offsets fitted on 40
    for seed in range(10):
        rng = np.random.default_rng(seed)
        (z, yy), (new, y_new) = faces(rng, 40), faces(rng, 4000)
        for name, bags in (("single", 1), ("bagged", 10)):
            pred = (new + fit_class_bias(z, yy, bags=bags)).argmax(1)
            held_out[name].append(np.mean([2 * ((pred == c) & (y_new == c)).sum() / ((pred == c).sum()
                                                + (y_new == c).sum()) for c in range(4)]))  # fmt: skip
    assert np.mean(held_out["bagged"]) > np.mean(held_out["single"]) + 0.005
    steps = []
    fit_class_bias(z, yy, bags=3, on_step=lambda: steps.append(1))
    assert len(steps) == 3 * 2 * 4  # bags x rounds x classes, for the progress bar


def test_gated_class_bias_keeps_offsets_that_generalise_and_drops_those_that_fit_noise():
    logits, y = _rare_class_case()  # a real under-prediction of class 2: out-of-fold macro-F1 gains
    bias, report = gated_class_bias(logits, y, 0.005)
    assert report["cv_folds"] == 5 and report["cv_macro_f1_gain"] > 0.05
    assert np.array_equal(bias, fit_class_bias(logits, y, 0.005, bags=25))
    dropped = 0  # a model with no class bias at all: the offsets fitted on 400 faces are noise
    for seed in range(5):
        rng = np.random.default_rng(seed)
        yy = rng.integers(0, 4, 400)
        z = rng.normal(0, 1, (400, 4))
        z[np.arange(400), yy] += 1.5
        bias, report = gated_class_bias(z, yy)
        assert (bias == 0).all() == (report["cv_macro_f1_gain"] <= 0)
        dropped += int((bias == 0).all())
    assert dropped >= 4


def test_offsets_are_gated_per_head_so_one_head_keeps_them_while_another_drops_its_own():
    from ferkit.config import CalibrateConfig
    from ferkit.engine.calibrate import class_offsets

    rare, y_rare = _rare_class_case()  # head "a" (columns 0-2): offsets that generalise
    rng = np.random.default_rng(1)
    y_noise = rng.integers(0, 4, 400)  # head "b" (columns 3-6): no class bias, offsets would fit noise
    noise = rng.normal(0, 1, (400, 4))
    noise[np.arange(400), y_noise] += 1.5
    logits = np.full((len(y_rare) + 400, 7), -1e9, np.float32)  # each face is scored by its own head only
    logits[: len(y_rare), :3], logits[len(y_rare) :, 3:] = rare, noise
    y = np.concatenate([y_rare, y_noise + 3])
    groups = np.repeat([0, 1], [len(y_rare), 400])
    heads = {"a": slice(0, 3), "b": slice(3, 7)}
    bias, report = class_offsets(logits, y, groups, CalibrateConfig(max_accuracy_drop=0.005), 0, heads)
    assert report["offset_gate"]["a"]["cv_macro_f1_gain"] > 0.05  # kept: the rare class is predicted now
    assert ((rare + bias[:3]).argmax(1)[y_rare == 2] == 2).mean() > 0.5
    assert report["offset_gate"]["b"]["cv_macro_f1_gain"] <= 0 and (bias[3:] == 0).all()  # dropped
    alone = gated_class_bias(rare, y_rare, 0.005, groups[: len(y_rare)])[0]  # each head is gated as if alone
    assert np.array_equal(bias[:3], alone)
    # a joint gate over all seven columns decides for both heads at once: here it keeps head b's noise too
    joint, joint_report = gated_class_bias(logits, y, 0.005, groups)
    assert joint_report["cv_macro_f1_gain"] > 0 and (joint[3:] != 0).any()
    bias, report = class_offsets(logits, y, groups, CalibrateConfig(max_accuracy_drop=0.005), 0, {"b": heads["b"]})
    assert (bias == 0).all() and list(report["offset_gate"]) == ["b"]  # a head left out gets no offsets


def test_offsets_scored_at_once_match_one_scoring_per_offset():
    """The grid search scores every offset of a class in one pass; it must give the numbers one call per offset
    gives, ties (argmax takes the first index) and masked classes included."""
    from ferkit.engine.calibrate import _accuracies_and_macro_f1, _scores_along

    rng = np.random.default_rng(5)
    y = rng.integers(0, 5, 300)
    logits = np.round(rng.normal(0, 1, (300, 5)), 1).astype(np.float32)  # many exact ties on the 0.1 grid
    logits[rng.random((300, 5)) < 0.1] = -1e9
    groups = rng.integers(0, 2, 300)
    bias = np.array([0.1, -0.2, 0.0, 0.3, 0.0], np.float32)
    values = np.round(np.linspace(-1, 1, 21), 6).astype(np.float32)
    for c in range(5):
        accs, f1 = _scores_along(logits, y, groups, 5, bias, c, values)
        for i, v in enumerate(values):
            trial = bias.copy()
            trial[c] = v
            want_accs, want_f1 = _accuracies_and_macro_f1(logits + trial, y, groups, 5)
            assert np.allclose(accs[i], want_accs) and np.isclose(f1[i], want_f1), (c, v)
