"""Parquet files of faces and labels: Hugging Face dataset downloads (``data/train-00000-of-00001.parquet``, ...),
and the Arrow files of ``datasets``' ``save_to_disk`` (``train/data-00000-of-00001.arrow``).

An image column holds encoded image files (Hugging Face's ``Image`` feature: a struct of ``bytes`` and ``path``, or
plain binary), or FER-2013's ``pixels`` strings; a label column holds codes or names. Read with pyarrow
(``pip install "ferkit[parquet]"``), a batch of rows at a time.

- Columns: the image column is the one the Hugging Face metadata calls ``Image``, else a binary or image struct
  column, else a ``pixels`` column; the label column is the ``ClassLabel`` one, else one named like the FER-2013
  CSV's (``label``, ``emotion``, ...).
- Classes: a ``ClassLabel``'s names in its order (codes index them; names such as ``"0"`` stay classes of their
  own). Without one, labels as written: names merged by spelling, numbers kept as classes of their own (no code
  order can be assumed), as for label tables; except FER-2013 converted to parquet (a ``pixels`` column), whose
  codes are FER-2013's, as in its CSV (7 = contempt).
- Split: a split column (``Usage``, ``split``), else a split word in the file's path (``train-00000-of-00001``,
  ``validation/``, ``PublicTest``), else ``train``.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, Split, one_hot
from ferkit.data.sources.fer2013 import COLUMNS, face_from_pixels, split_value
from ferkit.data.sources.fer2013 import TAXONOMY as FER2013
from ferkit.data.sources.folder import split_in_name
from ferkit.data.storage import MAX_UNPACKED_BYTES, Encoded, Tree
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy, class_key

SUFFIXES = (".parquet", ".arrow")
BATCH = 512  # rows read at a time: a batch of encoded faces, not the whole file


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise DataError("parquet", 'reading .parquet files needs pyarrow: pip install "ferkit[parquet]"') from None
    return pq


class _ArrowStream:
    """An Arrow IPC file or stream (what ``datasets``' ``save_to_disk`` and its cache write: ``data-00000-of-00001
    .arrow``) behind the part of pyarrow's ``ParquetFile`` used here. Uncompressed: it unpacks to its own size."""

    def __init__(self, data: bytes) -> None:
        import pyarrow as pa

        try:
            self._reader = pa.ipc.open_stream(data)
        except pa.ArrowInvalid:
            self._reader = pa.ipc.open_file(data)
        self.schema_arrow = self._reader.schema

    def iter_batches(self, batch_size: int, columns: list[str]) -> Iterator[Any]:
        batches = (self._reader.get_batch(i) for i in range(self._reader.num_record_batches)) if hasattr(
            self._reader, "get_batch") else self._reader  # fmt: skip
        for batch in batches:
            batch = batch.select(columns)
            for start in range(0, batch.num_rows, batch_size):
                yield batch.slice(start, batch_size)


def _open(tree: Tree, name: str) -> Any:
    """A pyarrow ParquetFile (or an ``_ArrowStream``) of one file of the tree; a DataError naming it when it is not
    one, or when a row group would unpack to more than ``MAX_UNPACKED_BYTES`` (a parquet bomb: pyarrow reads a row
    group at once)."""
    pq = _pyarrow()
    try:
        if name.lower().endswith(".arrow"):
            return _ArrowStream(tree.read(name))
        pf = pq.ParquetFile(io.BytesIO(tree.read(name)))
        sizes = [pf.metadata.row_group(i).total_byte_size for i in range(pf.metadata.num_row_groups)]
    except Exception as e:  # noqa: BLE001  pyarrow's errors (ArrowInvalid, OSError, ...) on a damaged file
        raise DataError(tree.where(name), f"not a readable parquet file ({type(e).__name__}: {e})") from None
    if sizes and max(sizes) > MAX_UNPACKED_BYTES:
        limit = f"{MAX_UNPACKED_BYTES / 2**30:.0f} GiB"
        raise DataError(tree.where(name), f"a row group unpacks to {max(sizes) / 2**30:.1f} GiB, over the {limit} "
                        "read into memory at once: write it in smaller row groups")  # fmt: skip
    return pf


def _columns(pf: Any, where: str) -> tuple[str, str, str | None, str, list[str] | None]:
    """(image column, label column, split column or None, image kind: "struct" | "binary" | "pixels",
    ClassLabel names or None) of a parquet file's schema."""
    import pyarrow as pa

    schema = pf.schema_arrow
    features: Any = {}
    with contextlib.suppress(KeyError, TypeError, ValueError):  # no Hugging Face metadata, or not as expected
        features = json.loads((schema.metadata or {}).get(b"huggingface", b"{}"))["info"]["features"]
    features = features if isinstance(features, dict) else {}
    norm = {re.sub(r"[^a-z0-9]", "", f.name.lower()): f for f in schema}

    def kind(field: Any) -> str | None:
        if pa.types.is_struct(field.type) and field.type.get_field_index("bytes") >= 0:
            return "struct"
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            return "binary"
        return None

    typed = [f for f in schema if isinstance(features.get(f.name), dict) and features[f.name].get("_type") == "Image"]
    images = [f for f in typed if kind(f)] or [f for f in schema if kind(f)]
    if images:
        image, image_kind = images[0].name, kind(images[0]) or "struct"
    elif pixels := [f for n, f in norm.items() if n in COLUMNS["pixels"]]:
        image, image_kind = pixels[0].name, "pixels"
    else:
        raise DataError(where, f"no image column (an Image feature, a binary column or pixels) among {schema.names}")
    labelled = [n for n, f in features.items() if isinstance(f, dict) and f.get("_type") == "ClassLabel"]
    named = [f.name for n, f in norm.items() if n in COLUMNS["emotion"]]
    if not (labels := [n for n in labelled if n in schema.names] or named):
        raise DataError(where, f"no label column (a ClassLabel feature, or label / emotion / ...) among {schema.names}")
    names = features[labels[0]].get("names") if labels[0] in labelled else None
    splits = [f.name for n, f in norm.items() if n in COLUMNS["usage"]]
    return image, labels[0], splits[0] if splits else None, image_kind, [str(n) for n in names] if names else None


def _files(tree: Tree) -> list[str]:
    return [n for n in ([tree.focus] if tree.focus else tree.names()) if n and n.lower().endswith(SUFFIXES)]


def _label_key(value: object, names: list[str] | None, where: str, row: int) -> str:
    """The class of one label value: the name of its code in ``names`` (a ClassLabel's), else the value's ferkit
    name, else the value itself lower-cased."""
    if value is None or not str(value).strip():
        raise DataError(where, "blank label", row=row)
    if names is not None and (code := _code(value)) is not None:
        if not 0 <= code < len(names):
            raise DataError(where, f"label {value!r} is not a code 0..{len(names) - 1} of {names}", row=row)
        value = names[code]
    text = str(value).strip()
    return class_key(text)


def _code(value: object) -> int | None:
    """An integer label (3, 3.0, "3"), or None for a name."""
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() else None


def _records(tree: Tree, policy: ErrorPolicy) -> Iterator[tuple[str, int, object, str, Split, str]]:
    """(file, row, image value, class, split, image kind) of every labelled row of every parquet file; rows
    1-based."""
    for name in _files(tree):
        where = tree.where(name)
        try:
            pf = _open(tree, name)
            image, label, split_col, kind, names = _columns(pf, where)
        except DataError as e:
            policy.handle(e)
            continue
        if names is None and kind == "pixels":  # FER-2013 converted to parquet: its codes, as the CSV's
            names = [*FER2013.classes, "contempt"]
        path_split = split_in_name(name) or "train"
        cols = [image, label] + ([split_col] if split_col else [])
        row = 0
        for data in _batches(pf, cols, where, policy):
            for i in range(len(data[label])):
                row += 1
                try:
                    cls = _label_key(data[label][i], names, where, row)
                    split = path_split
                    if split_col:
                        split = split_value(data[split_col][i])
                        if split is None:
                            raise DataError(where, f"unknown split {data[split_col][i]!r}", row=row)
                except DataError as e:
                    policy.handle(e)
                    continue
                yield name, row, data[image][i], cls, split, kind


def _batches(pf: Any, cols: list[str], where: str, policy: ErrorPolicy) -> Iterator[dict[str, list]]:
    """The file's rows, ``BATCH`` at a time, as columns of Python values; a page that does not decode (a damaged
    file) goes to ``policy`` as the file's error, and the rest of the file is not read."""
    batches = pf.iter_batches(batch_size=BATCH, columns=cols)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001  pyarrow's errors on damaged pages
            policy.handle(DataError(where, f"a damaged part of the file ({type(e).__name__}: {e})"))
            return
        yield batch.to_pydict()


class Adapter:
    """Parquet files of faces and labels (Hugging Face downloads); see the module docstring."""

    name = "parquet"
    taxonomy = Taxonomy(("<parquet labels>",))  # placeholder: the real one depends on the files, see taxonomy_of

    @staticmethod
    def detect(tree: Tree) -> bool:
        return bool(_files(tree))

    @staticmethod
    def taxonomy_of(tree: Tree) -> Taxonomy:
        """A ClassLabel's names (in their order, one per code; every file must agree), else the labels found."""
        named: dict[str, list[str]] = {}
        for name in _files(tree):
            pf = _open(tree, name)
            names = _columns(pf, tree.where(name))[4]
            if names is not None:
                named[name] = names
        if named:
            first, *others = named.items()
            for name, names in others:
                if names != first[1]:
                    raise DataError(tree.where(name), f"its classes {names} differ from {first[0]}'s {first[1]}")
            keys = [class_key(n) for n in first[1]]
            return Taxonomy(tuple(keys))
        found = {r[3] for r in _records(tree, ErrorPolicy("skip"))}
        if not found:
            raise DataError(tree.path, "no labelled rows in the parquet files")
        return Taxonomy(tuple(sorted(found)))

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        taxonomy = Adapter.taxonomy_of(tree)
        for name, row, value, cls, split, kind in _records(tree, policy):
            try:
                if cls not in taxonomy.classes:  # a file without the ClassLabel that the others have
                    raise DataError(tree.where(name), f"label {cls!r} is not one of {list(taxonomy)}", row=row)
                image = _image(value, kind, tree.where(name), row)
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(f"{name}:{row}", image, split, one_hot(taxonomy, cls))


def _image(value: object, kind: str, where: str, row: int) -> Encoded | Any:
    """One row's image: encoded bytes (decoded later on the pool) or a FER-2013 pixels string parsed now."""
    if kind == "pixels":
        if not isinstance(value, str):
            raise DataError(where, "pixels are not a string of numbers", row=row)
        return face_from_pixels(value, where, row)
    data = value.get("bytes") if isinstance(value, dict) else value
    if not isinstance(data, bytes) or not data:
        path = value.get("path") if isinstance(value, dict) else None
        extra = f" (it names a file, {path!r}, that is not in the parquet file)" if path else ""
        raise DataError(where, f"no image bytes{extra}", row=row)
    return Encoded(data, f"{where}, row {row}")
