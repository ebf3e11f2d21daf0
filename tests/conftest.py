import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own dataset cache, so no test reads another's (or the user's) cache."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
