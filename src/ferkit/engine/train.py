"""The training loop, in plain sight: ``train()`` builds everything, ``train_one_epoch()`` and ``validate()`` work.

Run folder (``cfg.out``): ``config.yaml`` (resolved config), ``last.pt`` (full training state, written atomically
every epoch, what ``resume`` continues from), ``model.ferkit`` (best-on-validation model file, calibrated),
``metrics.jsonl`` (one line per epoch), ``curves.png``, and ``data.json`` (faces per source and what fusion dropped).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from ferkit.config import TrainConfig, to_dict
from ferkit.data.augment import build_augment
from ferkit.data.cache import load_source
from ferkit.data.fusion import Fused, fuse, shared_faces
from ferkit.engine.calibrate import fit_temperature
from ferkit.engine.checkpoint import ModelFile, atomic_torch_save, load_model_file, save_model_file
from ferkit.engine.distributed import DistInfo, all_reduce_mean, init_distributed, pick_device
from ferkit.engine.losses import distillation_loss, partial_label_loss
from ferkit.errors import ConfigError, ModelFileError
from ferkit.models import build_model
from ferkit.preprocess import Preprocessing
from ferkit.taxonomy import Taxonomy

EpochHook = Callable[[dict], None]


@dataclass
class Data:
    train: Fused
    val: Fused
    sampled: np.ndarray  # (N_train,) bool: draw a hard label each epoch (vote policy "probability")
    faces: np.ndarray  # (F, R) int64: the training rows of each sample, padded with -1 (one row each, ungrouped)


# ---- data -----------------------------------------------------------------------------------------------------


def prepare_data(cfg: TrainConfig) -> Data:
    """Load, fuse and split the configured sources (validation never touches test splits)."""
    if not cfg.data.sources:
        raise ConfigError("data.sources is empty: give at least one dataset path")
    sources = []
    for i, s in enumerate(cfg.data.sources):
        if not Path(s.path).exists():
            raise ConfigError(f"data.sources[{i}].path: {s.path!r} does not exist")
        sources.append(load_source(s.path, s.format, s.on_error))
    target = Taxonomy.from_names(cfg.data.classes) if cfg.data.classes else None
    policies = [s.votes for s in cfg.data.sources]
    fused = fuse(sources, target, policies, leak_free=cfg.data.dedupe)
    train, val = fused.split("train"), fused.split("val")
    if cfg.data.holdout > 0:
        train, val = _holdout(train, cfg.data.holdout, cfg.seed)
    if cfg.limit:
        pick = np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.limit]
        train = train.select(np.sort(pick))
    if len(train) == 0:
        raise ConfigError("no training faces after fusion (check data.sources and data.classes)")
    sampled = np.array([policies[k] == "probability" for k in train.source], bool)
    faces = shared_faces(train) if cfg.data.group_faces else np.arange(len(train))[:, None]
    return Data(train, val, sampled, faces)


def _holdout(train: Fused, fraction: float, seed: int) -> tuple[Fused, Fused]:
    """A stratified (per source and class) random split of the training rows."""
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(train), bool)
    strata = train.source * 1000 + train.targets.argmax(1)
    for s in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == s))
        is_val[idx[: int(round(len(idx) * fraction))]] = True
    val = train.select(is_val)
    val.splits = np.full(len(val), "val")
    return train.select(~is_val), val


def class_weights(train: Fused) -> torch.Tensor:
    """Inverse-square-root class frequency, normalised to mean 1 over the classes present."""
    freq = train.targets.sum(0)
    w = np.where(freq > 0, 1.0 / np.sqrt(np.maximum(freq, 1e-9)), 0.0)
    return torch.tensor(w / w[freq > 0].mean(), dtype=torch.float32)


def init_weights(model: nn.Module, classes: list[str], cfg: TrainConfig) -> None:
    """Start ``model`` from the weights of the model file ``cfg.model.init`` (fine-tuning).

    The file must hold the same architecture and kwargs. The head (the model's last ``nn.Linear``) is copied row by
    row for the classes both know, matched by name; rows of classes the file lacks keep their fresh initialisation.

    Raises:
        ModelFileError: the file is missing, corrupt or not a ferkit model file.
        ConfigError: the file holds another architecture.
    """
    mf = load_model_file(cfg.model.init)
    if mf.arch != cfg.model.name or json.dumps(mf.arch_kwargs, sort_keys=True) != json.dumps(
        cfg.model.kwargs, sort_keys=True
    ):
        raise ConfigError(
            f"model.init={cfg.model.init}: holds {mf.arch} {mf.arch_kwargs}, "
            f"but the config builds {cfg.model.name} {cfg.model.kwargs}"
        )
    head = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    own = model.state_dict()
    rows = [(classes.index(c), mf.classes.index(c)) for c in classes if c in mf.classes]
    for key, value in mf.state_dict.items():
        if key.startswith(head + "."):
            for i, j in rows:
                own[key][i] = value[j]
        else:
            own[key] = value
    model.load_state_dict(own)


@dataclass
class Teacher:
    """A trained model the student also learns from, its logits read in the student's class order."""

    model: nn.Module
    cols: torch.Tensor  # (K,) long: the teacher's logit column of each student class (0 where it lacks the class)
    mask: torch.Tensor  # (K,) bool: the student classes the teacher knows

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(x).float()[:, self.cols]


def load_teacher(cfg: TrainConfig, classes: list[str], device: torch.device) -> Teacher | None:
    """The teacher of ``cfg.distill``, or None when distillation is off.

    Raises:
        ModelFileError: the teacher file is missing, corrupt or not a ferkit model file.
        ConfigError: a distillation setting is out of range, or the teacher shares no class with the student.
    """
    d = cfg.distill
    if not d.teacher:
        return None
    if not 0 < d.weight <= 1 or d.temperature <= 0:
        raise ConfigError(f"distill: weight must be in (0, 1] and temperature > 0, got {d.weight} and {d.temperature}")
    mf = load_model_file(d.teacher)
    known = [c in mf.classes for c in classes]
    if not any(known):
        raise ConfigError(f"distill.teacher={d.teacher}: knows {mf.classes}, none of the student's classes {classes}")
    model = mf.build().to(device).eval()
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    cols = torch.tensor([mf.classes.index(c) if k else 0 for c, k in zip(classes, known, strict=True)])
    return Teacher(model, cols.to(device), torch.tensor(known, device=device))


def epoch_order(data: Data, cfg: TrainConfig, epoch: int, info: DistInfo) -> np.ndarray:
    """Sample (face) order for one epoch, from the seed and epoch alone (so a resumed run repeats it), by rank."""
    rng = np.random.default_rng([cfg.seed, epoch])
    n = len(data.faces)
    if cfg.balance == "sampler":
        labels = data.train.targets[data.faces[:, 0]].argmax(1)  # a grouped face is drawn by its first label
        freq = np.bincount(labels, minlength=data.train.targets.shape[1]).astype(float)
        p = 1.0 / freq[labels]
        order = rng.choice(n, size=n, replace=True, p=p / p.sum())
    else:
        order = rng.permutation(n)
    per_rank = len(order) // info.world
    return order[info.rank * per_rank : (info.rank + 1) * per_rank]


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
) -> dict:
    model.train()
    # the faces live on the device (126 MB for FER-2013 + FER+ as uint8): on a GPU, batches and augmentation stay there
    images = torch.from_numpy(data.train.images).to(device)  # (N, 48, 48) uint8, indexed per batch
    targets = torch.from_numpy(data.train.targets)
    masks = torch.from_numpy(data.train.masks)
    sampled = torch.from_numpy(data.sampled)
    batches = [order[i : i + cfg.batch_size] for i in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size)]
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
            t_logits = teacher.logits(x) if teacher is not None else None
        logits = per_face[face.to(device)] if rows.shape[1] > 1 else per_face  # one row per label: (n, K)
        loss = partial_label_loss(logits, y, m, cfg.label_smoothing, weights)
        if teacher is not None:  # the teacher sees the same augmented faces
            kd = distillation_loss(per_face, t_logits, teacher.mask, cfg.distill.temperature)
            loss = (1 - cfg.distill.weight) * loss + cfg.distill.weight * kd
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
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


@torch.no_grad()
def predict_fused(model: nn.Module, part: Fused, device: torch.device, batch: int = 1024) -> np.ndarray:
    """Logits of a fused split, with classes outside each row's source masked to a large negative value."""
    model.eval()
    out = []
    for i in range(0, len(part), batch):
        x = torch.from_numpy(part.images[i : i + batch]).unsqueeze(1).float().div_(255).to(device)
        out.append(model(x).float().cpu().numpy())
    logits = np.concatenate(out) if out else np.zeros((0, len(part.taxonomy)), np.float32)
    return np.where(part.masks, logits, -1e9).astype(np.float32)


def validate(model: nn.Module, val: Fused, device: torch.device) -> dict:
    """Validation accuracy per source (among the classes each source can express) and their mean."""
    logits = predict_fused(model, val, device)
    y = val.targets.argmax(1)
    out = {}
    for k, name in enumerate(val.names):
        sel = val.source == k
        if sel.any():
            out[f"val_acc/{name}"] = float((logits[sel].argmax(1) == y[sel]).mean())
    out["val_acc"] = float(np.mean(list(out.values()))) if out else 0.0
    return out


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


def train(cfg: TrainConfig, resume: bool = False, progress: bool = False, on_epoch: EpochHook | None = None) -> Path:
    """Train a model as configured; returns the path of the best model file.

    Args:
        cfg: the resolved config.
        resume: continue from ``cfg.out/last.pt`` (same config required).
        progress: show progress bars (the CLI turns this on).
        on_epoch: called on the main process with each epoch's metrics.
    """
    device = pick_device(cfg.device)
    info = init_distributed(device)
    if info.world > 1 and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    data = prepare_data(cfg)
    classes = list(data.train.taxonomy.classes)
    model = build_model(cfg.model.name, num_classes=len(classes), **cfg.model.kwargs)
    if cfg.model.init and not resume:
        init_weights(model, classes, cfg)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    steps = (len(data.faces) // info.world) // cfg.batch_size
    optimizer, scheduler = build_optimizer(model, cfg, steps)
    start, best, history = 0, -1.0, []
    if resume and (out / "last.pt").exists():
        state = _load_state(out / "last.pt", cfg)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, best, history = state["epoch"] + 1, state["best"], state["history"]
    wrapped: nn.Module = model
    if info.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if info.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        (out / "data.json").write_text(json.dumps(_data_summary(data), indent=1))
    aug = build_augment(cfg.augment).to(device)
    weights = class_weights(data.train).to(device) if cfg.balance == "weights" else None
    teacher = load_teacher(cfg, classes, device)
    for epoch in range(start, cfg.epochs):
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # augmentation RNG from (seed, epoch): resume is exact
        order = epoch_order(data, cfg, epoch, info)
        t0 = time.perf_counter()
        stats = train_one_epoch(
            wrapped, optimizer, scheduler, data, order, aug, cfg, device, weights, progress, teacher
        )
        stats = {k: all_reduce_mean(v, info, device) for k, v in stats.items()}
        stats.update(validate(model, data.val, device) if len(data.val) else {"val_acc": stats["train_acc"]})
        stats.update(epoch=epoch, lr=scheduler.get_last_lr()[0], seconds=time.perf_counter() - t0)
        history.append(stats)
        if info.main:
            if stats["val_acc"] > best:
                best = stats["val_acc"]
                save_model_file(_model_file(model, cfg, classes, {"best_epoch": epoch, **stats}), out / "best.ferkit")
            atomic_torch_save(
                {
                    "model": model.state_dict(),
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
        _finish(out, data, device)
    return out / "model.ferkit"


def _data_summary(data: Data) -> dict:
    """What training used: faces per source and split, and what fusion dropped and why."""
    return {
        "classes": list(data.train.taxonomy.classes),
        "train": {n: int((data.train.source == k).sum()) for k, n in enumerate(data.train.names)},
        "val": {n: int((data.val.source == k).sum()) for k, n in enumerate(data.val.names)},
        "samples_per_epoch": len(data.faces),
        "faces_with_several_labels": int(((data.faces >= 0).sum(1) > 1).sum()),
        "dropped": data.train.dropped,
    }


def _model_file(model: nn.Module, cfg: TrainConfig, classes: list[str], metrics: dict) -> ModelFile:
    return ModelFile(
        arch=cfg.model.name,
        arch_kwargs=dict(cfg.model.kwargs),
        classes=classes,
        preprocessing=Preprocessing(),
        temperature=1.0,
        config=to_dict(cfg),
        metrics={"train": metrics},
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    )


def _load_state(path: Path, cfg: TrainConfig) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelFileError(f"{path}: cannot resume, checkpoint unreadable ({type(e).__name__}: {e})") from None
    saved, now = _with_defaults(state.get("config", {}), to_dict(TrainConfig())), to_dict(cfg)
    diff = sorted(k for k in set(saved) | set(now) if k != "epochs" and saved.get(k) != now.get(k))
    if diff:
        raise ConfigError(f"{path}: cannot resume with a different config (differs in: {', '.join(diff)})")
    return state


def _with_defaults(saved: dict, defaults: dict) -> dict:
    """A saved config with the keys it predates filled in with their defaults (a run saved before a key existed
    resumes under a newer ferkit as long as the key keeps its default)."""
    out = dict(defaults)
    for k, v in saved.items():
        out[k] = _with_defaults(v, defaults[k]) if isinstance(v, dict) and isinstance(defaults.get(k), dict) else v
    return out


def _finish(out: Path, data: Data, device: torch.device) -> None:
    """Calibrate the best model's temperature on validation data and write ``model.ferkit`` and the curves."""
    from ferkit.engine.checkpoint import load_model_file
    from ferkit.viz import plot_curves

    mf = load_model_file(out / "best.ferkit")
    if len(data.val):
        model = mf.build().to(device)
        logits = predict_fused(model, data.val, device)
        y = data.val.targets.argmax(1)
        mf.temperature = fit_temperature(logits, y)
        mf.metrics["calibration"] = {"temperature": mf.temperature, "fitted_on": "validation", "n": int(len(y))}
    save_model_file(mf, out / "model.ferkit")
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    plot_curves(history, out / "curves.png")


def _bar(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, leave=False, dynamic_ncols=True)
