import json
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

from ferkit.engine.checkpoint import load_model_file
from ferkit.errors import Int8SaturationWarning
from ferkit.export import export_onnx
from ferkit.inference.backends import ONNX_META_KEY, OnnxBackend, load_backend
from ferkit.inference.cpu import INT8_KEY
from ferkit.preprocess import to_input


@pytest.fixture(scope="module")
def fp32(model_file, tmp_path_factory):
    return export_onnx(model_file, tmp_path_factory.mktemp("x") / "m.onnx")


def _faces(n=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_metadata_and_dynamic_batch(fp32, model_file):
    proto = onnx.load(str(fp32))
    meta = json.loads({p.key: p.value for p in proto.metadata_props}[ONNX_META_KEY])
    mf = load_model_file(model_file)
    assert meta["classes"] == mf.classes and meta["temperature"] == 1.5 and meta["arch"] == "fernet_s"
    assert meta["preprocessing"] == mf.preprocessing.to_dict() and meta["metrics"] == mf.metrics
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"
    b = OnnxBackend(fp32)
    for n in (1, 3, 17):
        assert b.logits(to_input(_faces(n))).shape == (n, 8)


def test_torch_and_onnx_agree(fp32, model_file):
    from ferkit.inference.predictor import softmax

    t, _ = load_backend(model_file, "torch")
    o, info = load_backend(fp32)
    x = to_input(_faces(32))
    pt, po = softmax(t.logits(x), info.temperature), softmax(o.logits(x), info.temperature)
    assert np.abs(pt - po).max() < 1e-4


@pytest.mark.parametrize(("mode", "method"), [("static", "minmax"), ("static", "percentile"), ("dynamic", "minmax")])
def test_int8(model_file, tmp_path, mode, method):
    out = export_onnx(
        model_file, tmp_path / f"{mode}.onnx", int8=True, mode=mode, calib=_faces(50, seed=1), method=method
    )
    o, info = load_backend(out)
    f, _ = load_backend(model_file, "torch")
    assert info.classes[0] == "angry" and info.temperature == 1.5
    x = to_input(_faces(32))
    lo, lf = o.logits(x), f.logits(x)
    assert lo.shape == (32, 8)
    assert np.corrcoef(lo.ravel(), lf.ravel())[0, 1] > 0.9  # int8 is close to, not equal to, fp32
    if mode == "static":
        assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)
    # 7-bit weights: a CPU without VNNI saturates int16 sums of two uint8 x int8 products above |w| = 64
    inits = onnx.load(str(out)).graph.initializer
    weights = [onnx.numpy_helper.to_array(t) for t in inits if t.data_type == onnx.TensorProto.INT8]
    assert weights and max(int(np.abs(w.astype(int)).max()) for w in weights) <= 64
    mark = {p.key: p.value for p in onnx.load(str(out)).metadata_props}[INT8_KEY]
    assert json.loads(mark) == {"weight_bits": 7, "mode": mode}  # what lets a later ferkit trust the file


def _with_mark(src, dst, mark):
    """A copy of an ONNX file whose int8 mark is replaced by ``mark`` (None: removed, as in earlier exports)."""
    proto = onnx.load(str(src))
    props = [(p.key, p.value) for p in proto.metadata_props if p.key != INT8_KEY]
    del proto.metadata_props[:]
    for k, v in props + ([(INT8_KEY, mark)] if mark is not None else []):
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(dst))
    return dst


def test_8bit_int8_files_warn_on_cpus_without_vnni(model_file, fp32, tmp_path, monkeypatch):
    int8 = export_onnx(model_file, tmp_path / "q.onnx", int8=True, calib=_faces(30, seed=1))
    old = _with_mark(int8, tmp_path / "old.onnx", None)  # an export of ferkit before the mark: 8-bit weights
    eight = _with_mark(int8, tmp_path / "eight.onnx", json.dumps({"weight_bits": 8, "mode": "static"}))
    monkeypatch.setattr("ferkit.inference.backends.int8_saturates", lambda: True)
    for path in (old, eight):
        with pytest.warns(Int8SaturationWarning, match=f"{path.name}.*8-bit weights.*export it again"):
            load_backend(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_backend(int8)  # marked 7-bit: nothing to say
        load_backend(fp32)  # float: nothing to say
        monkeypatch.setattr("ferkit.inference.backends.int8_saturates", lambda: False)
        load_backend(old)  # a CPU with VNNI computes 8-bit weights exactly


@pytest.mark.parametrize(
    ("machine", "flags", "saturates"),
    [
        ("x86_64", "fpu sse2 avx avx2 fma", True),  # AVX2 only (Zen 3, Haswell-Skylake)
        ("x86_64", "avx2 avx512f avx512bw", True),  # AVX-512 before VNNI (Skylake-SP)
        ("x86_64", "avx2 avx512f avx512_vnni", False),
        ("AMD64", "avx2 avx_vnni", False),  # Alder Lake's AVX-VNNI
        ("x86_64", "", False),  # flags not read: no warning rather than a wrong one
        ("aarch64", "fp asimd", False),  # not x86: other kernels
    ],
)
def test_int8_saturates(monkeypatch, machine, flags, saturates):
    from ferkit.inference import cpu

    monkeypatch.setattr(cpu.platform, "machine", lambda: machine)
    monkeypatch.setattr(cpu, "cpu_info", lambda: {"flags": flags} if flags else {})
    assert cpu.int8_saturates() is saturates


def test_static_int8_needs_calibration(model_file, tmp_path):
    with pytest.raises(ValueError, match="calibration"):
        export_onnx(model_file, tmp_path / "x.onnx", int8=True, mode="static")


def test_cli_export(model_file, tmp_path, capsys):
    from ferkit.cli import main

    out = tmp_path / "cli.onnx"
    assert main(["export", str(model_file), "--out", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    np.save(tmp_path / "calib.npy", _faces(40))
    out8 = tmp_path / "cli.int8.onnx"
    assert main(["export", str(model_file), "--int8", "--calib", str(tmp_path / "calib.npy"), "--out", str(out8)]) == 0
    assert load_backend(out8)[1].classes[-1] == "contempt"
    assert main(["export", str(model_file), "--int8", "--int8-mode", "static"]) == 2
    assert main(["export", str(tmp_path / "none.ferkit")]) == 1


def test_cli_export_never_replaces_a_file_without_force(model_file, tmp_path, capsys):
    from ferkit.cli import main

    out = tmp_path / "kept.onnx"
    out.write_bytes(b"the shipped static-int8 model")
    assert main(["export", str(model_file), "--int8", "--out", str(out)]) == 1
    assert "kept.onnx: exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"the shipped static-int8 model"
    assert main(["export", str(model_file), "--out", str(out), "--force"]) == 0
    assert load_backend(out)[1].classes[-1] == "contempt"
