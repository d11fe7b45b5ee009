"""The table of architectures and the decorator that fills it (duplicate names raise); lookup is
:mod:`affectgate.zoo.lookup` (unknown names suggest)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn


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


def registered() -> dict[str, ArchEntry]:
    """The architectures registered so far (built-ins register on import, see :mod:`affectgate.zoo.lookup`)."""
    return _ARCHS
