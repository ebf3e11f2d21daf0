"""The training loop, in plain sight: ``train()`` builds everything, ``train_one_epoch()`` works, ``validate()``
(``ferkit.engine.validation``) scores each epoch.

Run folder (``cfg.out``): ``config.yaml`` (resolved config), ``last.pt`` (full training state, written atomically
every epoch, what ``resume`` continues from), ``model.ferkit`` (best-on-validation model file, calibrated),
``metrics.jsonl`` (one line per epoch), ``curves.png``, and ``data.json`` (faces per source and what fusion dropped).
"""

from __future__ import annotations

import json
import math
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ferkit.config import SourceConfig, TrainConfig, to_dict
from ferkit.data.augment import build_augment, mixup
from ferkit.engine.checkpoint import ModelFile, atomic_torch_save, load_model_file, save_model_file
from ferkit.engine.distributed import all_reduce_mean, init_distributed, pick_device
from ferkit.engine.extend import Frozen, adopt_architecture, freeze, init_path, with_branch
from ferkit.engine.losses import distillation_loss, partial_label_loss
from ferkit.engine.prior import DLIB_INIT, NOT_TRAINED, Teacher, init_weights, load_teacher
from ferkit.engine.run_data import Data, class_weights, data_summary, epoch_order, prepare_data
from ferkit.engine.run_folder import claim_run_folder
from ferkit.engine.validation import bar as _bar
from ferkit.engine.validation import calibrate_on_validation, validate
from ferkit.errors import ConfigError, ModelFileError
from ferkit.heads import Head
from ferkit.models import build_model, check_model
from ferkit.models.face_resnet import match_norm_stats
from ferkit.preprocess import Preprocessing

EpochHook = Callable[[dict], None]


# ---- one epoch ------------------------------------------------------------------------------------------------


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: Data,
    order: np.ndarray,
    aug: nn.Module,
    cfg: TrainConfig,
    device: torch.device,
    weights: torch.Tensor | None,
    progress: bool,
    teacher: Teacher | None = None,
    frozen: Frozen | None = None,
    ema: AveragedModel | None = None,
) -> dict:
    model.train()
    if frozen is not None:  # a frozen trunk keeps its BatchNorm statistics
        frozen.set_modes()
    # the faces live on the device (126 MB for FER-2013 + FER+ as uint8): on a GPU, batches and augmentation stay there
    images = torch.from_numpy(data.train.images).to(device)  # (N, 48, 48) uint8, indexed per batch
    targets = torch.from_numpy(data.train.targets)
    masks = torch.from_numpy(data.train.masks)
    sampled = torch.from_numpy(data.sampled)
    size = min(cfg.batch_size, len(order))  # fewer faces than a batch (a few of your own): one batch of them all
    batches = [order[i : i + size] for i in range(0, len(order) - size + 1, size)]
    amp_dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    scaler = torch.amp.GradScaler(enabled=cfg.amp and device.type == "cuda")
    total, correct, seen, images_run, t0 = 0.0, 0, 0, 0, time.perf_counter()
    bar = _bar(len(batches), progress, "train")
    faces = torch.from_numpy(data.faces)
    for idx in batches:
        rows = faces[torch.from_numpy(idx)]  # (B, R) training rows of these faces, -1 = none
        shown = rows[:, 0]
        if rows.shape[1] > 1:  # a shared face shows one of its sources' copies (JPEG or lossless), drawn at random
            pick = (torch.rand(len(rows)) * (rows >= 0).sum(1)).long()
            shown = rows[torch.arange(len(rows)), pick]
        x = images[shown.to(device)].unsqueeze(1).float().div_(255)  # (B, 48, 48) -> (B, 1, 48, 48) in [0, 1]
        x = aug(x).clamp_(0, 1)  # batched, on the device
        if cfg.augment.mixup > 0:  # each image also shows another face of the batch: face j's is image partner[j]
            x, lam, partner = mixup(x, cfg.augment.mixup)
        face, slot = (rows >= 0).nonzero(as_tuple=True)  # every label of every face: (n,) face index, (n,) slot
        row = rows[face, slot]
        y, m = targets[row], masks[row]
        draw = sampled[row]
        if draw.any():  # probabilistic label drawing: one hard label per face per epoch
            hard = torch.multinomial(y[draw], 1).squeeze(1)
            y = y.clone()
            y[draw] = nn.functional.one_hot(hard, y.shape[1]).float()
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y, m = y.to(device, non_blocking=True), m.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=cfg.amp):
            per_face = model(x)
            t_logits = teacher.logits(x, cfg.distill.temperature) if teacher is not None else None
        logits = per_face[face.to(device)] if rows.shape[1] > 1 else per_face  # one row per label: (n, K)
        loss = partial_label_loss(logits, y, m, cfg.label_smoothing, weights)
        if cfg.augment.mixup > 0:  # each label also scored, at weight 1 - lam, on the image its face was blended into
            mixed = per_face[partner[face.to(device)]]
            loss = lam * loss + (1 - lam) * partial_label_loss(mixed, y, m, cfg.label_smoothing, weights)
        if teacher is not None:  # the teacher sees the same augmented faces
            kd = distillation_loss(per_face, t_logits, teacher.mask, cfg.distill.temperature, teacher.slices)
            loss = (1 - cfg.distill.weight) * loss + cfg.distill.weight * kd
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        if frozen is not None:  # kept heads' rows as they were (weight decay and momentum move them otherwise)
            frozen.restore()
        if ema is not None:
            ema.update_parameters(getattr(model, "module", model))  # the network itself, not its DDP wrapper
        n = len(row)
        total += loss.item() * n
        pred = logits.detach().float().masked_fill(~m, float("-inf")).argmax(1)
        correct += int((pred == y.argmax(1)).sum())
        seen += n
        images_run += len(idx)
        bar.update(1)
        bar.set_postfix(loss=f"{total / seen:.3f}", acc=f"{correct / seen:.3f}")
    bar.close()
    dt = time.perf_counter() - t0
    return {  # loss and accuracy per label; with group_faces an image carries several labels
        "train_loss": total / max(seen, 1),
        "train_acc": correct / max(seen, 1),
        "img_per_s": images_run / dt,
        "labels_per_s": seen / dt,
    }


# ---- the whole run --------------------------------------------------------------------------------------------


def build_optimizer(model: nn.Module, cfg: TrainConfig, steps_per_epoch: int):
    o = cfg.optim
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]  # no weight decay on norms and biases
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if o.name == "sgd":
        opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.momentum > 0)
    elif o.name == "adam":
        opt = torch.optim.Adam(groups, lr=o.lr)
    else:
        opt = torch.optim.AdamW(groups, lr=o.lr)
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = int(o.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if o.schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train(
    cfg: TrainConfig,
    resume: bool = False,
    progress: bool = False,
    on_epoch: EpochHook | None = None,
    force: bool = False,
) -> Path:
    """Train a model as configured; returns the path of the best model file.

    Args:
        cfg: the resolved config.
        resume: continue from ``cfg.out/last.pt`` (same config required).
        progress: show progress bars (the CLI turns this on).
        on_epoch: called on the main process with each epoch's metrics.
        force: replace a run already in ``cfg.out`` (without it, and without ``resume``, that is an error).

    Raises:
        ConfigError: ``cfg.out`` holds a run and neither ``resume`` nor ``force`` is given; or resuming with a
            different config.
    """
    cfg.check()  # ranges (load_config checks them too; a config built in code gets the same)
    cfg = adopt_architecture(cfg)  # keep_heads: the trunk of model.init
    check_model(cfg.model.name, "config key 'model.name'")
    if cfg.model.name == "ensemble":
        came = f" (model.init {cfg.model.init} is one)" if cfg.model.init else ""
        raise ConfigError(f"config key 'model.name': an ensemble{came} {NOT_TRAINED}")
    device = pick_device(cfg.device)
    info = init_distributed(device)
    if info.world > 1 and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out).expanduser()
    claim_run_folder(out, cfg.out, resume, force, info.main)  # before the data is read: a refusal costs nothing
    data = prepare_data(cfg)
    cfg = with_branch(cfg, data.heads, data.kept)  # trainable: branch: the new heads' columns come from a branch
    classes = list(data.train.taxonomy.classes)
    model = build_model(cfg.model.name, num_classes=len(classes), **cfg.model.kwargs)
    if cfg.model.init and not resume:
        init_weights(model, data.heads, cfg)
        if cfg.model.init == DLIB_INIT:  # so that train-mode BatchNorm starts from dlib's network too
            match_norm_stats(model, data.train.images)
    model = model.to(device)
    loop_cfg = cfg  # what the epochs see: channels_last may be off where oneDNN would crash on it
    if cfg.channels_last and (hazard := _channels_last_hazard(model)):
        warnings.warn(f"{out}: channels_last is off for this run: {hazard}", stacklevel=2)
        loop_cfg = replace(cfg, channels_last=False)
    elif cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.amp and device.type == "cpu" and not cpu_has_bf16():
        warnings.warn(
            f"{out}: amp is off for this run: this CPU has no bf16 instructions (avx512_bf16 or AMX), and bf16 "
            "autocast emulated without them trains 2-10x slower than fp32 (README, 'bf16 on the CPU')",
            stacklevel=2,
        )
        loop_cfg = replace(loop_cfg, amp=False)
    steps = max(1, (len(data.faces) // info.world) // cfg.batch_size)  # as train_one_epoch batches them
    optimizer, scheduler = build_optimizer(model, cfg, steps)
    start, best, history = 0, -1.0, []
    ema = weights_ema(model, cfg.optim.ema)
    if resume and (out / "last.pt").exists():
        state = _load_state(out / "last.pt", cfg)
        model.load_state_dict(state["model"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, best, history = state["epoch"] + 1, state["best"], state["history"]
    frozen = freeze(model, data.heads, data.kept, cfg.model.trainable)
    preprocessing = load_model_file(init_path(cfg.model.init)).preprocessing if data.kept else Preprocessing()
    wrapped: nn.Module = model
    if info.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if info.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        (out / "data.json").write_text(json.dumps(data_summary(data), indent=1))
    aug = build_augment(cfg.augment).to(device)
    weights = class_weights(data.train).to(device) if cfg.balance == "weights" else None
    teacher = load_teacher(cfg, data.heads, device)
    for epoch in range(start, cfg.epochs):
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # augmentation RNG from (seed, epoch): resume is exact
        order = epoch_order(data, cfg, epoch, info)
        t0 = time.perf_counter()
        stats = train_one_epoch(
            wrapped, optimizer, scheduler, data, order, aug, loop_cfg, device, weights, progress, teacher, frozen, ema
        )
        stats = {k: all_reduce_mean(v, info, device) for k, v in stats.items()}
        kept = ema.module if ema is not None else model  # what is validated and saved: the averaged weights, if any
        stats.update(validate(kept, data.val, device) if len(data.val) else {"val_acc": stats["train_acc"]})
        stats.update(epoch=epoch, lr=scheduler.get_last_lr()[0], seconds=time.perf_counter() - t0)
        history.append(stats)
        if info.main:
            if stats["val_acc"] > best:
                best = stats["val_acc"]
                mf = _model_file(kept, cfg, classes, data.heads, {"best_epoch": epoch, **stats}, preprocessing)
                save_model_file(mf, out / "best.ferkit")
            atomic_torch_save(
                {
                    "model": model.state_dict(),
                    **({"ema": ema.state_dict()} if ema is not None else {}),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "best": best,
                    "history": history,
                    "config": to_dict(cfg),
                },
                out / "last.pt",
            )
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(stats) + "\n")
            if on_epoch:
                on_epoch(stats)
    if info.main:
        _finish(out, data, device, cfg, progress)
    return out / "model.ferkit"


def _model_file(
    model: nn.Module,
    cfg: TrainConfig,
    classes: list[str],
    heads: list[Head],
    metrics: dict,
    preprocessing: Preprocessing | None = None,
) -> ModelFile:
    return ModelFile(
        heads=list(heads),
        arch=cfg.model.name,
        arch_kwargs=dict(cfg.model.kwargs),
        classes=classes,
        preprocessing=preprocessing or Preprocessing(),
        temperature=heads[0].temperature,  # 1.0, or a kept head's (model.keep_heads)
        config=to_dict(cfg),
        metrics={"train": metrics},
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    )


def weights_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """The exponential moving average of ``model``'s weights and BatchNorm statistics (``optim.ema``), updated after
    every optimizer step; None when ``decay`` is 0. It starts as a copy of the model."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 itself (x86: ``avx512_bf16`` or AMX tiles; Arm: its BF16 extension), which
    is when bf16 autocast pays. Emulated, it trained fernet_xs at 0.46x the speed of fp32 with AVX-512 and 0.10x with
    AVX2 (``ONEDNN_MAX_CPU_ISA``, ``bench/train_throughput.py``)."""
    try:  # private torch probes: a build without them (or without oneDNN) counts as no bf16
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _channels_last_hazard(model: nn.Module) -> str | None:
    """Why ``model`` must not train in channels_last on this CPU, or None. oneDNN's 1x1 stride-2 convolution
    computes its weight gradient past its workspace in channels_last when it has fewer input channels than its block
    (16 with AVX-512): torch 2.13 crashes (segfault, heap corruption) in ``backward`` (uxlfoundation/oneDNN#6035)."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1 and m.in_channels < 16:
            return (
                f"its 1x1 stride-{max(m.stride)} convolution {name} has {m.in_channels} input channels (< 16), "
                "whose channels_last weight gradient crashes oneDNN (uxlfoundation/oneDNN#6035)"
            )
    return None


def _load_state(path: Path, cfg: TrainConfig) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelFileError(f"{path}: cannot resume, checkpoint unreadable ({type(e).__name__}: {e})") from None
    saved, now = _with_defaults(state.get("config", {}), to_dict(TrainConfig())), to_dict(cfg)
    saved, now = _resolved_paths(saved), _resolved_paths(now)
    # more epochs, calibration redone, CPU threads: none changes the training so far; nor does where the run folder
    # is (``runs/x/``, its absolute path, or the folder moved elsewhere: last.pt is read from where it is now)
    free = {"epochs", "calibrate", "out", "threads"}
    diff = sorted(k for k in set(saved) | set(now) if k not in free and saved.get(k) != now.get(k))
    if diff:
        raise ConfigError(f"{path}: cannot resume with a different config (differs in: {', '.join(diff)})")
    return state


def _resolved_paths(cfg: dict) -> dict:
    """A config dict with its file paths (sources, ``model.init``, distillation teachers) made absolute, so that
    ``data/x.zip`` and ``./data/x.zip`` or ``~/data/x.zip`` compare equal when they name the same file."""

    def resolve(p: object) -> object:  # only paths that name a file here (not kaggle: names, nor model.init: dlib)
        return str(Path(p).expanduser().resolve()) if isinstance(p, str) and p and Path(p).expanduser().exists() else p

    out = json.loads(json.dumps(cfg))  # a deep copy
    for src in out.get("data", {}).get("sources", []):
        src["path"] = resolve(src.get("path"))
    model, distill = out.get("model", {}), out.get("distill", {})
    model["init"] = resolve(model.get("init"))
    teacher = distill.get("teacher")
    distill["teacher"] = [resolve(t) for t in teacher] if isinstance(teacher, list) else resolve(teacher)
    return out


def _with_defaults(saved: dict, defaults: dict) -> dict:
    """A saved config with the keys it predates filled in with their defaults (a run saved before a key existed
    resumes under a newer ferkit as long as the key keeps its default)."""
    out = dict(defaults)
    for k, v in saved.items():
        if isinstance(v, dict) and isinstance(defaults.get(k), dict):
            out[k] = _with_defaults(v, defaults[k])
        elif k == "sources" and isinstance(v, list):  # each source too
            out[k] = [_with_defaults(s, to_dict(SourceConfig())) if isinstance(s, dict) else s for s in v]
        else:
            out[k] = v
    return out


def _finish(out: Path, data: Data, device: torch.device, cfg: TrainConfig, progress: bool = False) -> None:
    """Calibrate the best model on validation data (``calibrate_on_validation``) and write ``model.ferkit`` and the
    curves. Run again by ``--resume`` on a finished run."""
    from ferkit.viz import plot_curves

    mf = load_model_file(out / "best.ferkit")
    if len(data.val):
        mf = calibrate_on_validation(mf, data.val, data.kept, device, cfg, where=out, progress=progress)
    save_model_file(mf, out / "model.ferkit")
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    plot_curves(history, out / "curves.png")
