import cv2
import numpy as np
import synth

from ferkit.data import dedupe
from ferkit.data.sample import SourceData
from ferkit.taxonomy import Taxonomy


def _jpeg(img, quality=75):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def _source(name, images, splits):
    n = len(images)
    return SourceData(
        name, "test", name, Taxonomy(("happy",)), np.stack(images), np.ones((n, 1), np.float32),
        np.array(splits), np.array([f"{name}{i}" for i in range(n)]),
    )  # fmt: skip


FACES = [synth.face(s) for s in range(40)]


def test_phash_shapes_and_jpeg_robustness():
    h = dedupe.phash(np.stack(FACES))
    assert h.shape == (40,) and h.dtype == np.uint64
    assert dedupe.phash(np.stack(FACES), size=16).shape == (40, 4)
    hj = dedupe.phash(np.stack([_jpeg(f) for f in FACES]))
    assert (np.bitwise_count(h ^ hj) <= dedupe.DEFAULT_THRESHOLD).all()
    d = np.bitwise_count(h[:, None] ^ h[None])
    assert d[~np.eye(40, dtype=bool)].min() > dedupe.DEFAULT_THRESHOLD


def test_find_duplicates_and_nearest():
    query = np.stack([_jpeg(FACES[3]), FACES[30], _jpeg(FACES[7])])
    ref = np.stack(FACES[:20])
    m = dedupe.find_duplicates(query, ref)
    assert sorted(zip(m.query.tolist(), m.reference.tolist(), strict=True)) == [(0, 3), (2, 7)]
    n = dedupe.nearest(query, ref)
    assert n.query.tolist() == [0, 2] and n.reference.tolist() == [3, 7]
    assert (n.distance <= dedupe.DEFAULT_THRESHOLD).all()


def test_find_duplicates_accepts_hashes_and_sources():
    src = _source("a", FACES[:5], ["train"] * 5)
    m = dedupe.find_duplicates(src, dedupe.phash(src))
    assert m.query.tolist() == m.reference.tolist() == [0, 1, 2, 3, 4]


def test_leak_mask_marks_train_rows_seen_in_eval_splits():
    own = _source("own", [FACES[0], FACES[1], FACES[2], _jpeg(FACES[1])], ["train", "train", "train", "val"])
    other = _source("other", [_jpeg(FACES[2]), FACES[0]], ["test", "train"])
    mask = dedupe.leak_mask(own, [other])
    assert mask.tolist() == [False, True, True, False]  # 1 is in own val, 2 in other's test; 0 only in train
    assert dedupe.leak_mask(own, []).tolist() == [False, True, False, False]


def test_split_report_counts_eval_rows_with_training_twins():
    images = [FACES[0], FACES[1], _jpeg(FACES[0]), FACES[5], _jpeg(FACES[5])]
    a = _source("a", images, ["train", "train", "test", "val", "test"])
    b = _source("b", [_jpeg(FACES[1]), FACES[9]], ["train", "test"])
    rows = {(r["query"], r["reference"]): (r["query_rows"], r["duplicates"]) for r in dedupe.split_report([a, b])}
    assert rows[("a:test", "a:train")] == (2, 1)
    assert rows[("a:test", "a:val")] == (2, 1)
    assert rows[("a:val", "any:train")] == (1, 0)
    assert rows[("b:test", "any:train")] == (1, 0)
    assert rows[("a:test", "b:train")] == (2, 0)
