"""Model registry: ``@register_model`` on a builder, ``build_model(name, num_classes=..., **kwargs)`` to make one.

Every model maps (B, 1, 48, 48) float32 grey levels in [0, 1] to (B, num_classes) logits; nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ferkit.errors import ConfigError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a builder under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def head_of(model: nn.Module) -> tuple[str, nn.Linear]:
    """The classifier head of a registered model: its last ``nn.Linear``, with its name in the state dict."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]


class UnknownModelError(ConfigError, KeyError):
    """A model name that is not registered (a ConfigError, and a KeyError as a registry lookup)."""

    __str__ = Exception.__str__  # the message as it is (KeyError would quote it)


def check_model(name: str, key: str = "model") -> None:
    """Raises ``UnknownModelError`` naming ``key``, the name and the known ones, unless ``name`` is registered."""
    if name not in _REGISTRY:
        raise UnknownModelError(f"{key}: unknown model {name!r}; known models: {', '.join(list_models())}")


def build_model(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build a registered model; an unknown name is an ``UnknownModelError`` listing the known ones."""
    check_model(name)
    return _REGISTRY[name](num_classes=num_classes, **kwargs)


from ferkit.models import ensemble, face_resnet, resnet, seed_cnn  # noqa: E402,F401  (registers the models)
