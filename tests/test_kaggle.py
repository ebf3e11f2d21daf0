"""Kaggle datasets by name: kagglehub's download is replaced by a function that returns a synthetic folder."""

import json
import sys

import pytest
import synth

from ferkit.cli import main
from ferkit.config import load_config
from ferkit.data import kaggle, load_source, read_source
from ferkit.data.cache import cache_dir
from ferkit.errors import ConfigError, DataError

kagglehub = pytest.importorskip("kagglehub")
requests = pytest.importorskip("requests")

LAYOUT = {f"{split}/{c}": n for split, n in (("train", 3), ("test", 2)) for c in ("angry", "happy", "sad")}


@pytest.fixture
def downloads(tmp_path, monkeypatch):
    """kagglehub.dataset_download answering from ``tmp_path/kagglehub``; the handles asked for are in the list."""
    asked: list[str] = []
    # kagglehub unpacks msambare/fer2013 as train/ and test/; this one sits in one folder more, as some uploads do
    synth.fer2013_folders(tmp_path / "kagglehub" / "fer2013" / "archive", LAYOUT)

    def fake(handle, *args, **kwargs):
        asked.append(handle)
        return str(tmp_path / "kagglehub" / "fer2013")

    monkeypatch.setattr(kagglehub, "dataset_download", fake)
    return asked


def test_names_parse_and_bad_names_say_the_form():
    ds = kaggle.parse("kaggle:msambare/fer2013")
    assert (ds.owner, ds.dataset, ds.version, ds.handle) == ("msambare", "fer2013", None, "msambare/fer2013")
    assert kaggle.parse("kaggle:a/b-c.d/versions/3").handle == "a/b-c.d/versions/3"
    for bad in ("kaggle:fer2013", "kaggle:a/b/c", "kaggle:a/b/versions/x", "kaggle:"):
        with pytest.raises(DataError, match="kaggle:OWNER/DATASET"):
            kaggle.parse(bad)
    assert kaggle.is_kaggle("kaggle:a/b") and not kaggle.is_kaggle("data/kaggle:a") and not kaggle.is_kaggle("x.zip")


def test_a_kaggle_name_reads_like_a_path_and_is_fetched_once(downloads, tmp_path, monkeypatch):
    src = load_source("kaggle:msambare/fer2013")
    assert downloads == ["msambare/fer2013"]
    assert (src.format, src.name, src.path) == ("fer2013", "fer2013", "kaggle:msambare/fer2013")
    assert sorted(set(src.splits)) == ["test", "train", "val"] and len(src) == 15
    # later uses read the noted folder, without kagglehub: offline works, and the decoded cache is hit
    monkeypatch.setattr(kagglehub, "dataset_download", lambda *a, **k: pytest.fail("downloaded again"))
    assert len(load_source("kaggle:msambare/fer2013")) == 15
    assert read_source("kaggle:msambare/fer2013").path == "kaggle:msambare/fer2013"
    record = json.loads((cache_dir() / "kaggle" / "msambare" / "fer2013.json").read_text())
    assert record["name"] == "kaggle:msambare/fer2013"


def test_a_vanished_download_is_fetched_again_and_versions_apart(downloads, tmp_path):
    load_source("kaggle:msambare/fer2013")
    record = cache_dir() / "kaggle" / "msambare" / "fer2013.json"
    record.write_text(json.dumps({"path": str(tmp_path / "gone")}))
    load_source("kaggle:msambare/fer2013")
    load_source("kaggle:msambare/fer2013/versions/1")
    assert downloads == ["msambare/fer2013", "msambare/fer2013", "msambare/fer2013/versions/1"]


def _http_error(status: int) -> Exception:
    response = requests.Response()
    response.status_code = status
    return kagglehub.exceptions.KaggleApiHTTPError(f"{status} Client Error", response=response)


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (_http_error(401), "KAGGLE_USERNAME"),
        (_http_error(403), "accept its terms"),
        (kagglehub.exceptions.UnauthenticatedError(), "kagglehub.login"),
        (_http_error(404), "no such dataset on Kaggle"),
        (requests.ConnectionError("Failed to resolve 'api.kaggle.com'"), "cannot reach Kaggle"),
        (requests.Timeout("read timed out"), "cannot reach Kaggle"),
        (RuntimeError("disk full"), "disk full"),
    ],
)
def test_download_failures_say_what_to_do(monkeypatch, error, says):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(kagglehub, "dataset_download", fail)
    with pytest.raises(DataError, match=says) as info:
        load_source("kaggle:someone/nothing")
    assert info.value.path == "kaggle:someone/nothing"


def test_without_kagglehub_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "kagglehub", None)  # import kagglehub -> ImportError
    with pytest.raises(DataError, match=r"ferkit\[kaggle\]"):
        load_source("kaggle:msambare/fer2013")


def test_cli_inspect_and_eval_take_kaggle_names(downloads, tmp_path, model_file, capsys):
    assert main(["data", "inspect", "kaggle:msambare/fer2013", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["path"] == "kaggle:msambare/fer2013" and summary["splits"]["train"]["happy"] == 3
    assert main(["eval", str(model_file), "--data", "kaggle:msambare/fer2013", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["source"], report["n"]) == ("fer2013", 3)  # test/: PrivateTest faces
    assert main(["data", "inspect", "kaggle:nope"]) == 1
    assert "kaggle:OWNER/DATASET" in capsys.readouterr().err
    assert downloads == ["msambare/fer2013"]


def test_training_configs_take_kaggle_names(downloads):
    from ferkit.engine.run_data import prepare_data

    cfg = load_config(None, ["data.sources=[{path: 'kaggle:msambare/fer2013'}]", "data.dedupe=false"])
    data = prepare_data(cfg)
    assert data.train.names == ["fer2013"] and len(data.train) == 9 and len(data.val) == 3
    bad = load_config(None, ["data.sources=[{path: 'kaggle:someone/else'}, {path: 'kaggle:fer2013'}]"])
    with pytest.raises(ConfigError, match=r"data.sources\[1\].path.*kaggle:OWNER/DATASET"):
        prepare_data(bad)
    assert downloads == ["msambare/fer2013"]  # the bad name is caught before the first source is fetched
