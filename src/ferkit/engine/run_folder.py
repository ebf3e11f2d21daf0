"""A run folder belongs to one run: training into a folder that holds another run needs ``--resume`` or ``--force``."""

from __future__ import annotations

from pathlib import Path

from ferkit.errors import ConfigError

RUN_FILES = ("last.pt", "best.ferkit", "model.ferkit", "metrics.jsonl")  # what makes a folder hold a run


def claim_run_folder(out: Path, given: str, resume: bool, force: bool, main: bool) -> None:
    """Refuse to train into a folder that holds a run unless resuming it, or replacing it with ``force`` (whose
    files are then removed, so that ``metrics.jsonl`` does not mix two runs)."""
    found = [n for n in RUN_FILES if (out / n).exists()]
    if not found or resume:
        return
    if not force:
        raise ConfigError(
            f"out={given}: {out} already holds a run ({', '.join(found)}); pass --resume to continue it, "
            "--force to replace it, or another out=..."
        )
    if main:
        for name in (*RUN_FILES, "curves.png", "data.json", "config.yaml"):
            (out / name).unlink(missing_ok=True)
