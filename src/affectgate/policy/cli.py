"""``affectgate policy check | explain | lint``."""

from __future__ import annotations

import typer

app = typer.Typer(help="Policy packs and deployment contexts: check, explain, lint.", no_args_is_help=True)
