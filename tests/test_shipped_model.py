"""The models shipped inside the package: present, small enough, self-describing, and the same under every backend."""

import json

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import synth

from ferkit.engine.checkpoint import load_model_file
from ferkit.inference.cpu import INT8_KEY
from ferkit.inference.predictor import PRETRAINED, Predictor
from ferkit.shipped import WEIGHTS_DIR, shipped_models
from ferkit.taxonomy import FERKIT

MODELS = shipped_models()


def test_the_default_model_is_shipped_and_the_package_is_small():
    assert PRETRAINED in MODELS
    total = sum(f.stat().st_size for f in WEIGHTS_DIR.iterdir() if f.is_file())
    assert total <= 30 * 2**20, f"shipped weights are {total / 2**20:.1f} MiB (limit 30)"


@pytest.mark.parametrize("name", MODELS)
def test_each_shipped_model_has_its_files_and_card(name):
    assert (WEIGHTS_DIR / f"{name}.ferkit").is_file()
    assert any((WEIGHTS_DIR / f"{name}{ext}").is_file() for ext in (".onnx", ".int8.onnx")), "an ONNX file"
    assert (WEIGHTS_DIR / f"{name}.md").read_text().startswith(f"# Model card: {name}")


@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_file_describes_itself(name):
    mf = load_model_file(WEIGHTS_DIR / f"{name}.ferkit")
    for head in mf.heads:
        assert set(head.classes) <= set(FERKIT.classes)
        assert 0.2 < head.temperature < 5.0
    assert any("contempt" in h.classes for h in mf.heads)
    assert mf.config["data"]["sources"], "the training config travels with the weights"


@pytest.mark.parametrize("name", MODELS)
def test_shipped_backends_agree(name):
    faces = np.stack([synth.face(seed) for seed in range(16)])  # smooth random 48x48 images
    torch_p = Predictor.from_pretrained(name, backend="torch", detector="haar").classify(faces)
    np.testing.assert_allclose(torch_p.sum(1), 1.0, atol=1e-5)
    fp32, int8 = WEIGHTS_DIR / f"{name}.onnx", WEIGHTS_DIR / f"{name}.int8.onnx"
    if fp32.is_file():
        onnx_p = Predictor.from_file(fp32, detector="haar").classify(faces)
        np.testing.assert_allclose(torch_p, onnx_p, atol=1e-4)
    if int8.is_file():
        q = Predictor.from_file(int8, detector="haar").classify(faces)
        assert np.abs(q - torch_p).max() < 0.25  # quantised: close, not equal
        assert (q.argmax(1) == torch_p.argmax(1)).mean() >= 0.75


@pytest.mark.parametrize("name", [n for n in MODELS if (WEIGHTS_DIR / f"{n}.int8.onnx").is_file()])
def test_shipped_int8_files_keep_7_bit_weights(name):
    """So that CPUs without VNNI compute them exactly (``ferkit.export.REDUCE_RANGE``); with 8 bits an AVX2 CPU lost
    2.5 points on ferkit-l."""
    proto = onnx.load(str(WEIGHTS_DIR / f"{name}.int8.onnx"))
    weights = [onnx.numpy_helper.to_array(t) for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights and max(int(np.abs(w.astype(int)).max()) for w in weights) <= 64
    mark = {p.key: p.value for p in proto.metadata_props}[INT8_KEY]  # so that no CPU warns about it
    assert json.loads(mark)["weight_bits"] == 7


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_names_its_classes(name, backend):
    p = Predictor.from_pretrained(name, backend=backend, detector="haar")
    assert list(p.classes) == list(load_model_file(WEIGHTS_DIR / f"{name}.ferkit").heads[0].classes)
