import copy
import zipfile

import numpy as np
import pytest
import torch
from dlib_writer import ANET_LEVELS, write_anet

from ferkit.config import TrainConfig
from ferkit.engine.prior import init_weights
from ferkit.errors import ConfigError, ModelFileError
from ferkit.models import build_model, dlib_file, head_of
from ferkit.models.dlib_file import read_dlib_face_net
from ferkit.models.face_resnet import DLIB_MEAN_RGB, match_norm_stats


@pytest.fixture(scope="module")
def dlib_dat(tmp_path_factory):
    """A full-size dlib anet_type file with random weights, and the weights written (bottom first)."""
    path = tmp_path_factory.mktemp("dlib") / "dlib_face_recognition_resnet_model_v1.dat"
    return path, write_anet(path)


def _loaded(path, input_size=150):
    net = read_dlib_face_net(path)
    model = build_model("face_resnet", num_classes=7, input_size=input_size).eval()
    own = model.state_dict()
    own.update(net.state_dict)
    model.load_state_dict(own)
    model.embedding.copy_(net.embedding)
    return model


# ---- dlib's semantics in numpy (NCHW), from dlib's layers, not from face_resnet.py ----------------------------------


def _con(x, w, b, stride):
    """dlib con_: cross-correlation, padding k // 2 at stride 1, none at stride 2."""
    k = w.shape[-1]
    pad = k // 2 if stride == 1 else 0
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2) + b[None, :, None, None]


def _affine(x, layer):
    return x * layer["gamma"][None, :, None, None] + layer["beta"][None, :, None, None]


def _add_prev(a, b):
    """dlib add_prev_: the output has the larger size of each dimension; missing elements count as 0."""
    out = np.zeros([max(p, q) for p, q in zip(a.shape, b.shape, strict=True)], np.float32)
    out[tuple(slice(s) for s in a.shape)] += a
    out[tuple(slice(s) for s in b.shape)] += b
    return out


def test_reader_returns_the_weights_written(dlib_dat):
    path, written = dlib_dat
    net = read_dlib_face_net(path)
    convs = [w for w in written if w["kind"] == "con"]
    affines = [w for w in written if w["kind"] == "affine"]
    assert len(convs) == 29 and net.input_size == 150
    sd = net.state_dict
    names = ["stem.0", "stem.1"] + [f"blocks.{i}.{n}" for i in range(14) for n in ("conv1", "bn1", "conv2", "bn2")]
    for conv_name, bn_name, con, aff in zip(names[::2], names[1::2], convs, affines, strict=True):
        assert np.array_equal(sd[f"{conv_name}.weight"].numpy(), con["weight"])
        assert np.array_equal(sd[f"{bn_name}.weight"].numpy(), aff["gamma"])
        assert np.array_equal(sd[f"{bn_name}.bias"].numpy(), aff["beta"])
        assert np.array_equal(sd[f"{bn_name}.running_mean"].numpy(), -con["bias"])
    assert np.array_equal(net.embedding.numpy(), written[-1]["weight"])  # (256, 128): x @ W, as dlib's fc_
    own = build_model("face_resnet", num_classes=7).state_dict()
    assert set(sd) == {k for k in own if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}


def test_module_computes_dlib_layers(dlib_dat):
    path, written = dlib_dat
    model = _loaded(path)
    rng = np.random.default_rng(1)
    grey = rng.random((2, 1, 150, 150), dtype=np.float32)
    with torch.no_grad():
        stem = model.stem(model.to_rgb(torch.from_numpy(grey))).numpy()
        # dlib's input layer: (pixel - mean) / 256, the grey level repeated to R, G and B
        rgb = (np.repeat(grey, 3, 1) * 255 - np.array(DLIB_MEAN_RGB, np.float32)[None, :, None, None]) / 256
        con, aff = written[0], written[1]
        want = np.maximum(_affine(_con(rgb, con["weight"], con["bias"], 2), aff), 0)  # (2, 32, 72, 72)
        want = np.lib.stride_tricks.sliding_window_view(want, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max((4, 5))
        assert stem.shape == want.shape == (2, 32, 35, 35)
        assert np.abs(stem - want).max() < 1e-4 * max(1.0, np.abs(want).max())

        # ares_down 128 -> 256 on 8x8: the strided convolution gives 3x3, the pooled shortcut 4x4
        i = 3 + 4 + 3  # blocks before it
        c1, a1, c2, a2 = [w for w in written if w["kind"] in ("con", "affine")][2 + 4 * i : 2 + 4 * i + 4]
        x = rng.standard_normal((2, 128, 8, 8)).astype(np.float32)
        y = np.maximum(_affine(_con(x, c1["weight"], c1["bias"], 2), a1), 0)
        y = _affine(_con(y, c2["weight"], c2["bias"], 1), a2)  # (2, 256, 3, 3)
        short = x.reshape(2, 128, 4, 2, 4, 2).mean((3, 5))  # avg_pool 2x2 stride 2: (2, 128, 4, 4)
        want = np.maximum(_add_prev(y, short), 0)
        got = model.blocks[i](torch.from_numpy(x)).numpy()
        assert got.shape == want.shape == (2, 256, 4, 4)
        assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())

        feats = model.forward_features(torch.from_numpy(grey))
        assert torch.allclose(model.embed(torch.from_numpy(grey)), feats @ torch.from_numpy(written[-1]["weight"]))


def test_missing_truncated_and_foreign_files_name_the_file(dlib_dat, tmp_path):
    path, _ = dlib_dat
    data = path.read_bytes()
    with pytest.raises(ModelFileError, match="nowhere.dat: cannot read"):
        read_dlib_face_net(tmp_path / "nowhere.dat")
    for cut in (10, 300, len(data) // 2, len(data) - 1):
        short = tmp_path / f"cut{cut}.dat"
        short.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=rf"cut{cut}\.dat: truncated.*dlib's face recognition ResNet"):
            read_dlib_face_net(short)
    noise = tmp_path / "noise.dat"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelFileError, match="noise.dat: .* at byte"):
        read_dlib_face_net(noise)
    zipped = tmp_path / "model.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a.dat", data[:1000])
    with pytest.raises(ModelFileError, match="model.zip: not a dlib integer"):
        read_dlib_face_net(zipped)
    longer = tmp_path / "longer.dat"
    longer.write_bytes(data + b"\0\0")
    with pytest.raises(ModelFileError, match="longer.dat: 2 bytes after the network"):
        read_dlib_face_net(longer)


def test_another_dlib_network_is_refused(tmp_path):
    narrow = tmp_path / "narrow.dat"  # same nesting, other widths: alevel0 of 128 filters
    write_anet(narrow, levels=ANET_LEVELS[:-1] + ((128, 0, True),))
    with pytest.raises(ModelFileError, match=r"narrow.dat: layer \d+ .* is 'con 128x256x3x3 .*anet_type's is 'con 256"):
        read_dlib_face_net(narrow)
    deeper = tmp_path / "deeper.dat"  # one more ares block
    write_anet(deeper, levels=((32, 4, False),) + ANET_LEVELS[1:])
    with pytest.raises(ModelFileError, match="deeper.dat: layer nesting .* differs from anet_type's"):
        read_dlib_face_net(deeper)


def test_locator_says_how_to_install(monkeypatch):
    monkeypatch.setattr(dlib_file.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelFileError, match=r"face_recognition_models is not installed; pip install 'ferkit\[train\]"):
        dlib_file.dlib_model_path()


def test_model_init_dlib_loads_the_trunk_and_keeps_a_fresh_classifier(dlib_dat, monkeypatch):
    path, written = dlib_dat
    monkeypatch.setattr(dlib_file, "dlib_model_path", lambda: path)
    cfg = TrainConfig()
    cfg.model.name, cfg.model.kwargs, cfg.model.init = "face_resnet", {"input_size": 96}, "dlib"
    torch.manual_seed(0)
    model = build_model("face_resnet", num_classes=7, input_size=96)
    fc = {k: v.clone() for k, v in model.fc.state_dict().items()}
    init_weights(model, ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"], cfg)
    assert torch.equal(model.stem[0].weight, torch.from_numpy(written[0]["weight"]))
    assert torch.equal(model.blocks[13].conv2.weight, torch.from_numpy(written[-3]["weight"]))
    assert all(torch.equal(model.fc.state_dict()[k], v) for k, v in fc.items())
    assert head_of(model)[0] == "fc" and torch.equal(model.embedding, torch.from_numpy(written[-1]["weight"]))
    cfg.model.name = "fernet_s"
    with pytest.raises(ConfigError, match="model.init=dlib: .*face_resnet only, not fernet_s"):
        init_weights(build_model("fernet_s", num_classes=7), ["a"], cfg)


def test_matching_norm_stats_keeps_eval_and_makes_train_mode_agree(dlib_dat):
    path, _ = dlib_dat
    model = _loaded(path, input_size=96)
    model.dropout.p = 0.0
    faces = np.random.default_rng(2).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    x = torch.from_numpy(faces).unsqueeze(1).float() / 255
    start = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        before = model(x)
        model.train()
        train_before = model(x)
        model.load_state_dict(start)  # undo the running-stat updates
        match_norm_stats(model, faces)
        assert model.training
        model.eval()
        after = model(x)
        model.train()
        train_after = model(x)
    scale = before.abs().max()
    assert (after - before).abs().max() < 1e-4 * scale  # the same network in eval mode
    assert (train_after - before).abs().max() < 1e-3 * scale  # and now in train mode too
    assert (train_before - before).abs().max() > 0.1 * scale  # which BatchNorm at (0, 1) statistics was not


def test_sizes_channels_last_bf16():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 48, 48)
    with torch.no_grad():
        for size in (96, 150):  # 112, the default, in test_models.py
            assert build_model("face_resnet", num_classes=8, input_size=size).eval()(x[:1]).shape == (1, 8)
    model = build_model("face_resnet", num_classes=8, input_size=96).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x.contiguous(memory_format=torch.channels_last))
    assert out.shape == (2, 8) and torch.isfinite(out.float()).all()
    out.float().sum().backward()
    assert torch.isfinite(model.stem[0].weight.grad).all()


def test_input_size_too_small_is_clear():
    with pytest.raises(ValueError, match="input_size must be at least 71"):
        build_model("face_resnet", num_classes=7, input_size=64)


def test_onnx_export_matches_torch(dlib_dat, tmp_path):
    from ferkit.engine.checkpoint import ModelFile
    from ferkit.export import export_onnx
    from ferkit.inference.backends import OnnxBackend

    model = _loaded(dlib_dat[0], input_size=96)
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    mf = ModelFile(arch="face_resnet", arch_kwargs={"input_size": 96}, classes=classes, state_dict=model.state_dict())
    x = np.random.default_rng(3).random((3, 1, 48, 48), dtype=np.float32)
    lo = OnnxBackend(export_onnx(mf, tmp_path / "m.onnx")).logits(x)
    with torch.no_grad():
        lt = model(torch.from_numpy(x)).numpy()
    assert np.abs(lt - lo).max() < 1e-3 * max(1.0, np.abs(lt).max())


@pytest.mark.parametrize("size", [71, 96, 112, 150])
def test_block_sizes_known_when_built_match_the_input_read_from_it(size):
    """The blocks' padding worked out at build time (constant pads in an export) is the padding read from the input."""
    torch.manual_seed(0)
    model = build_model("face_resnet", num_classes=7, input_size=size).eval()
    x = torch.rand(2, 1, 48, 48)
    seen = []
    hooks = [b.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[2])) for b in model.blocks]
    with torch.no_grad():
        known = model(x)
        assert seen == [b.size for b in model.blocks]
        for b in model.blocks:
            b.size = None
        read = model(x)
    for h in hooks:
        h.remove()
    torch.testing.assert_close(known, read, rtol=0, atol=0)


def test_onnx_export_has_no_shape_arithmetic(tmp_path):
    import onnx

    from ferkit.engine.checkpoint import ModelFile
    from ferkit.export import onnx_bytes

    model = build_model("face_resnet", num_classes=7).eval()
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    mf = ModelFile(arch="face_resnet", arch_kwargs={}, classes=classes, state_dict=model.state_dict())
    ops = [n.op_type for n in onnx.load_from_string(onnx_bytes(mf)).graph.node]
    assert ops.count("Conv") == 29 and ops.count("Pad") == 5
    assert ops.count("Shape") <= 1 and "Gather" not in ops  # pads are constants: only the batch is read per call
