"""A network on its run's validation split: its logits and accuracy per source, and the calibration a run ends with
(gated class offsets folded into the head, a temperature per head, the class mix each head assumes). Training calls
both; ``bench/recalibrate.py`` calibrates a model file whose run folder is gone."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferkit.config import TrainConfig, to_dict
from ferkit.data.fusion import Fused
from ferkit.engine.calibrate import class_offsets, fit_head_temperatures, head_priors, offset_steps, warn_few_faces
from ferkit.engine.checkpoint import ModelFile
from ferkit.heads import head_slices, with_priors, with_temperatures
from ferkit.models import head_of


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
    return val_accuracy(predict_fused(model, val, device), val)


def val_accuracy(logits: np.ndarray, val: Fused) -> dict:
    """Accuracy of ``predict_fused`` logits per source, and their mean."""
    y = val.targets.argmax(1)
    out = {}
    for k, name in enumerate(val.names):
        sel = val.source == k
        if sel.any():
            out[f"val_acc/{name}"] = float((logits[sel].argmax(1) == y[sel]).mean())
    out["val_acc"] = float(np.mean(list(out.values()))) if out else 0.0
    return out


def calibrate_on_validation(
    mf: ModelFile,
    val: Fused,
    kept_heads: int,
    device: torch.device,
    cfg: TrainConfig,
    where: object = "",
    progress: bool = False,
) -> ModelFile:
    """``mf`` calibrated on the validation split ``val`` (``cfg.calibrate``): class offsets (``class_offsets``, gated
    per head by default) folded into the head's bias, then a temperature per head, and the class mix each head's
    probabilities assume; ``metrics.calibration`` records them, ``config.calibrate`` the settings. The first
    ``kept_heads`` heads (``model.keep_heads``) stay exactly as they were. ``where`` names the run in warnings.
    Changes and returns ``mf``."""
    model = mf.build().to(device)
    y = val.targets.argmax(1)
    calibration: dict = {"fitted_on": "validation", "n": int(len(y)), "offset_bags": cfg.calibrate.bags}
    head = head_of(model)[1]
    mode = cfg.calibrate.class_bias if head.bias is not None else False
    offsets = mode is not False
    kept = head_slices(mf.heads)[mf.heads[kept_heads - 1].name].stop if kept_heads else 0
    if offsets and (few := warn_few_faces(y, mf.classes, start=kept, where=where)):  # kept heads' offsets stay 0
        calibration["few_validation_faces"] = few
    steps = bar(2 + offset_steps(mode, len(mf.classes), cfg.calibrate.bags), progress, "calibrate")
    logits = predict_fused(model, val, device)
    steps.update()
    if offsets:
        gated = {n: cols for n, cols in head_slices(mf.heads).items() if cols.start >= kept}
        bias, gate = class_offsets(logits, y, val.source, cfg.calibrate, cfg.seed, gated, steps.update)
        calibration |= gate
        bias[:kept] = 0.0  # kept heads (model.keep_heads) stay exactly as they were
        with torch.no_grad():
            head.bias += torch.from_numpy(bias).to(head.bias)
        mf.state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        calibration["class_bias"] = dict(zip(mf.classes, map(float, bias), strict=True))
        calibration["val_acc_before_bias"] = val_accuracy(logits, val)
        logits = logits + bias  # the model's logits now (the offsets live in its head)
        calibration["val_acc_after_bias"] = val_accuracy(logits, val)
    temps = fit_head_temperatures(logits, y, val.masks, mf.heads)
    mf.heads = with_temperatures(mf.heads, temps)
    mf.heads = with_priors(mf.heads, head_priors(logits, val.masks, mf.heads))  # the class mix they assume
    mf.temperature = mf.heads[0].temperature
    calibration["temperatures"] = temps
    steps.update()
    steps.close()
    mf.metrics["calibration"] = {"temperature": mf.temperature, **calibration}
    mf.config = {**mf.config, "calibrate": to_dict(cfg.calibrate)}  # the settings it was calibrated with, now
    return mf


def bar(total: int, enabled: bool, desc: str):
    """A progress bar (tqdm) that stays silent unless ``enabled``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, leave=False, dynamic_ncols=True)
