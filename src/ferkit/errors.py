"""Exceptions. Every error names the file, row or field it is about."""

from __future__ import annotations


class FerkitError(Exception):
    """Base class of ferkit's errors."""


class DataError(FerkitError):
    """Bad dataset input: a corrupt image, a malformed row, an unknown label, a missing file.

    Attributes:
        path: the file (or folder) concerned.
        row: 1-based row (line) number in a table file, when it applies.
        reason: what is wrong, without the location.
    """

    def __init__(self, path: object, reason: str, row: int | None = None) -> None:
        self.path = str(path)
        self.row = row
        self.reason = reason
        where = f"{self.path}, row {row}" if row is not None else self.path
        super().__init__(f"{where}: {reason}")


class ConfigError(FerkitError):
    """A config key that does not exist, or a value of the wrong type."""


class ModelFileError(FerkitError):
    """A model file that is missing, corrupt, or not what the caller expected."""


class ImageError(FerkitError):
    """An input image that cannot be read: missing, empty, truncated, corrupt, not an image, or too large.

    Attributes:
        where: the file (or ``<bytes>``, an upload) concerned, or None when the message does not name one.
        reason: what is wrong, without the location.
    """

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}" if where else reason)


class UnsupportedImageError(ImageError):
    """Bytes that are not an image in an accepted format (HTTP 415)."""


class ImageTooLargeError(ImageError):
    """An image that declares more pixels, or a file larger, than allowed (HTTP 422)."""


class DetectorError(FerkitError):
    """A detector that cannot be built: model file missing, download failed, checksum mismatch."""


class FewValidationFacesWarning(UserWarning):
    """Calibration fitted on a class with few validation faces: its class offset mostly fits noise."""


class Int8SaturationWarning(UserWarning):
    """An int8 ONNX file with 8-bit weights on an x86 CPU without VNNI, where ONNX Runtime's int8 products saturate
    and accuracy falls (2.5-2.7 points on FER-2013 for ferkit's models): export it again with this ferkit."""
