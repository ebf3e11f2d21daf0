import numpy as np
import pytest

from ferkit.data.fusion import expressible, fuse, remap, shared_faces
from ferkit.data.sample import SourceData
from ferkit.data.sources import fer2013, ferplus
from ferkit.data.votes import apply_votes
from ferkit.taxonomy import FERKIT, Taxonomy


def make_source(name, taxonomy, targets, splits, seed=0):
    rng = np.random.default_rng(seed)
    n = len(targets)
    return SourceData(
        name=name,
        format="test",
        path=f"/fake/{name}",
        taxonomy=taxonomy,
        images=rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
        targets=np.array(targets, np.float32),
        splits=np.array(splits),
        ids=np.array([f"{name}-{i}" for i in range(n)]),
    )


def onehot(i, k):
    v = [0.0] * k
    v[i] = 1.0
    return v


def test_votes_majority_drops_ties_and_unknown():
    # neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    rows = [
        [6, 4, 0, 0, 0, 0, 0, 0, 0, 0],  # neutral wins
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # tie -> dropped
        [1, 0, 0, 0, 0, 0, 0, 2, 7, 0],  # unknown wins -> dropped
        [0, 0, 0, 0, 0, 0, 0, 6, 2, 2],  # contempt wins
    ]
    src = make_source("fp", ferplus.TAXONOMY, rows, ["test"] * 4)
    emo = ferplus.TAXONOMY.remap_to(FERKIT) >= 0
    out = apply_votes(src, "majority", emo)
    assert out.ids.tolist() == ["fp-0", "fp-3"]
    assert out.labels.tolist() == [0, 7]


def test_votes_soft_removes_single_vote_outliers():
    rows = [[7, 2, 1, 0, 0, 0, 0, 0, 0, 0]]
    src = make_source("fp", ferplus.TAXONOMY, rows, ["train"])
    out = apply_votes(src, "crossentropy", ferplus.TAXONOMY.remap_to(FERKIT) >= 0)
    np.testing.assert_allclose(out.targets[0][:3], [7 / 9, 2 / 9, 0.0], rtol=1e-6)


def test_remap_by_name_and_drop_counts():
    tax = Taxonomy(("happiness", "boredom", "anger"))
    src = make_source("x", tax, [onehot(0, 3), onehot(1, 3), onehot(2, 3), onehot(1, 3)], ["train"] * 4)
    out, dropped = remap(src, FERKIT)
    assert dropped == {"unmapped:boredom": 2}
    assert out.targets.argmax(1).tolist() == [FERKIT.index("happy"), FERKIT.index("angry")]


def test_fuse_masks_what_each_source_could_express():
    a = make_source("fer", fer2013.TAXONOMY, [onehot(i % 7, 7) for i in range(14)], ["train"] * 14, seed=1)
    votes = [[0, 0, 0, 0, 0, 0, 0, 10, 0, 0], [10, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    b = make_source("fp", ferplus.TAXONOMY, votes, ["train", "train"], seed=2)
    fused = fuse([a, b], leak_free=False)
    assert fused.taxonomy.classes == FERKIT.classes[:8]  # no source can express "confused"
    contempt = fused.taxonomy.index("contempt")
    assert not fused.masks[fused.source == 0][:, contempt].any()  # FER-2013 never offered contempt
    assert fused.masks[fused.source == 1].all()
    assert fused.targets[fused.source == 1].argmax(1).tolist() == [contempt, fused.taxonomy.index("neutral")]
    assert expressible(a) == list(FERKIT.classes[:7])


def test_fuse_removes_train_faces_leaked_into_test():
    a = make_source("a", fer2013.TAXONOMY, [onehot(0, 7)] * 6, ["train"] * 4 + ["test"] * 2, seed=3)
    a.images[1] = np.clip(a.images[4].astype(int) + 2, 0, 255).astype(np.uint8)  # near-duplicate of a test face
    fused = fuse([a])
    assert "a-1" not in fused.ids.tolist()
    assert fused.dropped["a"]["leak:near-duplicate of val/test"] == 1
    assert (fused.splits == "test").sum() == 2


def test_fuse_explicit_target_rejects_unknown_names():
    with pytest.raises(KeyError):
        Taxonomy.from_names(["happy", "bored"])


def test_shared_faces_pairs_each_face_once_per_source():
    a = make_source("a", fer2013.TAXONOMY, [onehot(0, 7)] * 6, ["train"] * 6, seed=1)
    b = make_source("b", fer2013.TAXONOMY, [onehot(1, 7)] * 5, ["train"] * 5, seed=2)
    noisy = np.clip(a.images.astype(int) + np.random.default_rng(0).integers(-2, 3, a.images.shape), 0, 255)
    b.images[:4] = noisy[[4, 0, 2, 2]].astype(np.uint8)  # b0 ~ a4, b1 ~ a0, b2 and b3 ~ a2; b4 is a stranger
    b.images[2] = a.images[2]  # the exact copy claims a2 before the noisy one
    fused = fuse([a, b], leak_free=False)
    assert shared_faces(fused).tolist() == [[0, 7], [1, -1], [2, 8], [3, -1], [4, 6], [5, -1], [9, -1], [10, -1]]


def test_shared_faces_never_merges_rows_of_one_source():
    a = make_source("a", fer2013.TAXONOMY, [onehot(0, 7)] * 4, ["train"] * 4, seed=1)
    a.images[3] = a.images[0]
    assert shared_faces(fuse([a], leak_free=False)).tolist() == [[0], [1], [2], [3]]
    b = make_source("b", fer2013.TAXONOMY, [onehot(1, 7)] * 2, ["train"] * 2, seed=2)
    b.images[:] = a.images[[0, 0]]
    faces = shared_faces(fuse([a, b], leak_free=False))
    assert faces.shape == (4, 2) and sorted(faces[:, 1][faces[:, 1] >= 0].tolist()) == [4, 5]
