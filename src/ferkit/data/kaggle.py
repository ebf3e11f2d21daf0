"""Kaggle datasets by name: ``kaggle:OWNER/DATASET`` (or ``kaggle:OWNER/DATASET/versions/N``) wherever a dataset
path is accepted.

The first use downloads the dataset with ``kagglehub`` (the ``ferkit[kaggle]`` extra) into kagglehub's cache
(``~/.cache/kagglehub``, or ``$KAGGLEHUB_CACHE``) and notes the folder in ferkit's cache (``kaggle/OWNER/DATASET.json``
under ``$FERKIT_CACHE``); later uses read that folder without asking Kaggle again, offline included. A name without
a version means the version current at the first download; name a version to fetch another.

Example:
    >>> from ferkit.data import load_source
    >>> src = load_source("kaggle:msambare/fer2013")  # train/<emotion>/*.jpg, test/<emotion>/*.jpg
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ferkit.errors import DataError

PREFIX = "kaggle:"
_NAME = re.compile(r"^kaggle:([A-Za-z0-9][\w.-]*)/([A-Za-z0-9][\w.-]*)(?:/versions/(\d+))?/?$")
SIGN_IN = (
    "sign in to Kaggle: set KAGGLE_USERNAME and KAGGLE_KEY (an API token from https://www.kaggle.com/settings), "
    "or put that token's kaggle.json in ~/.kaggle/, or run `import kagglehub; kagglehub.login()` (in Colab: add "
    "KAGGLE_USERNAME and KAGGLE_KEY as secrets)"
)


@dataclass(frozen=True)
class KaggleDataset:
    owner: str
    dataset: str
    version: int | None = None

    @property
    def handle(self) -> str:
        """kagglehub's handle: ``OWNER/DATASET`` or ``OWNER/DATASET/versions/N``."""
        v = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.owner}/{self.dataset}{v}"

    @property
    def url(self) -> str:
        return f"https://www.kaggle.com/datasets/{self.owner}/{self.dataset}"

    def __str__(self) -> str:
        return PREFIX + self.handle


def is_kaggle(path: str | os.PathLike) -> bool:
    """True for a ``kaggle:...`` dataset name."""
    return os.fspath(path).startswith(PREFIX)


def parse(name: str | os.PathLike) -> KaggleDataset:
    """The parts of ``kaggle:OWNER/DATASET[/versions/N]``.

    Raises:
        DataError: a malformed name.
    """
    m = _NAME.match(os.fspath(name))
    if not m:
        raise DataError(name, "a Kaggle dataset is named kaggle:OWNER/DATASET (e.g. kaggle:msambare/fer2013)")
    return KaggleDataset(m[1], m[2], int(m[3]) if m[3] else None)


def resolve(path: str | os.PathLike) -> Path:
    """The local folder (or file) of a dataset path: a ``kaggle:`` name is fetched on first use, any other path is
    returned as it is.

    Raises:
        DataError: a malformed name; kagglehub missing; no credentials or no permission; no such dataset; no network.
    """
    if not is_kaggle(path):
        return Path(path)
    ds = parse(path)
    record = _record_file(ds)
    folder = _recorded(record)
    if folder is None:
        folder = Path(_download(ds))
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"name": str(ds), "path": str(folder)}))
        tmp.replace(record)
    return _root(folder)


def _record_file(ds: KaggleDataset) -> Path:
    from ferkit.data.cache import cache_dir  # here: the cache module reads sources, which resolve names here

    v = f"@{ds.version}" if ds.version is not None else ""
    return cache_dir() / "kaggle" / ds.owner / f"{ds.dataset}{v}.json"


def _recorded(record: Path) -> Path | None:
    try:
        folder = Path(json.loads(record.read_text())["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder if folder.exists() else None  # kagglehub's cache cleared: fetch again


def _root(folder: Path) -> Path:
    """Below a download folder that holds one thing only (``fer2013/`` with ``train/`` and ``test/`` in it, or one
    zip), that thing: the adapters look for their layout at the root."""
    while folder.is_dir():
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not (entries[0].is_dir() or entries[0].suffix.lower() == ".zip"):
            break
        folder = entries[0]
    return folder


def _download(ds: KaggleDataset) -> str:
    try:
        import kagglehub
    except ImportError:
        raise DataError(
            ds, "reading Kaggle datasets needs kagglehub: pip install 'ferkit[kaggle]' (or pip install kagglehub)"
        ) from None
    try:
        return kagglehub.dataset_download(ds.handle)
    except Exception as e:
        raise _explain(ds, e) from e


def _explain(ds: KaggleDataset, e: Exception) -> DataError:
    """What went wrong in kagglehub's download, and what to do about it."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    kind = type(e).__name__
    if status in (401, 403) or kind in ("UnauthenticatedError", "CredentialError"):
        why = f"HTTP {status}" if status else kind
        return DataError(
            ds,
            f"Kaggle refused the download ({why}): {SIGN_IN}; if the dataset asks for consent, accept its terms at "
            f"{ds.url} first",
        )
    if status == 404:
        return DataError(
            ds,
            f"no such dataset on Kaggle ({ds.url} not found): check OWNER/DATASET and the version, "
            f"e.g. kaggle:msambare/fer2013; a private dataset also needs you to {SIGN_IN}",
        )
    if _network_error(e):
        return DataError(
            ds,
            f"cannot reach Kaggle ({kind}): check the network connection and try again, or download the dataset "
            "yourself and give its folder or zip instead",
        )
    return DataError(ds, f"kagglehub could not download it: {kind}: {e}")


def _network_error(e: Exception) -> bool:
    try:
        import requests
    except ImportError:  # kagglehub depends on requests; this is for a stand-in kagglehub
        network: tuple[type[BaseException], ...] = ()
    else:
        network = (requests.ConnectionError, requests.Timeout)
    return isinstance(e, (*network, ConnectionError, TimeoutError, socket.gaierror))
