import numpy as np
import pytest

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, from_samples, one_hot
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy

TAX = Taxonomy(("happy", "sad"))


def _data():
    img = np.zeros((48, 48), np.uint8)
    samples = [Sample("a", img, "train", one_hot(TAX, "happy")), Sample("b", img, "test", one_hot(TAX, "sad")),
               Sample("c", img, "train", one_hot(TAX, "sad"))]  # fmt: skip
    return from_samples(samples, name="n", format="f", path="p", taxonomy=TAX, skipped=[])


def test_from_samples_counts_and_select():
    src = _data()
    assert src.split_names() == ["train", "test"]
    assert src.counts() == {"train": {"happy": 1, "sad": 1}, "test": {"happy": 0, "sad": 1}}
    assert src.split("train").ids.tolist() == ["a", "c"]
    assert src.labels.tolist() == [0, 1, 1]


def test_error_policy_raise_skip_and_drop():
    err = DataError("f.csv", "bad", row=3)
    with pytest.raises(DataError):
        ErrorPolicy("raise").handle(err)
    policy = ErrorPolicy("skip")
    policy.handle(err)
    policy.drop("f.npy", "not an expression")
    assert [(s.where, s.reason) for s in policy.skipped] == [("f.csv, row 3", "bad"), ("f.npy", "not an expression")]
    with pytest.raises(ValueError):
        ErrorPolicy("ignore")
