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


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr=-1", r"'optim.lr': -1.0 is out of range; accepted: \[0, 10\]"),
        ("optim.lr=11", r"'optim.lr': 11.0 is out of range"),
        ("optim.lr=.nan", r"'optim.lr': nan is out of range"),
        ("batch_size=0", r"'batch_size': 0 is out of range; accepted: \[1, inf\)"),
        ("epochs=0", r"'epochs': 0 is out of range; accepted: \[1, inf\)"),
        ("label_smoothing=2", r"'label_smoothing': 2.0 is out of range; accepted: \[0, 1\)"),
        ("optim.momentum=1.5", r"'optim.momentum': 1.5 .*\[0, 1\)"),
        ("augment.erasing=-0.1", r"'augment.erasing'"),
        ("augment.mixup=-0.2", r"'augment.mixup': -0.2 is out of range; accepted: \[0, 100\]"),
        ("augment.crop_scale=[0.9, 0.5]", r"'augment.crop_scale': \[0.9, 0.5\] must be \[low, high\]"),
        ("distill.temperature=0", r"'distill.temperature': 0.0 .*\(0, inf\)"),
        ("data.holdout=1", r"'data.holdout': 1.0 .*\[0, 1\)"),
        ("device=gpu", r"'device': 'gpu' is not one of auto, cpu, cuda, cuda:N, mps"),
    ],
)
def test_values_out_of_range_name_key_value_and_range(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_a_config_built_in_code_is_checked_by_train():
    from ferkit.engine.train import train

    cfg = TrainConfig()
    cfg.batch_size = 0
    with pytest.raises(ConfigError, match="'batch_size': 0"):
        train(cfg)
    cfg.batch_size, cfg.model.name = 8, "resnet9000"
    with pytest.raises(ConfigError, match=r"'model.name': unknown model 'resnet9000'; known models: ensemble, face_re"):
        train(cfg)  # before any data is read (there is none here)
    cfg.model.name = "ensemble"
    with pytest.raises(ConfigError, match=r"'model.name': an ensemble is made from trained model files, not trained"):
        train(cfg)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_a_config_error():
    from ferkit.engine.distributed import pick_device

    with pytest.raises(ConfigError, match=r"'device': 'cuda', but this machine has no CUDA device .*accepted here"):
        pick_device("cuda")
    assert pick_device("cpu").type == "cpu"


def test_a_config_from_a_dict_is_checked_as_a_file_and_the_dict_is_left_alone():
    from ferkit.config import config_from_dict

    stored = {"epochs": 3, "calibrate": {"class_bias": True}}
    cfg = config_from_dict(stored, ["calibrate.class_bias=auto", "calibrate.bags=5"])
    assert cfg.epochs == 3 and cfg.calibrate.class_bias == "auto" and cfg.calibrate.bags == 5
    assert stored == {"epochs": 3, "calibrate": {"class_bias": True}}
    with pytest.raises(ConfigError, match="epoch"):
        config_from_dict({"epoch": 3})
