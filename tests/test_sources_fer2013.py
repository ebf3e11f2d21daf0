import cv2
import hostile
import numpy as np
import pytest
import synth

from ferkit.data.sources import read_source
from ferkit.errors import DataError


def test_csv_splits(tmp_path):
    path = synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training"), (3, "PublicTest"), (6, "PrivateTest")])
    src = read_source(path)  # the CSV file itself
    assert src.format == "fer2013-csv"
    assert src.splits.tolist() == ["train", "val", "test"]
    assert [src.taxonomy.classes[i] for i in src.labels] == ["angry", "happy", "neutral"]


def _append(path, line):
    path.write_text(path.read_text() + line + "\n")


@pytest.mark.parametrize(
    ("line", "match"),
    [("0,1 2 3,Training", r"square face's pixels \(48x48 = 2304\), found 3"),
     ("9,{p},Training", "unknown emotion code 9"),
     ("x,{p},Training", "'x' is neither a code 0..7 nor one of"), ("0,{p},Nope", "unknown Usage 'Nope'"),
     ("2.5,{p},Training", "unknown emotion code 2.5"), ("0,{p} 7.5,Training", "pixels are not all integers"),
     ("0,{p} 300,Training", "found 2305"), ("0,,Training", "found 0 values"), ("0", "at least 3 fields")],
)  # fmt: skip
def test_csv_bad_rows(tmp_path, line, match):
    path = synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training")])
    _append(path, line.format(p=synth.pixels(synth.face(5))))
    with pytest.raises(DataError, match=match) as e:
        read_source(path)
    assert e.value.row == 3 and e.value.path.endswith("fer2013.csv")
    src = read_source(path, on_error="skip")
    assert len(src) == 1 and src.skipped[0].where.endswith("fer2013.csv, row 3")


def _rows(text_rows, header="emotion,pixels,Usage", delimiter=","):
    return header + "\n" + "".join(delimiter.join(r) + "\n" for r in text_rows)


def test_csv_in_other_styles_reads_the_same_faces(tmp_path):
    """Kaggle's icml_face_data.csv order with spaces, extra columns, other delimiters, names for codes, other
    column names and split values, pixels as a Python list or scaled to 0..1, CRLF and blank lines, a BOM, Latin-1
    bytes in another column: all the same three faces with the same labels."""
    faces = [synth.face(i) for i in range(3)]
    px = [synth.pixels(f) for f in faces]
    codes, usages = ["0", "3", "6"], ["Training", "PublicTest", "PrivateTest"]
    want = read_source(synth.fer2013_csv(tmp_path / "ref" / "fer2013.csv", list(zip([0, 3, 6], usages, strict=True))))
    cup = list(zip(codes, usages, px, strict=True))
    variants = {
        "icml.csv": _rows([(c, u, p) for c, u, p in cup], "emotion, Usage, pixels"),
        "extra.csv": _rows([(str(i), "x", c, p, u) for i, (c, u, p) in enumerate(cup)],
                           "id,source,Emotion,Pixels,USAGE"),
        "semi.csv": _rows([(c, p, u) for c, u, p in cup], "emotion;pixels;Usage", ";"),
        "tabs.tsv": _rows([(c, p, u) for c, u, p in cup], "emotion\tpixels\tUsage", "\t"),
        "names.csv": _rows([(n, p, u) for n, (_, _, p), u in zip(["Anger", "happiness", "NEUTRAL"], cup,
                                                                 ["train", "Public Test", "private_test"],
                                                                 strict=True)]),
        "floats.csv": _rows([(c + ".0", '"' + p.replace(" ", ",") + '"', u) for c, u, p in cup]),
        "names2.csv": _rows([(u2, c, p) for (c, _, p), u2 in zip(cup, ["train", "dev", "testing"], strict=True)],
                            "Set,Emotion Label,pixel_values"),
        "list.csv": _rows([(c, '"' + str([int(v) for v in p.split()]) + '"', u) for c, u, p in cup]),
        "scaled.csv": _rows([(c, " ".join(f"{int(v) / 255:.6f}" for v in p.split()), u) for c, u, p in cup]),
    }  # fmt: skip
    variants["headerless.csv"] = "".join(f"{c},{p},{u}\n" for c, u, p in cup)  # pandas' to_csv(header=False)
    for name, text in variants.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "crlf.csv").write_bytes(("\ufeff" + variants["icml.csv"] + "\n\n").replace("\n", "\r\n").encode())
    (tmp_path / "latin.csv").write_bytes(variants["extra.csv"].replace(",x,", ",Jos\xe9,").encode("latin-1"))
    for name in [*variants, "crlf.csv", "latin.csv"]:
        got = read_source(tmp_path / name)
        assert got.format == "fer2013-csv", name
        assert got.splits.tolist() == want.splits.tolist(), name
        assert got.labels.tolist() == want.labels.tolist(), name
        assert np.array_equal(got.images, want.images), name


def test_csv_blank_lines_keep_row_numbers_and_other_sizes_are_resized(tmp_path):
    big = synth.face(7, size=200)  # a pixels field of 160 KB: over the csv module's default field limit
    path = tmp_path / "faces.csv"
    path.write_text(_rows([("1", synth.pixels(big), "Training"), ("", "", ""), ("2", "1 2 3", "Training")]) + "\n")
    with pytest.raises(DataError, match="found 3 values") as e:
        read_source(path)
    assert e.value.row == 4  # the blank line 3 is counted as a line, not read as a row
    src = read_source(path, on_error="skip")
    assert len(src) == 1 and src.images.shape == (1, 48, 48)
    assert np.array_equal(src.images[0], cv2.resize(big, (48, 48), interpolation=cv2.INTER_AREA))


def test_two_csv_files_in_one_folder_are_two_datasets(tmp_path):
    a = synth.fer2013_csv(tmp_path / "a.csv", [(0, "Training")] * 2, seed=0)
    b = synth.fer2013_csv(tmp_path / "b.csv", [(3, "Training")] * 5, seed=10)
    from ferkit.data import load_source

    first, second = load_source(a), load_source(b)  # cached: the cache key must tell the two files apart
    assert (len(first), len(second)) == (2, 5)
    assert not np.array_equal(first.images[0], second.images[0])
    assert len(load_source(a)) == 2


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("empty.csv", b"", "empty file"),
        ("faces.csv.gz", b"\x1f\x8b\x08", r"faces.csv.gz: cannot unpack it \(EOFError"),  # a truncated gzip
        ("faces.7z", b"7z\xbc\xaf\x27\x1c", "compressed file ferkit does not open"),
        ("test.csv", b"pixels\n" + b" ".join([b"7"] * 2304) + b"\n", "faces without labels: a pixels column and no"),
        ("wide.csv", b",".join(b"pixel%d" % i for i in range(2304)) + b"\n", "faces without labels"),
    ],
)  # fmt: skip
def test_files_that_are_not_a_dataset_say_why(tmp_path, name, data, match):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError, match=match):
        read_source(tmp_path / name)


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_the_challenge_tarball_and_a_compressed_csv_read_like_the_csv(tmp_path, mode):
    """Kaggle's original challenge download is fer2013.tar.gz holding fer2013/fer2013.csv beside a README."""
    import gzip
    import tarfile

    csv = synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training"), (3, "PublicTest"), (6, "PrivateTest")] * 2)
    (tmp_path / "README").write_text("the challenge's readme")
    tar = tmp_path / ("fer2013.tar" + {"w:gz": ".gz", "w:bz2": ".bz2", "w:xz": ".xz", "w": ""}[mode])
    with tarfile.open(tar, mode) as t:
        t.add(csv, "fer2013/fer2013.csv")
        t.add(tmp_path / "README", "fer2013/README")
    plain, packed = read_source(csv), read_source(tar)
    assert packed.format == "fer2013-csv" and np.array_equal(plain.images, packed.images)
    assert plain.labels.tolist() == packed.labels.tolist() and plain.splits.tolist() == packed.splits.tolist()
    gz = tmp_path / "faces.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    assert np.array_equal(read_source(gz).images, plain.images)


def test_a_wide_csv_with_one_column_per_pixel_reads_like_the_csv(tmp_path):
    import csv as csvlib

    plain = read_source(synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training"), (5, "PrivateTest")] * 2))
    with open(tmp_path / "wide.csv", "w", newline="") as f:  # the split first, an id column, then the pixels
        w = csvlib.writer(f)
        w.writerow(["Usage", "id", "emotion", *(f"pixel_{i}" for i in range(2304)), "note"])
        for k, (img, label) in enumerate(zip(plain.images, plain.labels, strict=True)):
            usage = {"train": "Training", "test": "PrivateTest"}[plain.splits[k]]
            w.writerow([usage, k, int(label), *img.ravel().tolist(), "x"])
    wide = read_source(tmp_path / "wide.csv")
    assert wide.format == "fer2013-csv" and np.array_equal(wide.images, plain.images)
    assert wide.labels.tolist() == plain.labels.tolist() and wide.splits.tolist() == plain.splits.tolist()
    with open(tmp_path / "short.csv", "w", newline="") as f:  # 99 pixel columns: not a square face
        w = csvlib.writer(f)
        w.writerow(["emotion", *(str(i) for i in range(99))])
        w.writerow([3, *range(99)])
    with pytest.raises(DataError, match=r"short.csv.*row 2.*square face's pixels .* found 99 values"):
        read_source(tmp_path / "short.csv")


def test_folders_public_private_split(tmp_path):
    src = read_source(synth.fer2013_folders(tmp_path, {"train/angry": 1, "test/happy": 2}))
    assert sorted(src.splits.tolist()) == ["test", "train", "val"]


def test_folders_truncated_jpeg_and_bad_names(tmp_path):
    synth.fer2013_folders(tmp_path, {"train/angry": 2, "test/happy": 1})
    synth.truncate(tmp_path / "train/angry/Training_1000.jpg")
    synth.write_image(tmp_path / "test/happy/Other_1.jpg", synth.face(0))
    synth.write_image(tmp_path / "train/bored/Training_7.jpg", synth.face(0))
    with pytest.raises(DataError, match="must start with PublicTest_") as e:
        read_source(tmp_path)
    assert e.value.path.endswith("Other_1.jpg")
    src = read_source(tmp_path, on_error="skip")
    assert len(src) == 2 and len(src.skipped) == 3
    assert any(s.where.endswith("Training_1000.jpg") and "truncated" in s.reason for s in src.skipped)


def test_mutated_csv_bytes_are_read_or_refused_with_a_data_error(tmp_path):
    """Random damage to a CSV (flipped, inserted, deleted bytes; a cut) never crashes the reader: every mutant either
    reads (bad rows skipped and listed) or is a DataError naming the file."""
    from ferkit.data.errors import ErrorPolicy
    from ferkit.data.sources.fer2013 import read_csv_rows

    data = synth.fer2013_csv(tmp_path / "fer2013.csv", [(i % 7, "Training") for i in range(4)]).read_bytes()
    rng = np.random.default_rng(0)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(300):
        b = hostile.damage(data, rng)
        policy = ErrorPolicy("skip")
        try:
            rows = list(read_csv_rows(bytes(b), "m.csv", policy))
        except DataError as e:
            assert e.path == "m.csv"
            outcomes["refused"] += 1
            continue
        outcomes["read"] += 1
        assert len(rows) + len(policy.skipped) >= 1 or len(b) < len(data) // 2
        assert all(s.image.shape == (48, 48) and s.image.dtype == np.uint8 for _, s in rows)
    assert outcomes["read"] > 100 and outcomes["refused"] > 0, outcomes


def test_a_csv_labelled_by_name_with_contempt_is_an_eight_class_source(tmp_path):
    rows = [("happy", "Training"), ("contempt", "Training"), ("Contemptuous", "PublicTest"), ("4", "PrivateTest")]
    path = tmp_path / "mine.csv"
    path.write_text(_rows([(e, synth.pixels(synth.face(i)), u) for i, (e, u) in enumerate(rows)]))
    src = read_source(path)
    assert src.taxonomy.classes == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
    assert [src.taxonomy.classes[i] for i in src.labels] == ["happy", "contempt", "contempt", "sad"]
    _append(path, f"8,{synth.pixels(synth.face(9))},Training")  # codes go to 7 (contempt), no further
    with pytest.raises(DataError, match=r"unknown emotion code 8 \(expected 0..6, or 7 for contempt\)"):
        read_source(path)
    codes = synth.fer2013_csv(tmp_path / "codes.csv", [(0, "Training"), (6, "Training")])
    assert len(read_source(codes).taxonomy.classes) == 7


@pytest.mark.parametrize(
    ("header", "order"),
    [("emotion,pixels,Usage", (0, 1, 2)), (None, (0, 1, 2)), ("Usage,pixels,emotion", (2, 1, 0))],
)
def test_a_csv_with_the_code_7_reads_it_as_contempt(tmp_path, header, order):
    """CK+'s ckextended.csv (Kaggle): FER-2013's codes 0..6 and 7 for contempt, with Usage splits; also without a
    header, and with the emotion column last (where the byte scan cannot look and the rows are parsed)."""
    rows = [("7", "Training"), ("3", "Training"), ('"7.0"', "PublicTest"), ("0", "PrivateTest")]
    fields = [(e, synth.pixels(synth.face(i)), u) for i, (e, u) in enumerate(rows)]
    lines = [",".join(f[j] for j in order) for f in fields]
    path = tmp_path / "ckextended.csv"
    path.write_text("".join(f"{line}\n" for line in ([header] if header else []) + lines))
    src = read_source(path)
    assert src.taxonomy.classes[-1] == "contempt" and len(src.taxonomy.classes) == 8
    assert [src.taxonomy.classes[i] for i in src.labels] == ["contempt", "happy", "contempt", "angry"]
    assert src.splits.tolist() == ["train", "train", "val", "test"]
    np.testing.assert_array_equal(src.images[0], synth.face(0))


def test_a_file_given_with_its_format_is_read_itself_never_a_csv_beside_it(tmp_path):
    synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training")] * 3)  # a good CSV beside the file asked for
    other = tmp_path / "labels.csv"
    other.write_text("label,image,split\n0,faces/1.png,Training\n")
    with pytest.raises(DataError, match="not a FER-2013 style CSV") as e:
        read_source(other, format="fer2013-csv")
    assert e.value.path.endswith("labels.csv")
    assert len(read_source(tmp_path / "fer2013.csv", format="fer2013-csv")) == 3


def test_csv_files_joined_end_to_end_read_as_one(tmp_path):
    """cat a.csv b.csv: the second header is not a row (it was an error, "emotion 'emotion' is neither a code")."""
    a = synth.fer2013_csv(tmp_path / "a.csv", [(0, "Training"), (3, "PublicTest")])
    b = synth.fer2013_csv(tmp_path / "b.csv", [(6, "PrivateTest")], seed=5)
    joined = tmp_path / "joined.csv"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    src = read_source(joined)
    assert [src.taxonomy.classes[i] for i in src.labels] == ["angry", "happy", "neutral"]
    assert src.splits.tolist() == ["train", "val", "test"]
    np.testing.assert_array_equal(src.images[2], synth.face(5))


def test_a_utf16_csv_as_excel_saves_unicode_text_reads_the_same(tmp_path):
    """Excel's "Unicode Text": UTF-16 LE with a BOM, tab-delimited; a 7 for contempt is found in it too."""
    path = synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training"), (3, "PublicTest"), (7, "PrivateTest")])
    text = path.read_text().replace(",", "\t")
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    a, b = read_source(path), read_source(excel)
    assert b.taxonomy == a.taxonomy and b.taxonomy.classes[-1] == "contempt"
    assert b.labels.tolist() == a.labels.tolist() and b.splits.tolist() == a.splits.tolist()
    np.testing.assert_array_equal(a.images, b.images)


def test_a_csv_with_old_mac_line_endings_keeps_its_splits(tmp_path):
    """Lines ended by \r alone ("CSV (Macintosh)"): the header used to run into the first row, the Usage column was
    not found, and every face silently became a training face."""
    path = synth.fer2013_csv(tmp_path / "fer2013.csv", [(0, "Training"), (3, "PublicTest"), (7, "PrivateTest")])
    mac = tmp_path / "mac.csv"
    mac.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r"))
    a, b = read_source(path), read_source(mac)
    assert b.splits.tolist() == ["train", "val", "test"] and b.labels.tolist() == a.labels.tolist()
    assert b.taxonomy.classes[-1] == "contempt"
    np.testing.assert_array_equal(a.images, b.images)
