"""Read dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) into ``face_resnet`` weights,
with numpy and no dlib.

The file ships in PyPI ``face_recognition_models`` (public domain / CC0). It is dlib's ``serialize`` of ``anet_type``
(examples/dnn_face_recognition_ex.cpp) in dlib's encodings (dlib/serialize.h, dlib/cuda/tensor.h, dlib/dnn/):

- integer: a header byte (low nibble: how many bytes follow, 1..8; bit 0x80: negative), then those bytes, little
  endian. string: an integer length, then the bytes. bool: the character '1' or '0'. float and double: two
  integers, mantissa and exponent, value = mantissa * 2 ** exponent.
- tensor: version 2, num_samples, k, nr, nc, then raw little-endian float32. alias_tensor: version 1 and 4 sizes.
- a network nests, top first: add_loss_layer (version 1, loss details, subnetwork); add_layer (version 2,
  subnetwork, then its layer details, 3 bools and 3 tensors); add_tag_layer and add_skip_layer (version 1,
  subnetwork); the lowest add_layer (version 3, the input layer, its details, 3 bools, 3 tensors, an integer).
  So the file holds the version numbers top to bottom, then the input layer, then the layers bottom to top.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ferkit.errors import ModelFileError
from ferkit.models.face_resnet import DLIB_MEAN_RGB, STAGES

DLIB_FILE = "dlib_face_recognition_resnet_model_v1.dat"
WHAT = f"dlib's face recognition ResNet ({DLIB_FILE}, from face_recognition_models)"
BN_EPS = 1e-5  # nn.BatchNorm2d's default, which face_resnet uses


def dlib_model_path() -> Path:
    """The installed ``face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat``.

    The package is located, not imported: its ``__init__`` needs ``pkg_resources``, which recent setuptools lack.

    Raises:
        ModelFileError: the package is not installed, or lacks the file.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"{DLIB_FILE}: package face_recognition_models is not installed; pip install 'ferkit[train]'"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / DLIB_FILE
    if not path.is_file():
        raise ModelFileError(f"{path}: missing from face_recognition_models; pip install 'ferkit[train]'")
    return path


class _Reader:
    """dlib's encodings over the bytes of one file; every error names the file and the byte offset."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def fail(self, reason: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {reason} at byte {self.pos} of {len(self.data)}; expected {WHAT}")

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"truncated: {what} needs {n} bytes")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        head = self.take(1, "an integer")[0]
        n = head & 0x0F
        if head & 0x70 or not 1 <= n <= 8:
            self.pos -= 1
            raise self.fail(f"not a dlib integer (header byte 0x{head:02x})")
        value = int.from_bytes(self.take(n, "an integer"), "little")
        return -value if head & 0x80 else value

    def string(self, max_len: int = 64) -> str:
        n = self.integer()
        if not 0 <= n <= max_len:
            raise self.fail(f"a layer name of {n} bytes")
        return self.take(n, "a string").decode("latin-1")

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        try:
            return float(mantissa * 2.0**exponent)
        except OverflowError:  # dlib's codes for inf and nan, never in a trained network
            raise self.fail(f"a float of exponent {exponent}") from None

    def flag(self) -> bool:
        c = self.take(1, "a bool")
        if c not in (b"0", b"1"):
            self.pos -= 1
            raise self.fail(f"not a dlib bool ({c!r})")
        return c == b"1"

    def tensor(self) -> np.ndarray:
        if (v := self.integer()) != 2:
            raise self.fail(f"tensor version {v}, not 2")
        shape = tuple(self.integer() for _ in range(4))
        if min(shape) < 0:
            raise self.fail(f"a tensor of shape {shape}")
        n = math.prod(shape)
        return np.frombuffer(self.take(4 * n, f"a {shape} float tensor"), "<f4").reshape(shape)

    def alias(self) -> tuple[int, ...]:
        if (v := self.integer()) != 1:
            raise self.fail(f"alias_tensor version {v}, not 1")
        return tuple(self.integer() for _ in range(4))


def _layer(r: _Reader) -> dict:
    """One layer's details: its kind, a signature to compare with the expected network, and its weights."""
    name = r.string()
    if name in ("con_4", "con_5"):
        params = r.tensor().ravel()
        nf, nr, nc, sy, sx, py, px = (r.integer() for _ in range(7))
        filters, _biases = r.alias(), r.alias()
        for _ in range(4):
            r.real()  # learning-rate and weight-decay multipliers
        use_bias = r.flag() if name == "con_5" else True
        size = int(np.prod(filters))
        if params.size != size + (nf if use_bias else 0):
            raise r.fail(f"{name}: {params.size} parameters for filters {filters}")
        bias = params[size : size + nf] if use_bias else np.zeros(nf, np.float32)
        sig = f"con {filters[0]}x{filters[1]}x{nr}x{nc} stride {sy},{sx} pad {py},{px}"
        return {"kind": "con", "sig": sig, "weight": params[:size].reshape(filters), "bias": bias}
    if name == "affine_":
        params = r.tensor().ravel()
        gamma, _beta, _mode = r.alias(), r.alias(), r.integer()
        c = int(np.prod(gamma))
        if params.size != 2 * c:
            raise r.fail(f"affine_: {params.size} parameters for {c} channels")
        return {"kind": "affine", "sig": f"affine {c}", "gamma": params[:c], "beta": params[c:]}
    if name in ("relu_", "add_prev_"):
        return {"kind": name[:-1], "sig": name[:-1]}
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.integer() for _ in range(6))
        return {"kind": name[:-2], "sig": f"{name[:-2]} {nr}x{nc} stride {sy},{sx} pad {py},{px}"}
    if name == "fc_2":
        n_out, n_in = r.integer(), r.integer()
        params = r.tensor().ravel()
        weights, _biases, bias_mode = r.alias(), r.alias(), r.integer()
        for _ in range(4):
            r.real()
        if weights != (n_in, n_out, 1, 1) or params.size < n_in * n_out:
            raise r.fail(f"fc_2: {params.size} parameters and weights {weights} for {n_in} -> {n_out}")
        sig = f"fc {n_in}->{n_out} {'no bias' if bias_mode == 1 else 'bias'}"
        return {"kind": "fc", "sig": sig, "weight": params[: n_in * n_out].reshape(n_in, n_out)}
    raise r.fail(f"an unexpected layer {name!r}")


def _expected() -> tuple[str, list[str]]:
    """anet_type, from face_resnet's STAGES: the version numbers (top first) and the layer signatures (bottom first)."""
    sigs = ["con 32x3x7x7 stride 2,2 pad 0,0", "affine 32", "relu", "max_pool 3x3 stride 2,2 pad 0,0"]
    versions = ["3", "2", "2", "2"]  # bottom first; tags and skips hold no layer (version 1)
    cin = 32
    for width, n, down in STAGES:
        for i in range(n):
            s, p = (2, 0) if down and i == 0 else (1, 1)
            versions += ["1", "2", "2", "2", "2", "2"]  # tag1, con, affine, relu, con, affine
            sigs += [f"con {width}x{cin}x3x3 stride {s},{s} pad {p},{p}", f"affine {width}", "relu"]
            sigs += [f"con {width}x{width}x3x3 stride 1,1 pad 1,1", f"affine {width}"]
            if s == 2:
                versions += ["1", "1", "2"]  # tag2, skip1, avg_pool
                sigs += ["avg_pool 2x2 stride 2,2 pad 0,0"]
            versions += ["2", "2"]
            sigs += ["add_prev", "relu"]
            cin = width
    versions += ["2", "2"]
    sigs += ["avg_pool 0x0 stride 1,1 pad 0,0", f"fc {cin}->128 no bias"]
    return "".join(reversed(versions)), sigs


@dataclass
class DlibFaceNet:
    """dlib's network as ``face_resnet`` weights.

    Attributes:
        state_dict: the trunk of ``face_resnet`` (``stem.*``, ``blocks.*``); each BatchNorm equals dlib's affine in
            eval mode (running_mean = -conv bias, running_var = 1 - eps). No ``fc``: the classifier is the run's own.
        embedding: (256, 128) dlib's fc_no_bias, for ``FaceResNet.embedding``.
        input_size: dlib's input size (150).
        path: the file read.
    """

    state_dict: dict[str, torch.Tensor]
    embedding: torch.Tensor
    input_size: int
    path: Path


def read_dlib_face_net(path: str | Path) -> DlibFaceNet:
    """Read dlib's face recognition ResNet from ``path``.

    Raises:
        ModelFileError: the file is missing, truncated, or not that network (the message says where it differs).
    """
    path = Path(path)
    try:
        r = _Reader(path.read_bytes(), path)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror or e}); expected {WHAT}") from None
    if r.integer() != 1 or not r.string().startswith("loss_metric"):
        r.pos = 0
        raise r.fail("no dlib loss_metric network")
    r.real()  # margin
    r.real()  # distance threshold
    want_versions, want_sigs = _expected()
    versions = ""
    while not versions.endswith("3") and len(versions) <= len(want_versions):
        versions += str(r.integer())
    if versions != want_versions:
        raise r.fail(f"layer nesting {versions} differs from anet_type's {want_versions}")
    if r.string() != "input_rgb_image_sized":
        raise r.fail("an input layer other than input_rgb_image_sized")
    mean = (r.real(), r.real(), r.real())
    size = (r.integer(), r.integer())
    if not np.allclose(mean, DLIB_MEAN_RGB, atol=1e-3):
        raise r.fail(f"input mean {mean}, not {DLIB_MEAN_RGB}")
    layers = []
    for i, want in enumerate(want_sigs):
        layer = _layer(r)
        if layer["sig"] != want:
            raise r.fail(f"layer {i} (bottom first) is {layer['sig']!r}, anet_type's is {want!r}")
        for _ in range(3):
            r.flag()  # this_layer_setup_called, gradient_input_is_stale, get_output_and_gradient_input_disabled
        for _ in range(3):
            r.tensor()  # x_grad, cached_output, params_grad (grad_final at the bottom); empty in a saved network
        if i == 0:
            r.integer()  # sample_expansion_factor
        layers.append(layer)
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} bytes after the network")
    return DlibFaceNet(_state_dict(layers), _tensor(layers[-1]["weight"]), size[0], path)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float32))  # a copy: the file's buffer is read-only


def _state_dict(layers: list[dict]) -> dict[str, torch.Tensor]:
    """Each con + affine pair as face_resnet's Conv2d (no bias) + BatchNorm2d, in order."""
    names = ["stem.0", "stem.1"]
    for i in range(sum(n for _, n, _ in STAGES)):
        names += [f"blocks.{i}.conv1", f"blocks.{i}.bn1", f"blocks.{i}.conv2", f"blocks.{i}.bn2"]
    convs = [x for x in layers if x["kind"] == "con"]
    affines = [x for x in layers if x["kind"] == "affine"]
    out = {}
    for conv_name, bn_name, conv, affine in zip(names[::2], names[1::2], convs, affines, strict=True):
        # BatchNorm (x - m) / sqrt(v + eps) * w + b with m = -bias, v = 1 - eps is dlib's gamma * (x + bias) + beta
        out[f"{conv_name}.weight"] = _tensor(conv["weight"])
        out[f"{bn_name}.weight"] = _tensor(affine["gamma"])
        out[f"{bn_name}.bias"] = _tensor(affine["beta"])
        out[f"{bn_name}.running_mean"] = -_tensor(conv["bias"])
        out[f"{bn_name}.running_var"] = torch.full_like(out[f"{bn_name}.bias"], 1 - BN_EPS)
    return out
