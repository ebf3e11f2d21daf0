"""bench/soup.py: the weighted average of model files, each without its class offsets."""

import importlib.util
from pathlib import Path

import pytest
import torch

from ferkit.engine.checkpoint import ModelFile, load_model_file, save_model_file
from ferkit.errors import ModelFileError
from ferkit.heads import Head
from ferkit.models import build_model

_spec = importlib.util.spec_from_file_location("soup", Path(__file__).resolve().parents[1] / "bench" / "soup.py")
soup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soup)

HEADS = [Head("a", ("happy", "sad")), Head("b", ("happy", "sad", "neutral"))]
CLASSES = ["a/happy", "a/sad", "b/happy", "b/sad", "b/neutral"]


def _file(path: Path, seed: int, offsets: dict | None = None, arch: str = "fernet_xs") -> Path:
    torch.manual_seed(seed)
    state = build_model(arch, num_classes=5).state_dict()
    metrics = {}
    if offsets:
        state["fc.bias"] = state["fc.bias"] + torch.tensor([offsets[c] for c in CLASSES])
        metrics = {"calibration": {"class_bias": offsets}}
    mf = ModelFile(arch, {}, CLASSES, temperature=0.7, metrics=metrics, state_dict=state, heads=list(HEADS))
    save_model_file(mf, path)
    return path


def test_the_soup_averages_weights_without_the_offsets(tmp_path):
    offsets = dict(zip(CLASSES, [0.0, 1.5, -0.5, 0.0, 2.0], strict=True))
    a, b = _file(tmp_path / "a.ferkit", 0, offsets), _file(tmp_path / "b.ferkit", 1)
    ma, mb = load_model_file(a), load_model_file(b)
    out = soup.soup([a, b], [3.0, 1.0])
    assert [h.temperature for h in out.heads] == [1.0, 1.0] and out.temperature == 1.0 and out.heads[0].name == "a"
    assert out.metrics == {"soup": {"files": [str(a), str(b)], "weights": [3.0, 1.0]}}
    w = "stem.0.weight"
    torch.testing.assert_close(out.state_dict[w], 0.75 * ma.state_dict[w] + 0.25 * mb.state_dict[w])
    raw_a = ma.state_dict["fc.bias"] - torch.tensor([offsets[c] for c in CLASSES])
    torch.testing.assert_close(out.state_dict["fc.bias"], 0.75 * raw_a + 0.25 * mb.state_dict["fc.bias"])
    save_model_file(out, tmp_path / "s.ferkit")
    assert load_model_file(tmp_path / "s.ferkit").build()(torch.rand(2, 1, 48, 48)).shape == (2, 5)


def test_files_of_another_architecture_are_refused_by_name(tmp_path):
    a, b = _file(tmp_path / "a.ferkit", 0), _file(tmp_path / "other.ferkit", 1, arch="fernet_s")
    with pytest.raises(ModelFileError, match="other.ferkit"):
        soup.soup([a, b], [1.0, 1.0])
