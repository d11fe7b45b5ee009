"""``affectgate init``: write a user project (settings, contexts, overlays, CI workflow)."""

from __future__ import annotations

import typer

commands = typer.Typer()  # top-level commands; attached to the app in affectgate.cli
