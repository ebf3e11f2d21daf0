from pathlib import Path

import pytest
import torch

from ferkit.config import TrainConfig, load_config
from ferkit.errors import ConfigError
from ferkit.models import build_model


def test_defaults():
    assert load_config() == TrainConfig()


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 7\noptim:\n  lr: 0.1\ndata:\n  sources:\n    - path: a.zip\n      votes: majority\n")
    cfg = load_config(f, ["optim.lr=0.2", "augment.scale=[0.8, 1.2]", "amp=false"])
    assert cfg.epochs == 7
    assert cfg.optim.lr == 0.2
    assert cfg.augment.scale == (0.8, 1.2)
    assert cfg.amp is False
    assert cfg.data.sources[0].path == "a.zip" and cfg.data.sources[0].votes == "majority"


def test_unknown_key_names_close_match():
    with pytest.raises(ConfigError, match=r"optim\.lrr.*did you mean optim\.lr"):
        load_config(None, ["optim.lrr=1"])


def test_wrong_type():
    with pytest.raises(ConfigError, match="epochs"):
        load_config(None, ["epochs=many"])
    with pytest.raises(ConfigError, match="votes"):
        load_config(None, ["data.sources=[{path: a, votes: loudest}]"])


def test_int_accepted_for_float():
    assert load_config(None, ["optim.lr=1"]).optim.lr == 1.0


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["epochs"])


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_builds_its_model(path):
    cfg = load_config(path)  # unknown keys and wrong types raise
    assert cfg.data.sources and cfg.epochs > 0
    model = build_model(cfg.model.name, num_classes=8, **cfg.model.kwargs)
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 8)
