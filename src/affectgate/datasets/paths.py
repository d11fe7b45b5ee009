"""Path containment: the one check that a path (after symlinks and '..') stays inside a root."""

from __future__ import annotations

import os
from pathlib import Path


def is_outside(*, path: Path, root: Path) -> bool:
    """True when ``path`` resolves outside ``root`` (``root`` itself counts as inside)."""
    resolved, real_root = path.resolve(), root.resolve()
    return resolved != real_root and real_root not in resolved.parents


def escaping_entry(*, folder: Path, root: Path) -> Path | None:
    """The first entry of ``folder`` (any name or extension) that resolves outside ``root``, else None.

    Every entry counts, not only the frame extensions a reader is known to pick up today: a reader
    that learns a new suffix must not learn a way out of the data root with it.
    """
    real_root = root.resolve()
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_symlink() and is_outside(path=Path(entry.path), root=real_root):
                return Path(entry.path)
    return None
