"""Export a ferkit model file to ONNX (dynamic batch, metadata included), optionally quantised to int8.

The ONNX graph maps ``input`` (B, 1, size, size) float32 in [0, 1] to ``logits`` (B, C), like the torch model.
Classes, preprocessing, temperature, architecture and metrics travel as JSON under the ``ferkit`` key of the
ONNX ``metadata_props``, so ``ferkit.Predictor.from_file("model.onnx")`` needs nothing else (and no torch).

int8: ``static`` quantisation (QDQ, per-channel weights, activations calibrated on real faces) keeps the accuracy
of convolutions best and runs fastest; ``dynamic`` needs no calibration data but quantises only weights of
MatMul/Conv on the fly and is usually slower than fp32 for convolutional nets on CPU.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from ferkit.engine.checkpoint import ModelFile, load_model_file
from ferkit.inference.backends import ONNX_META_KEY, ModelInfo
from ferkit.inference.cpu import INT8_KEY
from ferkit.preprocess import zoom_faces

OPSET = 17
Int8Mode = Literal["static", "dynamic"]
CalibMethod = Literal["minmax", "percentile", "entropy"]
ENSEMBLE_MEMBERS = "/members."  # the ONNX node names of an ensemble's members (``ferkit.models.ensemble``) start so
# int8 weights keep 7 bits (ONNX Runtime's ``reduce_range``): on x86 CPUs without VNNI (AVX2, and AVX-512 before
# Cascade Lake or Zen 4) ONNX Runtime multiplies uint8 activations by int8 weights with vpmaddubsw, whose int16 sums
# of two products saturate at 32767 (255 * 127 * 2 = 64770); with |w| <= 64 they cannot (255 * 64 * 2 = 32640), so
# every CPU computes the same integers. With 8-bit weights the shipped files lost 2.5-2.7 points of validation
# accuracy on an AVX2 CPU; with 7 they are within 0.1 of fp32 there (notes/inference.md, "int8 on CPUs without VNNI").
REDUCE_RANGE = True


def model_info(mf: ModelFile) -> ModelInfo:
    return ModelInfo.from_model_file(mf)


def onnx_bytes(mf: ModelFile, opset: int = OPSET) -> bytes:
    """The fp32 ONNX export of a model file, with ferkit metadata, as bytes."""
    import onnx
    import torch

    model = mf.build()
    s = mf.preprocessing.size
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, s, s),),
            buf,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
        )
    proto = onnx.load_from_string(buf.getvalue())
    set_metadata(proto, model_info(mf))
    return proto.SerializeToString()


def set_metadata(proto: object, info: ModelInfo) -> None:
    """Write (or replace) the ferkit metadata entry of an ONNX ModelProto."""
    props = proto.metadata_props  # type: ignore[attr-defined]
    for p in [p for p in props if p.key == ONNX_META_KEY]:
        props.remove(p)
    entry = props.add()
    entry.key, entry.value = ONNX_META_KEY, info.to_json()
    proto.producer_name = "ferkit"  # type: ignore[attr-defined]


class _FaceReader:
    """Calibration batches for static quantisation, from (N, H, W) uint8 faces."""

    def __init__(self, input_name: str, faces: np.ndarray, batch: int = 32) -> None:
        x = (faces.astype(np.float32) / 255.0)[:, None]
        batch = min(batch, len(x))
        x = x[: len(x) // batch * batch]  # equal batches: histogram calibrators cannot stack a short last one
        self._batches = iter([{input_name: x[i : i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_int8(
    fp32: bytes,
    out: str | Path,
    mode: Int8Mode = "static",
    calib: np.ndarray | None = None,
    method: CalibMethod = "minmax",
) -> Path:
    """Quantise an fp32 ONNX export to int8 and write it (the ferkit metadata is kept).

    Args:
        fp32: the fp32 ONNX bytes.
        out: the int8 file to write.
        mode: ``static`` (needs ``calib``) or ``dynamic``.
        calib: (N, size, size) uint8 faces for static calibration; a few hundred real faces suffice.
        method: how static calibration picks activation ranges (``minmax``, ``percentile``, ``entropy``).
    """
    import onnx
    from onnxruntime import quantization as q

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    proto = onnx.load_from_string(fp32)
    meta = {p.key: p.value for p in proto.metadata_props}
    # an ensemble's combining nodes (everything outside its members) stay float: they turn each member's logits into
    # probabilities and the mean's log, which 8 bits would round to a tenth of a logit
    members = [n.name for n in proto.graph.node if n.name.startswith(ENSEMBLE_MEMBERS)]
    float_tail = [n.name for n in proto.graph.node if not n.name.startswith(ENSEMBLE_MEMBERS)] if members else []
    with tempfile.TemporaryDirectory() as tmp:
        src, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        src.write_bytes(fp32)
        try:  # shape inference + graph optimisation before quantising (folds BatchNorm into Conv)
            q.quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception:
            pre = src
        if mode == "static":
            if calib is None or len(calib) == 0:
                raise ValueError("static int8 quantisation needs calibration faces (calib)")
            methods = {
                "minmax": q.CalibrationMethod.MinMax,
                "percentile": q.CalibrationMethod.Percentile,
                "entropy": q.CalibrationMethod.Entropy,
            }
            reader = _FaceReader("input", calib)
            q.quantize_static(
                str(pre),
                str(out),
                reader,
                quant_format=q.QuantFormat.QDQ,
                per_channel=True,
                activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                reduce_range=REDUCE_RANGE,
                calibrate_method=methods[method],
                nodes_to_exclude=float_tail,
            )
        elif mode == "dynamic":
            kw = {"reduce_range": REDUCE_RANGE, "nodes_to_exclude": float_tail}
            q.quantize_dynamic(str(pre), str(out), weight_type=q.QuantType.QInt8, **kw)
        else:
            raise ValueError(f"int8 mode must be 'static' or 'dynamic', not {mode!r}")
    proto = onnx.load(str(out))
    meta[INT8_KEY] = json.dumps({"weight_bits": 7 if REDUCE_RANGE else 8, "mode": mode})
    for k, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    proto.producer_name = "ferkit"
    onnx.save(proto, str(out))
    return out


def export_onnx(
    model: str | Path | ModelFile,
    out: str | Path,
    int8: bool = False,
    mode: Int8Mode = "static",
    calib: np.ndarray | None = None,
    method: CalibMethod = "minmax",
) -> Path:
    """Export a model file to ONNX (fp32, or int8 when ``int8``) at ``out``.

    Args:
        model: a ferkit model file path, or a loaded ``ModelFile``.
        out: the .onnx file to write.
        int8: quantise (see ``quantize_int8``).
        mode: int8 mode, ``static`` (with ``calib``) or ``dynamic``.
        calib: calibration faces for static int8.
        method: static calibration method (see ``quantize_int8``).
    """
    mf = model if isinstance(model, ModelFile) else load_model_file(model)
    data = onnx_bytes(mf)
    out = Path(out)
    if int8:
        if calib is not None:  # calibrate on what the model will see
            calib = zoom_faces(calib, mf.preprocessing.zoom)
        return quantize_int8(data, out, mode, calib, method)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def calibration_faces(path: str | Path, n: int = 500, seed: int = 0) -> np.ndarray:
    """Up to ``n`` faces for int8 calibration: a .npy (N, H, W) uint8 array, or a dataset's train split."""
    path = Path(path)
    if path.suffix == ".npy":
        faces = np.load(path)
    else:
        from ferkit.data import load_source

        src = load_source(path)
        faces = src.images[src.splits == "train"]
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(faces), size=min(n, len(faces)), replace=False)
    return np.ascontiguousarray(faces[np.sort(idx)], np.uint8)
