"""Error policy for adapters: raise on the first bad record, or skip it and keep a report."""

from __future__ import annotations

from typing import Literal

from ferkit.data.sample import Skip
from ferkit.errors import DataError

OnError = Literal["raise", "skip"]


class ErrorPolicy:
    """Collects skipped records under ``skip``; re-raises under ``raise``. Nothing is dropped silently."""

    def __init__(self, on_error: OnError = "raise") -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        self.skipped: list[Skip] = []

    def handle(self, err: DataError) -> None:
        if self.on_error == "raise":
            raise err
        where = f"{err.path}, row {err.row}" if err.row is not None else err.path
        self.skipped.append(Skip(where, err.reason))

    def drop(self, where: str, reason: str) -> None:
        """Record a record the dataset itself marks as unusable (e.g. AffectNet's "no-face"), under either policy."""
        self.skipped.append(Skip(where, reason))
