"""FER-2013: the original CSV (``emotion,pixels,Usage``) and the Kaggle folder layout, in a folder or a zip.

Splits: ``Training`` -> train, ``PublicTest`` -> val, ``PrivateTest`` -> test. The Kaggle layout merges both test
splits into ``test/``; the ``PublicTest_`` / ``PrivateTest_`` file-name prefix tells them apart.

CSV files in the same style are read too: columns found by name in any order (``emotion, Usage, pixels``; also
``label``, ``pixel_values``, ``split``, ...), other columns ignored, comma / semicolon / tab / bar delimiters, blank
lines skipped, emotions as codes or names, split values also ``train`` / ``val`` / ``test``, pixels as a bracketed
list or as fractions 0..1, or one column per pixel (``emotion,pixel0,...,pixel2303``), and any square face size
(resized to 48x48 like a folder's images).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import FACE_SIZE, Sample, Split
from ferkit.data.sources.text import DELIMITERS, as_utf8, column_names, csv_records, decode_text, first_line
from ferkit.data.storage import Encoded, Tree
from ferkit.errors import DataError
from ferkit.imaging import to_face
from ferkit.taxonomy import ALIASES, FERKIT_CLASSES, Taxonomy, canonical_name

# The CSV's emotion codes 0..6, in this order.
TAXONOMY = Taxonomy(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
USAGE_SPLITS: dict[str, Split] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
PREFIX_SPLITS: dict[str, Split] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def _one_hot(i: int, k: int = len(TAXONOMY)) -> np.ndarray:
    t = np.zeros(k, np.float32)
    t[i] = 1.0
    return t


# ---- original CSV -------------------------------------------------------------------------------------------

# Column names in any order (Kaggle's icml_face_data.csv is "emotion, Usage, pixels"), compared without case, spaces
# or punctuation ("Emotion Label", "pixel_values"); other columns are ignored. Without a split column every face is a
# training face. "image" is not a pixels name: label tables of image files (RAF-DB's re-uploads) use it for paths.
COLUMNS = {
    "emotion": ("emotion", "emotions", "label", "labels", "expression", "class", "emotionlabel", "target"),
    "pixels": ("pixels", "pixel", "pixelvalues", "imagepixels", "imgpixels"),
    "usage": ("usage", "split", "set", "subset", "partition"),
}
SPLIT_VALUES: dict[str, Split] = {
    **{k.lower(): v for k, v in USAGE_SPLITS.items()},
    **{"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val"},
    **{"test": "test", "testing": "test"},
}
MIN_SIDE = 8  # a square of pixels smaller than 8x8 is not a face


def split_value(text: str) -> Split | None:
    """The split a split column's value names (``Training``, ``Public Test``, ``public_test``, ``val``), or None."""
    return SPLIT_VALUES.get(re.sub(r"[\s_-]+", "", str(text).strip().lower()))


def parse_header(line: str) -> tuple[str, dict[str, int], int] | None:
    """(delimiter, the column of each known field, the line the data starts on) of a FER-2013 style CSV from its
    first line, or None when that line names no emotion and pixels columns under any delimiter and is not a
    headerless ``emotion,pixels[,Usage]`` data row (as ``pandas.to_csv(header=False)`` writes the file)."""
    line = line.lstrip("\ufeff")
    for delimiter in DELIMITERS:
        names = column_names(line, delimiter)
        cols = {}
        for field, aliases in COLUMNS.items():
            hits = [i for i, n in enumerate(names) if n in aliases]
            if hits:
                cols[field] = hits[0]
        if "emotion" in cols and "pixels" not in cols:  # a wide CSV: one column per pixel (pixel0, pixel1, ...)
            run = _pixel_columns(names)
            if run is not None:
                cols["pixels"], cols["pixels_last"] = run
        if "emotion" in cols and "pixels" in cols:
            return delimiter, cols, 2
    for delimiter in DELIMITERS:
        fields = [f.strip().strip('"') for f in line.split(delimiter)]
        pixels = fields[1].split() if len(fields) in (2, 3) else []
        label = fields[0]
        if (
            len(pixels) >= 64
            and all(p.isdigit() for p in pixels[:64])
            and (label in {str(i) for i in range(CONTEMPT_CODE + 1)} or canonical_name(label) is not None)
        ):
            cols = {"emotion": 0, "pixels": 1} | ({"usage": 2} if len(fields) == 3 else {})
            return delimiter, cols, 1
    return None


def _pixel_columns(names: list[str]) -> tuple[int, int] | None:
    """The first and last column of the longest run of consecutive pixel columns (``pixel0``, ``pixel_1``, ``px2``,
    ``p3`` or bare numbers; names already lower-cased without punctuation), if it has at least 64 columns."""
    is_pixel = [re.fullmatch(r"(pixel|px|p)?\d+", n) is not None for n in names]
    best, start = None, None
    for i, hit in enumerate([*is_pixel, False]):
        if hit and start is None:
            start = i
        elif not hit and start is not None:
            if i - start >= 64 and (best is None or i - start > best[1] - best[0] + 1):
                best = (start, i - 1)
            start = None
    return best


def unlabelled_csv(tree: Tree) -> bool:
    """Whether the file the tree points at is a CSV of faces without labels: a pixels column (or one column per
    pixel) and no emotion column, like the Kaggle challenge's ``test.csv``."""
    if not tree.focus or not tree.focus.lower().endswith((".csv", ".tsv")):
        return False
    line = first_line(decode_text(tree.head(tree.focus))).lstrip("\ufeff")
    for delimiter in DELIMITERS:
        names = column_names(line, delimiter)
        if not any(n in COLUMNS["emotion"] for n in names) and (
            any(n in COLUMNS["pixels"] for n in names) or _pixel_columns(names) is not None
        ):
            return True
    return False


def find_csv(tree: Tree) -> str | None:
    """The FER-2013 CSV in a tree: ``fer2013.csv`` or any .csv / .tsv whose header has emotion and pixels columns."""
    for name in ([tree.focus] if tree.focus else []) + tree.names():
        if name.lower().endswith((".csv", ".tsv")) and parse_header(first_line(decode_text(tree.head(name)))):
            return name
    return None


def _code(value: str, where: str, line: int, taxonomy: Taxonomy = TAXONOMY) -> int:
    """An emotion given as code 0..6 (``3`` or ``3.0``) or as its name (``happy``, ``Happiness``: any spelling
    ``ferkit.taxonomy`` knows), as an index into ``taxonomy`` (FER-2013's 7 classes, then any a CSV names)."""
    v = value.strip()
    name = canonical_name(v)  # happy, Happiness, joy, ...
    if name in taxonomy.classes:
        return taxonomy.classes.index(name)
    try:
        f = float(v)
    except ValueError:
        raise DataError(
            where, f"emotion {value!r} is neither a code 0..7 nor one of {list(taxonomy)}", row=line
        ) from None
    if f == CONTEMPT_CODE and "contempt" in taxonomy.classes:
        return taxonomy.classes.index("contempt")
    if not f.is_integer() or not 0 <= f < len(TAXONOMY):
        raise DataError(where, f"unknown emotion code {value.strip()} (expected 0..6, or 7 for contempt)", row=line)
    return int(f)


def face_from_pixels(value: str, where: str, line: int | None = None) -> np.ndarray:
    """Pixel values separated by spaces (or commas, semicolons) -> a 48x48 uint8 face; any square size is resized."""
    pixels = _integers(value)
    if pixels is None:
        raise DataError(where, "pixels are not all integers 0..255 (nor all fractions 0..1)", row=line)
    side = math.isqrt(pixels.size)
    if side * side != pixels.size or side < MIN_SIDE:
        raise DataError(where, f"expected a square face's pixels (48x48 = 2304), found {pixels.size} values", row=line)
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(where, "pixel values outside 0..255", row=line)
    return to_face(pixels.astype(np.uint8).reshape(side, side), FACE_SIZE)


def _integers(value: str) -> np.ndarray | None:
    """The integers of a pixels field, or None if some value is not one. Space-separated integers (every row of
    FER-2013) take the fast path, 5x faster than splitting into strings; commas, semicolons, a list in brackets
    (``[12, 34, ...]``, as Python writes one) and integral floats the slow one. Fractions all within 0..1 are pixels
    scaled to 0..1 (a notebook's normalised faces) and are scaled back to 0..255."""
    try:
        fast = np.fromstring(value, dtype=np.int64, sep=" ")  # stops at a non-integer: an error (numpy 1: a warning)
        if fast.size == len(value.split()):
            return fast
    except ValueError:
        pass
    try:
        values = np.array([p for p in re.split(r"[\s,;]+", value.strip().strip("[]()")) if p], dtype=np.float64)
    except ValueError:
        return None
    if not np.all(np.isfinite(values)):
        return None
    if np.any(values != np.round(values)):
        if values.min() < 0 or values.max() > 1:
            return None
        values = values * 255
    return np.round(values).astype(np.int64)


def _header(text: str, where: str) -> tuple[str, dict[str, int], int]:
    first = first_line(text)
    found = parse_header(first)
    if found is None:
        raise DataError(where, f"expected a header with emotion and pixels columns (e.g. emotion,pixels,Usage), "
                               f"found {first[:80]!r}", row=1)  # fmt: skip
    return found


OTHER_NAMES = tuple(a for a, c in ALIASES.items() if c not in TAXONOMY.classes and len(a) > 3)  # contempt, ...
CONTEMPT_CODE = 7  # after FER-2013's 0..6: CK+'s ckextended.csv (Kaggle), and FER+'s and AffectNet's own numbering
_CODE_7 = re.compile(rb'[ \t]*"?7(?:\.0*)?"?[ \t]*[,;\t|]')  # a first field that is the code 7 (quoted, 7.0)


def _a_row_starts_with_7(data: bytes, start: int) -> bool:
    """Whether a line from ``start`` on begins with the code 7 as its first field: the byte scan that skips the
    parsing pass for files whose emotion column comes first (FER-2013, Kaggle's icml_face_data.csv). numpy finds the
    line starts of FER-2013's 300 MB in a tenth of a second, where a regex over the whole file took 6 s."""
    raw = np.frombuffer(data, np.uint8)
    starts = np.flatnonzero((raw[start:-1] == ord("\n")) | (raw[start:-1] == ord("\r"))) + start + 1  # \r: old Mac
    if start == 0:
        starts = np.concatenate([[0], starts])
    candidates = starts[np.isin(raw[starts], np.frombuffer(b'7" \t', np.uint8))] if len(raw) else starts
    return any(_CODE_7.match(data, int(i)) for i in candidates)


def _is_contempt_code(value: str) -> bool:
    try:
        return float(value) == CONTEMPT_CODE
    except ValueError:
        return False


def csv_taxonomy(data: bytes, where: str) -> Taxonomy:
    """FER-2013's 7 classes, then any other ferkit class the emotion column names (``contempt``, ``confused``), in
    the ferkit order: a CSV labelled by name with contempt is an 8-class source. So is one with the code 7 (CK+'s
    ``ckextended.csv``: FER-2013's codes 0..6, then 7 for contempt)."""
    data = as_utf8(data)
    lowered = data.lower()
    if not any(a.encode() in lowered for a in OTHER_NAMES):  # the usual case, codes 0..6 or FER-2013 names
        first = first_line(decode_text(data[: 1 << 20]))
        _, cols, start = _header(first, where)
        end = re.search(rb"[\r\n]", data[: 1 << 20])
        header_end = (end.start() if end else len(data)) if start == 2 else 0  # where the header's line ends
        if cols["emotion"] == 0 and not _a_row_starts_with_7(data, header_end):
            return TAXONOMY  # no parsing pass: a byte search found no row starting with the code 7
    text = decode_text(data)
    delimiter, cols, start = _header(text, where)
    col, extra = cols["emotion"], set()
    for line, row in csv_records(text, where, ErrorPolicy("skip"), delimiter):  # bad lines: the reader reports them
        if line < start or len(row) <= col:
            continue
        if _is_contempt_code(row[col]):
            extra.add("contempt")
        elif (name := canonical_name(row[col])) and name not in TAXONOMY.classes:
            extra.add(name)
    return Taxonomy(TAXONOMY.classes + tuple(c for c in FERKIT_CLASSES if c in extra)) if extra else TAXONOMY


def read_csv_rows(
    data: bytes, where: str, policy: ErrorPolicy, taxonomy: Taxonomy = TAXONOMY
) -> Iterator[tuple[int, Sample]]:
    """Parse FER-2013 style CSV bytes; yields (0-based index among the data rows, sample), targets over
    ``taxonomy`` (``csv_taxonomy``). Blank lines, and the header line repeated (files joined end to end), are not
    rows. Row numbers in errors are 1-based file lines (the header, if the file has one, is line 1)."""
    text = decode_text(data)  # UTF-16 too
    delimiter, cols, start = _header(text, where)
    width = max(cols.values()) + 1
    wide = "pixels_last" in cols  # one column per pixel
    header = [f.strip() for f in first_line(text).lstrip("\ufeff").split(delimiter)] if start == 2 else None
    idx = -1
    for line, row in csv_records(text, where, policy, delimiter):
        if line < start or not any(field.strip() for field in row):  # the header line; blank lines
            continue
        if header is not None and len(row) == len(header) and [f.strip() for f in row] == header:
            continue  # the header again: CSV files joined end to end (cat a.csv b.csv)
        idx += 1
        try:
            if len(row) < width:
                raise DataError(where, f"expected at least {width} fields, found {len(row)}", row=line)
            code = _code(row[cols["emotion"]], where, line, taxonomy)
            value = " ".join(row[cols["pixels"] : cols["pixels_last"] + 1]) if wide else row[cols["pixels"]]
            image = face_from_pixels(value, where, line)
            usage = row[cols["usage"]].strip() if "usage" in cols else "Training"
            split = split_value(usage)
            if split is None:
                raise DataError(where, f"unknown Usage {usage!r} (expected {list(USAGE_SPLITS)})", row=line)
        except DataError as e:
            policy.handle(e)
            continue
        yield idx, Sample(f"row{idx}", image, split, _one_hot(code, len(taxonomy)))


class CsvAdapter:
    """The original ``fer2013.csv``."""

    name = "fer2013-csv"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        if tree.focus:  # pointed at a file: it must be the FER-2013 CSV itself
            return find_csv(tree) == tree.focus
        return find_csv(tree) is not None and not any(n.endswith("fer2013new.csv") for n in tree.names())

    @staticmethod
    def taxonomy_of(tree: Tree) -> Taxonomy:
        name = CsvAdapter._csv(tree)
        return csv_taxonomy(tree.read(name), tree.where(name))

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        name = CsvAdapter._csv(tree)
        data = tree.read(name)
        for _, sample in read_csv_rows(data, tree.where(name), policy, csv_taxonomy(data, tree.where(name))):
            yield sample

    @staticmethod
    def _csv(tree: Tree) -> str:
        if tree.focus:  # pointed at a file: that file is read, never a CSV beside it
            first = first_line(decode_text(tree.head(tree.focus)))
            if parse_header(first) is None:
                raise DataError(
                    tree.where(tree.focus),
                    f"not a FER-2013 style CSV: its first line has no emotion and pixels columns ({first[:80]!r})",
                )
            return tree.focus
        name = find_csv(tree)
        if name is None:
            raise DataError(tree.path, "no FER-2013 CSV (a header with emotion and pixels columns) found")
        return name


# ---- Kaggle folders -----------------------------------------------------------------------------------------


class FolderAdapter:
    """Kaggle ``train/<emotion>/*.jpg`` and ``test/<emotion>/{PublicTest,PrivateTest}_*.jpg``."""

    name = "fer2013"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        if tree.focus:
            return False
        names = tree.images()
        return any(n.startswith("train/") and "/Training_" in n for n in names) or any(
            "/PrivateTest_" in n for n in names
        )

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        files = [n for n in tree.images() if n.split("/", 1)[0] in ("train", "test")]
        if not files:
            raise DataError(tree.path, "no images under train/ or test/")
        for name in files:
            parts = PurePosixPath(name).parts
            try:
                if len(parts) != 3:
                    raise DataError(tree.where(name), "expected <train|test>/<emotion>/<file>")
                top, cls, fname = parts
                if cls not in TAXONOMY:
                    raise DataError(tree.where(name), f"unknown class folder {cls!r}; known {list(TAXONOMY)}")
                prefix = fname.split("_", 1)[0]
                split = PREFIX_SPLITS.get(prefix)
                if top == "train":
                    split = "train"
                elif split is None or split == "train":
                    raise DataError(tree.where(name), "test file name must start with PublicTest_ or PrivateTest_")
                image = Encoded(tree.read(name), tree.where(name))
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(name, image, split, _one_hot(TAXONOMY.index(cls)))
