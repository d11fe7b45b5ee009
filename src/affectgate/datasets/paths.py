"""Path containment: the one check that a path (after symlinks and '..') stays inside a root."""

from __future__ import annotations

from pathlib import Path


def is_outside(*, path: Path, root: Path) -> bool:
    """True when ``path`` resolves outside ``root`` (``root`` itself counts as inside)."""
    resolved, real_root = path.resolve(), root.resolve()
    return resolved != real_root and real_root not in resolved.parents
