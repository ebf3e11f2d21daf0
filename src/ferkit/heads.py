"""Classifier heads: one trunk, one head per labelling convention.

Sources that label the same faces differently (FER-2013 and FER+ disagree on 37% of shared faces) train separate
heads, so neither convention drags the other toward a compromise. A model's logits are its heads' logits side by
side, in head order: a multi-head model is still a module that maps faces to one (B, C) tensor, and a head is a
named slice of it with its own classes. Single-head models have one head, named ``default``.

Torch-free: the model file, the ONNX metadata and the predictor all share this description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

DEFAULT = "default"  # the name of the only head of a single-head model
SEP = "/"  # column names of multi-head models: "<head>/<class>"


@dataclass(frozen=True)
class Head:
    """One classifier head.

    Attributes:
        name: how users pick it (``--head``, ``Predictor(head=...)``).
        classes: its class names, in logit order.
        sources: names of the sources whose labels trained it (the convention it follows).
        temperature: its calibrated softmax temperature.
        prior: the class mix its calibrated probabilities assume, in class order: their mean over the validation
            faces of its own sources (``ferkit.engine.calibrate.head_priors``); empty in files made before ferkit
            recorded it. ``prior_weights`` moves the probabilities to another class mix.
    """

    name: str
    classes: tuple[str, ...]
    sources: tuple[str, ...] = ()
    temperature: float = 1.0
    prior: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "classes": list(self.classes),
            "sources": list(self.sources),
            "temperature": float(self.temperature),
        }
        return {**d, "prior": [float(p) for p in self.prior]} if self.prior else d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Head:
        return cls(
            name=str(d["name"]),
            classes=tuple(d["classes"]),
            sources=tuple(d.get("sources", ())),
            temperature=float(d.get("temperature", 1.0)),
            prior=tuple(float(p) for p in d.get("prior", ())),
        )


def column_names(heads: Sequence[Head]) -> list[str]:
    """The names of a model's logit columns: the classes for one head, ``head/class`` for several."""
    if len(heads) == 1:
        return list(heads[0].classes)
    return [f"{h.name}{SEP}{c}" for h in heads for c in h.classes]


def head_slices(heads: Sequence[Head]) -> dict[str, slice]:
    """Each head's columns in the model's logits."""
    out, start = {}, 0
    for h in heads:
        out[h.name] = slice(start, start + len(h.classes))
        start += len(h.classes)
    return out


def pick_head(heads: Sequence[Head], name: str | None = None) -> tuple[Head, slice]:
    """The head called ``name`` (None: the default, which is the first) and its columns.

    Raises:
        KeyError: no head has that name; the message lists the heads.
    """
    if not heads:
        raise KeyError("the model has no heads")
    if name is None:
        return heads[0], head_slices(heads)[heads[0].name]
    for h in heads:
        if h.name == name:
            return h, head_slices(heads)[name]
    raise KeyError(f"no head {name!r}; the model's heads: {', '.join(h.name for h in heads)}")


def head_for_source(heads: Sequence[Head], source: str) -> Head:
    """The head that follows a source's labelling convention: the one it trained, else the default head.

    Fusion names a source that appears twice ``name#0``, ``name#1``; either matches ``name``.
    """
    return next((h for h in heads if source in {s.split("#")[0] for s in h.sources} | set(h.sources)), heads[0])


def match_columns(dst: Sequence[Head], src: Sequence[Head]) -> list[int]:
    """For each logit column of a model with heads ``dst``, the column of a model with heads ``src`` that predicts
    the same class under the same convention, or -1.

    A column matches the same class in the ``src`` head of the same name; failing that, the same class in the
    ``src`` head that shares a training source; failing that, in the ``src`` default head. So a single-head model
    can start (or teach) every head of a multi-head one.
    """
    slices = head_slices(src)
    out = []
    for h in dst:
        same = [s for s in src if s.name == h.name]
        shared = [s for s in src if set(s.sources) & set(h.sources)]
        order = same + shared + [src[0]]
        for c in h.classes:
            col = -1
            for s in order:
                if c in s.classes:
                    col = slices[s.name].start + s.classes.index(c)
                    break
            out.append(col)
    return out


def with_temperatures(heads: Sequence[Head], temperatures: dict[str, float]) -> list[Head]:
    """The heads with the given temperatures set (heads not named keep theirs)."""
    return [replace(h, temperature=float(temperatures.get(h.name, h.temperature))) for h in heads]


def with_priors(heads: Sequence[Head], priors: dict[str, Sequence[float]]) -> list[Head]:
    """The heads with the given priors set (heads not named keep theirs)."""
    return [replace(h, prior=tuple(float(p) for p in priors.get(h.name, h.prior))) for h in heads]


Prior = Mapping[str, float] | str  # a class mix by class name, or "balanced"


def prior_weights(head: Head, prior: Prior) -> list[float]:
    """Per-class factors that move a head's probabilities from the class mix it assumes (``Head.prior``) to the
    class mix ``prior`` (Saerens et al. 2002): multiply, then renormalise each row.

    ``prior`` is ``"balanced"`` (every class equally likely: rare classes such as contempt are called far more
    often, at lower precision) or shares by class name; classes it does not name keep the head's own share, and the
    shares are renormalised, so ``{"contempt": 0.05}`` says "contempt is 5% of my faces, the rest as trained".

    Raises:
        ValueError: the head records no prior, an unknown class or a share that is not a positive number.
    """
    if not head.prior:
        raise ValueError(f"head {head.name!r} records no class prior (a model file from before ferkit recorded it); "
                         "recalibrate it with `ferkit train --config CONFIG --resume` on its run folder")  # fmt: skip
    own = [max(p, 1e-6) for p in head.prior]
    if isinstance(prior, str):
        if prior != "balanced":
            raise ValueError(f"prior must be 'balanced' or shares by class name, got {prior!r}")
        return [1.0 / p for p in own]
    unknown = sorted(set(prior) - set(head.classes))
    if unknown:
        raise ValueError(f"prior: unknown class {unknown[0]!r}; head {head.name!r} has {list(head.classes)}")
    shares = {c: _share(c, v) for c, v in prior.items()}
    given = sum(shares.values())
    rest = sum(p for c, p in zip(head.classes, own, strict=True) if c not in shares)
    if given >= 1.0 and rest > 0:
        raise ValueError(f"prior: the shares given sum to {given:g}; with classes left at their own share, "
                         "they must sum to less than 1 (or name every class)")  # fmt: skip
    scale = (1.0 - given) / rest if rest > 0 else 0.0
    target = [shares[c] if c in shares else p * scale for c, p in zip(head.classes, own, strict=True)]
    total = sum(target)
    return [t / total / p for t, p in zip(target, own, strict=True)]


def _share(name: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not 0.0 < v < float("inf"):
        raise ValueError(f"prior: the share of {name!r} must be a positive number, got {value!r}")
    return v
