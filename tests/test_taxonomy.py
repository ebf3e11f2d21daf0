import numpy as np
import pytest

from ferkit.data.sources import fer2013, ferplus
from ferkit.taxonomy import FERKIT, Taxonomy, canonical_name


def test_ferkit_order():
    assert FERKIT.classes == (
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt", "confused",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("alias", "name"),
    [("happiness", "happy"), ("anger", "angry"), ("sadness", "sad"), ("surprised", "surprise"),
     ("fearful", "fear"), ("disgusted", "disgust"), ("AN", "angry"), ("NE", "neutral"), ("Contempt", "contempt")],
)  # fmt: skip
def test_aliases(alias, name):
    assert canonical_name(alias) == name


def test_unknown_alias_is_none():
    assert canonical_name("unknown") is None
    assert canonical_name("NF") is None


def test_fer2013_table():
    # The CSV's codes: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral.
    assert fer2013.TAXONOMY.remap_to(FERKIT).tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_ferplus_table():
    # neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    assert ferplus.TAXONOMY.remap_to(FERKIT).tolist() == [6, 3, 5, 4, 0, 1, 2, 7, -1, -1]


def test_remap_to_subset_drops_missing():
    small = Taxonomy(("happy", "sad"))
    assert fer2013.TAXONOMY.remap_to(small).tolist() == [-1, -1, -1, 0, 1, -1, -1]


def test_duplicate_classes_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        Taxonomy(("happy", "happy"))


def test_index_error_names_classes():
    with pytest.raises(KeyError, match="angry"):
        fer2013.TAXONOMY.index("contempt")


def test_from_names_resolves_aliases():
    assert Taxonomy.from_names(["Happiness", "anger"]).classes == ("happy", "angry")
    with pytest.raises(KeyError, match="bored"):
        Taxonomy.from_names(["bored"])
    assert np.array_equal(FERKIT.remap_to(FERKIT), np.arange(9))


def test_user_classes_remap_by_name():
    folders = Taxonomy(("Bored", "happiness", "unknown"))
    assert folders.remap_to(FERKIT).tolist() == [-1, 3, -1]
    assert folders.remap_to(Taxonomy(("happy", "bored"))).tolist() == [1, 0, -1]
