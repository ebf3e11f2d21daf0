"""The model shipped inside the package: present, small enough, self-describing, and the same under every backend."""

import numpy as np
import pytest
import synth

from ferkit.engine.checkpoint import load_model_file
from ferkit.inference.predictor import PRETRAINED, Predictor
from ferkit.shipped import WEIGHTS_DIR
from ferkit.taxonomy import FERKIT


def test_shipped_files_are_there_and_small():
    files = [WEIGHTS_DIR / f"{PRETRAINED}{ext}" for ext in (".ferkit", ".onnx", ".int8.onnx")]
    for f in files:
        assert f.is_file(), f
    assert (WEIGHTS_DIR / "MODEL_CARD.md").read_text().startswith(f"# Model card: {PRETRAINED}")
    total = sum(f.stat().st_size for f in WEIGHTS_DIR.iterdir() if f.is_file())
    assert total <= 10 * 2**20, f"shipped weights are {total / 2**20:.1f} MiB (limit 10)"
    others = [f.name for f in WEIGHTS_DIR.iterdir() if f.suffix in (".ferkit", ".onnx") and PRETRAINED not in f.name]
    assert not others, f"stale model files shipped beside {PRETRAINED}: {others}"


def test_shipped_model_file_describes_itself():
    mf = load_model_file(WEIGHTS_DIR / f"{PRETRAINED}.ferkit")
    assert set(mf.classes) <= set(FERKIT.classes) and "contempt" in mf.classes
    assert 0.2 < mf.temperature < 5.0
    assert mf.config["data"]["sources"], "the training config travels with the weights"


def test_shipped_backends_agree():
    faces = np.stack([synth.face(seed) for seed in range(16)])  # smooth random 48x48 images
    torch_p = Predictor.from_pretrained(backend="torch", detector="haar").classify(faces)
    onnx_p = Predictor.from_pretrained(backend="onnx", detector="haar").classify(faces)
    assert torch_p.shape == (len(faces), len(load_model_file(WEIGHTS_DIR / f"{PRETRAINED}.ferkit").classes))
    np.testing.assert_allclose(torch_p.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(torch_p, onnx_p, atol=1e-4)
    int8 = Predictor.from_file(WEIGHTS_DIR / f"{PRETRAINED}.int8.onnx", detector="haar").classify(faces)
    assert np.abs(int8 - onnx_p).max() < 0.25  # quantised: close, not equal
    assert (int8.argmax(1) == onnx_p.argmax(1)).mean() >= 0.75


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_shipped_model_names_its_classes(backend):
    p = Predictor.from_pretrained(backend=backend, detector="haar")
    assert list(p.classes) == list(load_model_file(WEIGHTS_DIR / f"{PRETRAINED}.ferkit").classes)
