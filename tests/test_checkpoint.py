import pytest
import torch

from ferkit.engine.checkpoint import ModelFile, load_model_file, save_model_file
from ferkit.errors import ModelFileError
from ferkit.models import build_model
from ferkit.preprocess import Preprocessing


def make_file(tmp_path, arch="fernet_s", classes=("happy", "sad", "neutral")):
    model = build_model(arch, num_classes=len(classes))
    mf = ModelFile(
        arch=arch,
        arch_kwargs={},
        classes=list(classes),
        preprocessing=Preprocessing(margin=0.1),
        temperature=1.5,
        config={"epochs": 3, "augment": {"scale": (0.9, 1.1)}},
        metrics={"val_acc": 0.5},
        state_dict=model.state_dict(),
    )
    path = tmp_path / "m.ferkit"
    save_model_file(mf, path)
    return path, model


def test_rebuilds_itself_from_the_file_alone(tmp_path):
    path, model = make_file(tmp_path)
    mf = load_model_file(path)
    assert mf.classes == ["happy", "sad", "neutral"]
    assert mf.temperature == 1.5 and mf.preprocessing.margin == 0.1
    assert mf.config["augment"]["scale"] == [0.9, 1.1]
    x = torch.rand(2, 1, 48, 48)
    torch.testing.assert_close(mf.build()(x), model.eval()(x))


def test_a_path_under_the_home_folder_may_start_with_a_tilde(tmp_path, monkeypatch):
    # configs name teachers and starting weights as ~/ferkit-runs/...; the file loads as written
    from ferkit.inference.backends import load_backend

    path, _ = make_file(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_model_file("~/m.ferkit").classes == ["happy", "sad", "neutral"]
    assert list(load_backend("~/m.ferkit", backend="torch")[1].classes) == ["happy", "sad", "neutral"]
    with pytest.raises(ModelFileError, match="nope.ferkit: no such model file"):
        load_model_file("~/nope.ferkit")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model_file(tmp_path / "nope.ferkit")
    bad = tmp_path / "bad.ferkit"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelFileError, match="bad.ferkit"):
        load_model_file(bad)
    path, _ = make_file(tmp_path)
    truncated = tmp_path / "trunc.ferkit"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ModelFileError, match="trunc.ferkit"):
        load_model_file(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    with pytest.raises(ModelFileError, match="not a ferkit model file"):
        load_model_file(foreign)


def test_other_architecture_is_a_clear_error(tmp_path):
    path, _ = make_file(tmp_path, arch="seed_cnn")
    with pytest.raises(ModelFileError, match="expected 'fernet_s'"):
        load_model_file(path, expect_arch="fernet_s")
    mf = load_model_file(path)
    mf.arch = "fernet_s"  # weights of one architecture, name of another
    with pytest.raises(ModelFileError, match="do not fit"):
        mf.build()


def test_half_storage_halves_the_file_and_loads_as_float32(tmp_path):
    model = build_model("fernet_s", num_classes=7, widths=(16, 16, 16, 32))
    mf = ModelFile(
        "fernet_s",
        {"widths": [16, 16, 16, 32]},
        ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        state_dict=model.state_dict(),
    )
    save_model_file(mf, tmp_path / "full.ferkit")
    save_model_file(mf, tmp_path / "half.ferkit", storage="float16")
    assert (tmp_path / "half.ferkit").stat().st_size < 0.6 * (tmp_path / "full.ferkit").stat().st_size
    back = load_model_file(tmp_path / "half.ferkit")
    for k, v in model.state_dict().items():
        assert back.state_dict[k].dtype == v.dtype
        torch.testing.assert_close(back.state_dict[k], v, rtol=1e-3, atol=1e-4)
    x = torch.rand(2, 1, 48, 48)
    torch.testing.assert_close(back.build()(x), mf.build()(x), rtol=1e-2, atol=1e-3)


def test_int8_storage_quarters_the_weights_within_half_a_step_per_channel(tmp_path):
    torch.manual_seed(0)
    model = build_model("fernet_s", num_classes=7, widths=(32, 64, 96, 128))  # wide enough that weights dominate
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    mf = ModelFile("fernet_s", {"widths": [32, 64, 96, 128]}, classes, state_dict=model.state_dict())
    save_model_file(mf, tmp_path / "full.ferkit")
    save_model_file(mf, tmp_path / "int8.ferkit", storage="int8")
    assert (tmp_path / "int8.ferkit").stat().st_size < 0.35 * (tmp_path / "full.ferkit").stat().st_size
    raw = torch.load(tmp_path / "int8.ferkit", weights_only=True)
    assert raw["version"] == 3 and raw["stored_dtype"] == "int8"
    back = load_model_file(tmp_path / "int8.ferkit")
    for k, v in model.state_dict().items():
        assert back.state_dict[k].dtype == v.dtype
        if k in raw["int8_scales"]:  # weight matrices and kernels: at most half a step of their output channel
            step = v.abs().flatten(1).amax(1) / 127
            assert ((back.state_dict[k] - v).abs().flatten(1).amax(1) <= step / 2 + 1e-7).all()
        else:  # biases, normalisation statistics: as they were
            assert torch.equal(back.state_dict[k], v)
    assert raw["int8_scales"] and all(v.ndim >= 2 for k, v in model.state_dict().items() if k in raw["int8_scales"])
    x = torch.rand(2, 1, 48, 48)
    torch.testing.assert_close(back.build()(x), mf.build()(x), rtol=0.05, atol=0.05)
    save_model_file(back, tmp_path / "again.ferkit", storage="int8")  # storing it again changes nothing
    for k, v in load_model_file(tmp_path / "again.ferkit").state_dict.items():
        torch.testing.assert_close(v, back.state_dict[k], rtol=1e-6, atol=1e-7)
    raw["int8_scales"].pop(next(iter(raw["int8_scales"])))
    torch.save(raw, tmp_path / "broken.ferkit")
    with pytest.raises(ModelFileError, match=r"broken\.ferkit: weight .* stored as int8 without a scale"):
        load_model_file(tmp_path / "broken.ferkit")
    with pytest.raises(ValueError, match="storage must be one of"):
        save_model_file(mf, tmp_path / "x.ferkit", storage="int4")


def test_uncalibrated_state_takes_the_class_offsets_back_out_of_the_head(tmp_path):
    path, model = make_file(tmp_path)
    mf = load_model_file(path)
    trained = {k: v.clone() for k, v in mf.state_dict.items()}
    offsets = {"happy": 0.5, "sad": -0.25, "neutral": 0.0}
    mf.state_dict["fc.bias"] = mf.state_dict["fc.bias"] + torch.tensor(list(offsets.values()))
    mf.metrics["calibration"] = {"class_bias": offsets}
    for k, v in mf.uncalibrated_state().items():
        torch.testing.assert_close(v, trained[k])
    assert not torch.equal(mf.state_dict["fc.bias"], trained["fc.bias"])  # the file's own weights are left alone
    mf.metrics["calibration"] = {"class_bias": {"contempt": 1.0}}
    with pytest.raises(ModelFileError, match="contempt"):
        mf.uncalibrated_state()
