"""``affectgate data validate`` and ``affectgate data status`` (registered on the ``data`` sub-app by cli.py)."""

from __future__ import annotations

import typer


def register(data_app: typer.Typer) -> None:
    """Add the dataset governance commands to ``data_app``."""
