import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from synth import write_fer2013_csv

from ferkit.config import load_config
from ferkit.engine.checkpoint import load_model_file
from ferkit.engine.train import train
from ferkit.errors import ConfigError, FewValidationFacesWarning, ModelFileError
from ferkit.heads import Head

ROOT = Path(__file__).resolve().parents[1]


def config_file(tmp_path, out="run", epochs=3, extra=""):
    csv = write_fer2013_csv(tmp_path / "fer2013.csv")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"data:\n  sources:\n    - path: {csv}\nmodel:\n  name: fernet_s\n  kwargs:\n    widths: [16, 16, 16, 16]\n"
        f"epochs: {epochs}\nbatch_size: 8\nthreads: 1\namp: false\nout: {tmp_path / out}\n"
        f"optim:\n  lr: 0.05\n{extra}"
    )
    return cfg


def test_train_writes_a_run_and_learns(tmp_path):
    cfg = load_config(config_file(tmp_path, epochs=6))
    seen = []
    with pytest.warns(FewValidationFacesWarning, match=r"fewer than 20 faces of some classes \(angry: 2, "):
        path = train(cfg, on_epoch=seen.append)  # 14 validation faces: 2 per class
    run = tmp_path / "run"
    assert path == run / "model.ferkit"
    for name in ("config.yaml", "last.pt", "best.ferkit", "model.ferkit", "metrics.jsonl", "curves.png", "data.json"):
        assert (run / name).exists(), name
    summary = json.loads((run / "data.json").read_text())
    assert summary["train"] == {"fer2013": 56} and summary["val"] == {"fer2013": 14}
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == list(range(6)) and len(seen) == 6
    mf = load_model_file(path)
    assert mf.classes == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert mf.temperature > 0 and mf.metrics["calibration"]["fitted_on"] == "validation"
    assert mf.config["epochs"] == 6
    assert max(x["val_acc"] for x in lines) > 0.4  # the bar pattern is learnable; chance is 1/7
    # class offsets are folded into the head: the shipped file's logits are the best epoch's plus the offsets
    bias = mf.metrics["calibration"]["class_bias"]
    assert list(bias) == mf.classes
    x = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        delta = mf.build()(x) - load_model_file(run / "best.ferkit").build()(x)
    assert torch.allclose(delta, torch.tensor([list(bias.values())] * 4), atol=1e-5)
    after = mf.metrics["calibration"]["val_acc_after_bias"]["val_acc"]
    assert after >= mf.metrics["calibration"]["val_acc_before_bias"]["val_acc"] - 0.001
    assert mf.metrics["calibration"]["few_validation_faces"] == dict.fromkeys(mf.classes, 2)
    (head,) = mf.heads  # one source, one head
    gate = mf.metrics["calibration"]["offset_gate"][head.name]  # class_bias: auto, the default: gated per head
    assert gate["cv_folds"] == 5 and (gate["cv_macro_f1_gain"] > 0 or not any(bias.values()))


def test_missing_dataset_is_a_config_error(tmp_path):
    cfg = load_config(None, [f"data.sources=[{{path: {tmp_path / 'nope.zip'}}}]"])
    with pytest.raises(ConfigError, match="nope.zip"):
        train(cfg)


def _run_cli(cfg, *extra, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "ferkit", "train", "--config", str(cfg), "--quiet", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_resume_after_kill_9_matches_uninterrupted(tmp_path):
    epochs = 5
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    straight = load_config(config_file(tmp_path, out="straight", epochs=epochs))
    train(straight)
    cfg = config_file(tmp_path, out="killed", epochs=epochs)
    proc = _run_cli(cfg, env=env)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = metrics.read_text().count("\n")
    assert 1 <= done < epochs, "the run was not interrupted mid-way"
    assert not list((tmp_path / "killed").glob(".*tmp*")), "a half-written checkpoint was left behind"
    resumed = _run_cli(cfg, "--resume", env=env)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_resume_with_another_config_is_refused(tmp_path):
    cfg = load_config(config_file(tmp_path, epochs=1))
    train(cfg)
    cfg.optim.lr = 0.5
    with pytest.raises(ConfigError, match="optim"):
        train(cfg, resume=True)


def test_group_faces_runs_each_shared_face_once_with_every_label(tmp_path, monkeypatch):
    from ferkit.engine import train as T
    from ferkit.engine.distributed import DistInfo

    cfg = load_config(config_file(tmp_path, epochs=6))
    cfg.data.sources = cfg.data.sources * 2  # two sources labelling the same 56 training images
    cfg.data.group_faces = True
    data = T.prepare_data(cfg)
    assert data.faces.shape == (56, 2) and (data.train.source[data.faces] == [0, 1]).all()
    model = T.build_model(cfg.model.name, num_classes=len(data.train.taxonomy), **cfg.model.kwargs)
    shown, scored, loss = [], [], T.partial_label_loss
    model.register_forward_hook(lambda m, i, o: shown.append(len(i[0])))
    with monkeypatch.context() as m:  # undone at the end of the block only (not conftest's cache isolation)
        m.setattr(T, "partial_label_loss", lambda logits, *a: scored.append(len(logits)) or loss(logits, *a))
        opt, sched = T.build_optimizer(model, cfg, 7)
        order = T.epoch_order(data, cfg, 0, DistInfo(0, 1, 0))
        T.train_one_epoch(model, opt, sched, data, order, torch.nn.Identity(), cfg, torch.device("cpu"), None, False)
    assert sum(shown) == 56 and sum(scored) == 112  # each face run once, scored against both labels
    assert Path(os.environ["FERKIT_CACHE"]).is_relative_to(tmp_path.parent)  # still the test's own cache
    path = train(cfg)
    summary = json.loads((tmp_path / "run" / "data.json").read_text())
    assert summary["samples_per_epoch"] == 56 and summary["faces_with_several_labels"] == 56
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(x["val_acc"] for x in lines) > 0.4 and path.exists()


def test_mixup_scores_each_label_on_its_own_image_and_on_the_image_it_was_blended_into(tmp_path, monkeypatch):
    from ferkit.engine import train as T
    from ferkit.engine.distributed import DistInfo

    cfg = load_config(config_file(tmp_path, epochs=12, extra="augment:\n  mixup: 0.4\n"))  # slower to learn
    cfg.data.sources = cfg.data.sources * 2  # two labels per face: the pairing must follow the face, not the row
    cfg.data.group_faces = True
    data = T.prepare_data(cfg)
    model = T.build_model(cfg.model.name, num_classes=len(data.train.taxonomy), **cfg.model.kwargs)
    outputs, scored, draws, loss, mix = [], [], [], T.partial_label_loss, T.mixup
    model.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    with monkeypatch.context() as m:
        m.setattr(T, "partial_label_loss", lambda logits, *a: scored.append(logits.detach()) or loss(logits, *a))
        m.setattr(T, "mixup", lambda x, a: draws.append(mix(x, a)) or draws[-1])
        opt, sched = T.build_optimizer(model, cfg, 7)
        order = T.epoch_order(data, cfg, 0, DistInfo(0, 1, 0))
        T.train_one_epoch(model, opt, sched, data, order, torch.nn.Identity(), cfg, torch.device("cpu"), None, False)
    assert len(draws) == len(outputs) == 7 and len(scored) == 14  # two scorings per step (one epoch)
    for out, (_, _, partner), own, other in zip(outputs, draws, scored[0::2], scored[1::2], strict=True):
        face = torch.arange(len(out)).repeat_interleave(2)  # each face's two labels, in order
        torch.testing.assert_close(own, out[face])
        torch.testing.assert_close(other, out[partner[face]])
    path = train(cfg)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(x["val_acc"] for x in lines) > 0.4 and path.exists()  # chance is 1/7


def test_distillation_teaches_the_student_what_the_teacher_knows(tmp_path):
    teacher = train(load_config(config_file(tmp_path, out="teacher", epochs=6)))
    cfg = load_config(config_file(tmp_path, out="student", epochs=10))
    cfg.model.kwargs = {"widths": [16, 16, 16, 24]}  # another architecture than the teacher's
    cfg.distill.teacher, cfg.distill.weight = str(teacher), 1.0  # the labels get no weight: only the teacher teaches
    cfg.distill.temperature = 1.0
    train(cfg)
    lines = [json.loads(x) for x in (tmp_path / "student" / "metrics.jsonl").read_text().splitlines()]
    assert max(x["val_acc"] for x in lines) > 0.4  # chance is 1/7
    cfg.distill.teacher, cfg.out = [str(teacher), str(teacher)], str(tmp_path / "ensemble")  # a list: an ensemble
    cfg.epochs = 2
    train(cfg)
    assert (tmp_path / "ensemble" / "metrics.jsonl").exists()
    cfg.distill.weight = 1.5
    with pytest.raises(ConfigError, match="distill"):
        train(cfg)
    cfg.distill.weight, cfg.distill.teacher = 0.5, str(tmp_path / "missing.ferkit")
    with pytest.raises(ModelFileError, match="missing.ferkit"):
        train(cfg, force=True)


def test_resume_accepts_a_checkpoint_saved_before_newer_config_keys(tmp_path):
    cfg = load_config(config_file(tmp_path, epochs=2))
    cfg.epochs = 1
    train(cfg)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    del state["config"]["distill"], state["config"]["data"]["group_faces"]  # as an older ferkit saved it
    torch.save(state, tmp_path / "run" / "last.pt")
    cfg.epochs = 2
    train(cfg, resume=True)
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2


DDP_SCRIPT = """
import os, sys, torch
from ferkit.config import load_config
from ferkit.engine import train as T
from ferkit.engine.distributed import init_distributed
cfg = load_config(sys.argv[1])
info = init_distributed(torch.device("cpu"))
torch.manual_seed(cfg.seed + info.rank)  # different init per rank: DDP must broadcast rank 0's weights
data = T.prepare_data(cfg)
model = T.build_model(cfg.model.name, num_classes=len(data.train.taxonomy), **cfg.model.kwargs)
ddp = torch.nn.parallel.DistributedDataParallel(model)
opt, sched = T.build_optimizer(model, cfg, 1)
order = T.epoch_order(data, cfg, 0, info)[: cfg.batch_size]
T.train_one_epoch(ddp, opt, sched, data, order, torch.nn.Identity(), cfg, torch.device("cpu"), None, False)
# weights (parameters); BatchNorm running stats are per rank and re-broadcast from rank 0 at each forward
torch.save({k: p.detach() for k, p in model.named_parameters()}, os.path.join(sys.argv[2], f"rank{info.rank}.pt"))
"""


def _torchrun(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_ddp_two_processes_same_weights_after_a_step(tmp_path):
    cfg = config_file(tmp_path, epochs=1)
    script = tmp_path / "ddp_step.py"
    script.write_text(DDP_SCRIPT)
    r = _torchrun(tmp_path, str(script), str(cfg), str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)


def test_ddp_only_rank_zero_writes(tmp_path):
    cfg = config_file(tmp_path, epochs=2)
    r = _torchrun(tmp_path, "-m", "ferkit", "train", "--config", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # one line per epoch, not one per rank
    assert r.stdout.count("model file:") == 2  # every rank returns; only rank 0 wrote files
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        ["config.yaml", "data.json", "last.pt", "best.ferkit", "model.ferkit", "metrics.jsonl", "curves.png"]
    )


def test_init_starts_from_a_model_file_matching_classes_by_name(tmp_path):
    from ferkit.engine.checkpoint import ModelFile, save_model_file
    from ferkit.engine.prior import init_weights
    from ferkit.models import build_model

    kwargs = {"widths": [16, 16, 16, 16]}
    torch.manual_seed(1)
    src = build_model("fernet_s", num_classes=3, **kwargs)
    mf = ModelFile("fernet_s", kwargs, ["angry", "happy", "sad"], state_dict=src.state_dict())
    save_model_file(mf, tmp_path / "a.ferkit")
    cfg = load_config(config_file(tmp_path))
    cfg.model.init = str(tmp_path / "a.ferkit")
    torch.manual_seed(2)
    dst = build_model("fernet_s", num_classes=3, **kwargs)
    fresh = dst.fc.weight.detach().clone()
    init_weights(dst, [Head("default", ("sad", "contempt", "angry"))], cfg)
    assert torch.equal(dst.stem[0].weight, src.stem[0].weight)  # the body is copied
    assert torch.equal(dst.fc.weight[0], src.fc.weight[2]) and torch.equal(dst.fc.bias[0], src.fc.bias[2])  # sad
    assert torch.equal(dst.fc.weight[2], src.fc.weight[0])  # angry
    assert torch.equal(dst.fc.weight[1], fresh[1])  # contempt: unknown to the file, freshly initialised

    cfg.model.kwargs = {"widths": [16, 16, 24, 32]}
    with pytest.raises(ConfigError, match=r"a.ferkit: holds fernet_s .*\(stages.2.*\(16,.* in the file, \(24,"):
        init_weights(
            build_model("fernet_s", num_classes=3, **cfg.model.kwargs), [Head("default", ("a", "b", "c"))], cfg
        )


def test_init_accepts_other_kwargs_where_every_weight_still_fits(tmp_path):
    from ferkit.engine.checkpoint import ModelFile, save_model_file
    from ferkit.engine.prior import init_weights
    from ferkit.models import build_model

    torch.manual_seed(1)
    src = build_model("face_resnet", num_classes=2, input_size=80)
    save_model_file(ModelFile("face_resnet", {"input_size": 80}, ["happy", "sad"], state_dict=src.state_dict()),
                    tmp_path / "a.ferkit")  # fmt: skip
    cfg = load_config(config_file(tmp_path))
    cfg.model.name, cfg.model.kwargs, cfg.model.init = "face_resnet", {"input_size": 96}, str(tmp_path / "a.ferkit")
    torch.manual_seed(2)
    dst = build_model("face_resnet", num_classes=2, input_size=96)  # input_size changes no weight's shape
    init_weights(dst, [Head("default", ("happy", "sad"))], cfg)
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key
    assert dst.input_size == 96


def test_fine_tune_run_starts_where_the_file_left_off(tmp_path):
    first = train(load_config(config_file(tmp_path, out="first", epochs=2)))
    cfg = load_config(config_file(tmp_path, out="tuned", epochs=1, extra="  schedule: constant\n"))
    cfg.model.init = str(first)
    cfg.optim.lr = 0.0  # no step moves the weights: the run must end holding the file's weights
    cfg.calibrate.class_bias = False  # nor may calibration move the head
    tuned = train(cfg)
    a, b = load_model_file(first).state_dict, load_model_file(tuned).state_dict
    for k in a:
        if a[k].dtype.is_floating_point and "running" not in k:
            assert torch.allclose(a[k], b[k]), k
    cfg.model.init = str(tmp_path / "missing.ferkit")
    with pytest.raises(ModelFileError, match="missing.ferkit"):
        train(cfg, force=True)


def test_init_from_takes_the_architecture_from_the_file(tmp_path, model_file):
    from ferkit.engine.prior import init_from, init_weights
    from ferkit.models import build_model

    cfg = init_from(load_config(config_file(tmp_path)), model_file)  # the config builds fernet_s, widths 16-16
    mf = load_model_file(model_file)
    assert (cfg.model.name, cfg.model.kwargs, cfg.model.init) == (mf.arch, mf.arch_kwargs, str(model_file))
    model = build_model(cfg.model.name, num_classes=2, **cfg.model.kwargs)
    init_weights(model, [Head("default", ("happy", "sad"))], cfg)  # the file's architecture, so it loads
    with pytest.raises(ModelFileError, match="missing.ferkit"):
        init_from(cfg, tmp_path / "missing.ferkit")


def test_resume_on_a_finished_run_recalibrates_without_training(tmp_path):
    cfg = load_config(config_file(tmp_path, epochs=2))
    cfg.calibrate.class_bias = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewValidationFacesWarning)  # no offsets: nothing to warn about
        path = train(cfg)
    assert "class_bias" not in load_model_file(path).metrics["calibration"]
    best = (tmp_path / "run" / "best.ferkit").read_bytes()
    cfg.calibrate.class_bias, cfg.calibrate.max_accuracy_drop = True, 0.05  # calibration settings may change
    cfg.threads = 2 if cfg.threads != 2 else 1  # and so may the threads
    train(cfg, resume=True)
    assert set(load_model_file(path).metrics["calibration"]["class_bias"]) == set(load_model_file(path).classes)
    stored = load_model_file(path).config["calibrate"]  # the file says how it was calibrated: now, not first
    assert stored["class_bias"] is True and stored["max_accuracy_drop"] == 0.05
    assert (tmp_path / "run" / "best.ferkit").read_bytes() == best  # no epoch ran
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_run_is_never_overwritten_without_force(tmp_path):
    cfg = load_config(config_file(tmp_path, epochs=1))
    train(cfg)
    before = {n: (tmp_path / "run" / n).read_bytes() for n in ("last.pt", "best.ferkit", "model.ferkit")}
    with pytest.raises(ConfigError, match=r"already holds a run \(last.pt, best.ferkit, model.ferkit, metrics.jsonl\)"):
        train(cfg)
    assert all((tmp_path / "run" / n).read_bytes() == b for n, b in before.items())  # untouched
    cfg.seed = 1
    train(cfg, force=True)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1  # the new run's only
    assert (tmp_path / "run" / "last.pt").read_bytes() != before["last.pt"]


def test_resume_finds_the_run_however_its_folder_is_named(tmp_path, monkeypatch):
    cfg = load_config(config_file(tmp_path, epochs=1))
    train(cfg)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "moved").mkdir()
    (tmp_path / "run").rename(tmp_path / "moved" / "run")
    for out, epochs in (("moved/run/", 2), (str(tmp_path / "moved/run"), 3), ("~/moved/run", 4)):
        cfg.out, cfg.epochs = out, epochs
        train(cfg, resume=True)
        assert len((tmp_path / "moved/run/metrics.jsonl").read_text().splitlines()) == epochs, out
    cfg.data.sources[0].path = os.path.relpath(cfg.data.sources[0].path, tmp_path)  # the same file, relative
    cfg.epochs = 5
    train(cfg, resume=True)


def test_cli_train_refuses_then_forces(tmp_path, capsys):
    from ferkit.cli import main

    cfg = config_file(tmp_path, epochs=1)
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    assert main(["train", "--config", str(cfg), "--quiet"]) == 1
    assert "--resume to continue it, --force to replace it" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg), "--quiet", "--force"]) == 0


def test_calibration_shows_progress(tmp_path, capsys):
    cfg = load_config(config_file(tmp_path, epochs=1), ["calibrate.bags=3", "calibrate.class_bias=true"])
    train(cfg, progress=True)
    err = capsys.readouterr().err
    assert "calibrate:" in err and "/44" in err  # logits, 3 bags x 2 rounds x 7 classes of offsets, temperature


def test_a_network_that_crashes_onednn_in_channels_last_trains_without_it(tmp_path):
    """fernet_s with 8-channel stages: its 1x1 stride-2 shortcut crashed torch's backward in channels_last (oneDNN
    #6035, a segfault). The run turns channels_last off, says why, and trains; run in a child, so that a crash fails
    this test instead of killing the test session."""
    from ferkit.engine.train import _channels_last_hazard
    from ferkit.models import build_model

    assert "shortcut.0 has 8 input channels" in _channels_last_hazard(build_model("fernet_s", 7, widths=[8] * 4))
    assert _channels_last_hazard(build_model("fernet_s", 7)) is None
    cfg = config_file(tmp_path, epochs=1).read_text().replace("[16, 16, 16, 16]", "[8, 8, 8, 8]")
    (tmp_path / "cfg.yaml").write_text(cfg + "channels_last: true\nseed: 1\n")
    script = "import sys; from ferkit.cli import main; sys.exit(main(['train', '--config', sys.argv[1]]))"
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "cfg.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "channels_last is off for this run" in done.stderr and (tmp_path / "run" / "model.ferkit").exists()


@pytest.mark.parametrize("bf16", [True, False])
def test_bf16_autocast_only_on_a_cpu_that_computes_in_bf16(tmp_path, monkeypatch, bf16):
    """amp: true trains in bf16 where the CPU has bf16 instructions; elsewhere emulated bf16 is 2-10x slower than
    fp32, so the run trains in fp32 and says why."""
    import ferkit.engine.train as train_module

    assert isinstance(train_module.cpu_has_bf16(), bool)
    monkeypatch.setattr(train_module, "cpu_has_bf16", lambda: bf16)
    seen = []
    real = train_module.train_one_epoch

    def spy(model, optimizer, scheduler, data, order, aug, cfg, *args, **kwargs):
        seen.append(cfg.amp)
        return real(model, optimizer, scheduler, data, order, aug, cfg, *args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", spy)
    cfg = load_config(config_file(tmp_path, epochs=1))
    cfg.amp = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg)
    said = [str(w.message) for w in caught if "amp is off" in str(w.message)]
    assert seen == [bf16] and len(said) == (0 if bf16 else 1)
    assert bf16 or "no bf16 instructions" in said[0]
    assert load_model_file(tmp_path / "run" / "model.ferkit").config["amp"] is True  # the recipe as written


def test_ema_is_what_each_epoch_validates_and_keeps_and_resumes_exactly(tmp_path):
    straight = load_config(config_file(tmp_path, out="straight", epochs=2, extra="  ema: 0.9\n"))
    train(straight)
    state = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    raw, ema = state["model"], {k.removeprefix("module."): v for k, v in state["ema"].items() if k != "n_averaged"}
    assert int(state["ema"]["n_averaged"]) == 2 * 7  # one update per step: 56 faces in batches of 8, two epochs
    assert set(ema) == set(raw) and any(not torch.equal(ema[k], raw[k]) for k in raw if raw[k].is_floating_point())
    best = load_model_file(tmp_path / "straight" / "best.ferkit")
    lines = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    # the validated weights are the averaged ones: their accuracy, recomputed, is the logged one
    from ferkit.engine.run_data import prepare_data
    from ferkit.engine.validation import validate

    data = prepare_data(straight)
    net = best.build()
    assert validate(net, data.val, torch.device("cpu"))["val_acc"] == pytest.approx(
        lines[best.metrics["train"]["best_epoch"]]["val_acc"]
    )
    # one epoch, then a resume: the same average as two epochs straight
    cfg = load_config(config_file(tmp_path, out="resumed", epochs=2, extra="  ema: 0.9\n"))
    cfg.epochs = 1
    train(cfg)
    first = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["ema"]
    for k, v in load_model_file(tmp_path / "resumed" / "best.ferkit").state_dict.items():  # epoch 0's average
        torch.testing.assert_close(v, first[f"module.{k}"], msg=k)
    cfg.epochs = 2
    train(cfg, resume=True)
    again = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["ema"]
    for k, v in state["ema"].items():
        torch.testing.assert_close(again[k], v, rtol=1e-5, atol=1e-6, msg=k)


def test_ema_out_of_range_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"optim.ema.*accepted: \[0, 1\)"):
        load_config(config_file(tmp_path, extra="  ema: 1.0\n"))
