"""Classifier heads: one trunk, one head per labelling convention.

Sources that label the same faces differently (FER-2013 and FER+ disagree on 37% of shared faces) train separate
heads, so neither convention drags the other toward a compromise. A model's logits are its heads' logits side by
side, in head order: a multi-head model is still a module that maps faces to one (B, C) tensor, and a head is a
named slice of it with its own classes. Single-head models have one head, named ``default``.

Torch-free: the model file, the ONNX metadata and the predictor all share this description.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """

    name: str
    classes: tuple[str, ...]
    sources: tuple[str, ...] = ()
    temperature: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "sources": list(self.sources),
            "temperature": float(self.temperature),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Head:
        return cls(
            name=str(d["name"]),
            classes=tuple(d["classes"]),
            sources=tuple(d.get("sources", ())),
            temperature=float(d.get("temperature", 1.0)),
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
