"""Look up registered architectures; the built-ins are one table of modules, imported on first use."""

from __future__ import annotations

import difflib

from affectgate.core.errors import ModelError
from affectgate.zoo.registry import ArchEntry, registered


def get_arch(name: str) -> ArchEntry:
    """The registered architecture, or a ModelError suggesting the closest name."""
    _load_builtins()
    if name not in registered():
        close = difflib.get_close_matches(name, list(registered()), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(registered()))}"
        raise ModelError(f"unknown architecture {name!r}", fix=hint)
    return registered()[name]


def list_archs() -> tuple[ArchEntry, ...]:
    """Every registered architecture, sorted by name."""
    _load_builtins()
    return tuple(registered()[k] for k in sorted(registered()))


def _load_builtins() -> None:
    # Built-ins live in one table: importing the modules registers them.
    from affectgate.zoo.archs import (  # noqa: F401
        av_fusion,
        cnn_gru,
        engagement,
        fer_minixception,
        mae_dfer,
        mobilenet_v2_frame,
        r2plus1d,
        resnet18_frame,
    )
