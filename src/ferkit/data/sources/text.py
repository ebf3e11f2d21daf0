"""Label files as text: decoding and CSV records, shared by the adapters that read CSV or text label files.

A label file in any encoding reads (UTF-16 with a BOM, as Excel's "Unicode Text" writes it; UTF-8 with or without a
BOM; else Latin-1, which decodes every byte), so that a stray accented byte reaches the row check that names it
instead of failing the whole file; a line the csv module cannot split is that line's error, not a traceback.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from ferkit.data.errors import ErrorPolicy
from ferkit.errors import DataError

FIELD_LIMIT = 2**28  # the csv module's default (128 KB) is under one pixels field of a 200x200 face
DELIMITERS = ",;\t|"  # tried in this order on a header line


def first_line(text: str) -> str:
    """The first line of text, without its line ending: \n, \r\n, or \r alone (old Mac "CSV (Macintosh)" files,
    whose header would otherwise run into the first row)."""
    end = re.search(r"[\r\n]", text)
    return text[: end.start()] if end else text


def column_names(line: str, delimiter: str) -> list[str]:
    """A header line's column names, compared without case, spaces or punctuation ("Emotion Label" = emotionlabel)."""
    return [re.sub(r"[^a-z0-9]", "", n.lower()) for n in line.split(delimiter)]


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # Excel's "Unicode Text" export: UTF-16 with a BOM, tab-delimited


def decode_text(data: bytes) -> str:
    """Label-file bytes as text: UTF-16 with its BOM (a last odd byte of a cut head dropped), UTF-8 (a BOM
    dropped), else Latin-1."""
    if data[:2] in UTF16_BOMS:
        return data[: len(data) // 2 * 2].decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def as_utf8(data: bytes) -> bytes:
    """UTF-16 label-file bytes (with a BOM) as UTF-8, for readers that also scan the raw bytes; others as they are."""
    return decode_text(data).encode() if data[:2] in UTF16_BOMS else data


def csv_records(text: str, where: str, policy: ErrorPolicy, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(1-based file line, fields) of every record of CSV text, the header included; a line that cannot be split
    (a stray carriage return inside a field, say) goes to ``policy`` as that line's DataError."""
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            policy.handle(DataError(where, f"unreadable CSV line ({e})", row=reader.line_num))
            continue
        yield reader.line_num, row
