"""Write dlib's serialisation of a face-recognition ResNet, for tests: the layout of
``dlib_face_recognition_resnet_model_v1.dat`` with random weights, written from dlib's own templates
(examples/dnn_face_recognition_ex.cpp) and encodings (dlib/serialize.h, dlib/cuda/tensor.h, dlib/dnn/core.h,
layers.h), independently of ``ferkit.models.dlib_file``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# anet_type's levels, bottom first: (filters, ares blocks, with a leading ares_down)
ANET_LEVELS = ((32, 3, False), (64, 3, True), (128, 2, True), (256, 2, True), (256, 0, True))


def _int(v: int) -> bytes:
    """dlib's pack_int: a header byte (byte count, 0x80 if negative), then the magnitude, little endian."""
    mag = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
    return bytes([len(mag) | (0x80 if v < 0 else 0)]) + mag


def _str(s: str) -> bytes:
    return _int(len(s)) + s.encode()


def _float(v: float) -> bytes:
    """dlib's float_details: mantissa and exponent, value = mantissa * 2 ** exponent."""
    m, e = math.frexp(v)
    return _int(int(m * 2**53)) + _int(e - 53)


def _bool(b: bool) -> bytes:
    return b"1" if b else b"0"


def _tensor(a: np.ndarray | None = None, shape: tuple[int, ...] | None = None) -> bytes:
    """A tensor; layer parameters are one column (size, 1, 1, 1), fc's are (inputs, outputs, 1, 1), state is empty."""
    shape = (0, 0, 0, 0) if a is None else shape or (a.size, 1, 1, 1)
    data = b"" if a is None else np.asarray(a, "<f4").tobytes()
    return _int(2) + b"".join(_int(s) for s in shape) + data


def _alias(*shape: int) -> bytes:
    return _int(1) + b"".join(_int(s) for s in (*shape, 1, 1, 1)[:4])


MULTS = _float(1) + _float(1) + _float(1) + _float(0)  # learning-rate and weight-decay multipliers


class Net:
    """A dlib network under construction, bottom first: layers (details bytes) and tags/skips (no details)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.items, self.weights = rng, [], []

    def con(self, n: int, cin: int, k: int, stride: int) -> None:
        pad = k // 2 if stride == 1 else 0
        w = (self.rng.standard_normal((n, cin, k, k)) * math.sqrt(2 / (cin * k * k))).astype(np.float32)
        b = (self.rng.standard_normal(n) * 0.1).astype(np.float32)
        self.weights.append({"kind": "con", "weight": w, "bias": b})
        ints = b"".join(_int(v) for v in (n, k, k, stride, stride, pad, pad))
        self.items.append(_str("con_4") + _tensor(np.concatenate([w.ravel(), b])) + ints + _alias(n, cin, k, k))
        self.items[-1] += _alias(1, n) + MULTS

    def affine(self, c: int) -> None:
        g = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        b = (self.rng.standard_normal(c) * 0.1).astype(np.float32)
        self.weights.append({"kind": "affine", "gamma": g, "beta": b})
        self.items.append(_str("affine_") + _tensor(np.concatenate([g, b])) + _alias(1, c) + _alias(1, c) + _int(0))

    def plain(self, name: str) -> None:  # relu_, add_prev_
        self.items.append(_str(name))

    def pool(self, name: str, k: int, stride: int) -> None:
        self.items.append(_str(name) + b"".join(_int(v) for v in (k, k, stride, stride, 0, 0)))

    def fc(self, n_in: int, n_out: int) -> None:
        w = (self.rng.standard_normal((n_in, n_out)) / math.sqrt(n_in)).astype(np.float32)
        self.weights.append({"kind": "fc", "weight": w})
        self.items.append(
            _str("fc_2")
            + _int(n_out)
            + _int(n_in)
            + _tensor(w, (n_in, n_out, 1, 1))
            + _alias(n_in, n_out)
            + _alias(0, 0, 0, 0)  # no biases
            + _int(1)  # FC_NO_BIAS
            + MULTS
        )

    def block(self, n: int, cin: int, stride: int) -> None:
        """block<N, affine, stride>: affine(con(relu(affine(con_stride(x)))))."""
        self.con(n, cin, 3, stride)
        self.affine(n)
        self.plain("relu_")
        self.con(n, n, 3, 1)
        self.affine(n)

    def ares(self, n: int) -> None:
        """relu(add_prev1(block(tag1(x))))."""
        self.items.append("tag1")
        self.block(n, n, 1)
        self.plain("add_prev_")
        self.plain("relu_")

    def ares_down(self, n: int, cin: int) -> None:
        """relu(add_prev2(avg_pool<2,2,2,2>(skip1(tag2(block_stride2(tag1(x)))))))."""
        self.items.append("tag1")
        self.block(n, cin, 2)
        self.items += ["tag2", "skip1"]
        self.pool("avg_pool_2", 2, 2)
        self.plain("add_prev_")
        self.plain("relu_")

    def to_bytes(self, mean: tuple[float, float, float] = (122.782, 117.001, 104.298), size: int = 150) -> bytes:
        layers = [x for x in self.items if isinstance(x, bytes)]
        versions = [1 if isinstance(x, str) else 2 for x in self.items]
        versions[0] = 3  # the lowest add_layer, on the input layer
        out = _int(1) + _str("loss_metric_2") + _float(0.04) + _float(0.6)  # add_loss_layer, loss_metric_
        out += b"".join(_int(v) for v in reversed(versions))  # each nested layer's version, top first
        out += _str("input_rgb_image_sized") + b"".join(_float(m) for m in mean) + _int(size) + _int(size)
        for i, details in enumerate(layers):  # then each layer's details and state, bottom first
            out += details + _bool(True) + _bool(True) + _bool(False) + _tensor() + _tensor() + _tensor()
            if i == 0:
                out += _int(1)  # sample_expansion_factor
        return out


def anet(rng: np.random.Generator, levels: tuple = ANET_LEVELS) -> Net:
    """anet_type: con 7x7/2, affine, relu, max_pool 3x3/2, the levels, avg_pool_everything, fc_no_bias 128."""
    net = Net(rng)
    net.con(32, 3, 7, 2)
    net.affine(32)
    net.plain("relu_")
    net.pool("max_pool_2", 3, 2)
    cin = 32
    for n, k, down in levels:
        if down:
            net.ares_down(n, cin)
        for _ in range(k):
            net.ares(n)
        cin = n
    net.pool("avg_pool_2", 0, 1)
    net.fc(cin, 128)
    return net


def write_anet(path: Path, seed: int = 0, levels: tuple = ANET_LEVELS) -> list[dict]:
    """Write a random anet_type to ``path``; returns its weights, bottom first (con, affine and fc layers)."""
    net = anet(np.random.default_rng(seed), levels)
    path.write_bytes(net.to_bytes())
    return net.weights
