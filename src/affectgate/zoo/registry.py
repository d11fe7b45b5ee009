"""One loud registry of architectures: duplicate names raise, unknown names suggest."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from affectgate.errors import ModelError


@dataclass(frozen=True)
class ArchEntry:
    """A registered architecture: its builder and its technique."""

    name: str
    technique: str
    build: Callable[..., nn.Module]


_ARCHS: dict[str, ArchEntry] = {}


def register_model(name: str, *, technique: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model builder ``build(*, num_classes, **config) -> nn.Module``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} is registered twice")
        _ARCHS[name] = ArchEntry(name=name, technique=technique, build=fn)
        return fn

    return wrap


def get_arch(name: str) -> ArchEntry:
    """The registered architecture, or a ModelError suggesting the closest name."""
    _load_builtins()
    if name not in _ARCHS:
        close = difflib.get_close_matches(name, list(_ARCHS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(_ARCHS))}"
        raise ModelError(f"unknown architecture {name!r}", fix=hint)
    return _ARCHS[name]


def list_archs() -> tuple[ArchEntry, ...]:
    """Every registered architecture, sorted by name."""
    _load_builtins()
    return tuple(_ARCHS[k] for k in sorted(_ARCHS))


def _load_builtins() -> None:
    # Built-ins live in one table: importing the modules registers them.
    from affectgate.zoo.archs import (  # noqa: F401
        av_fusion,
        cnn_gru,
        engagement,
        mae_dfer,
        mobilenet_v2_frame,
        r2plus1d,
        resnet18_frame,
    )
