"""What every command module shares: the consoles and the one way a user's error ends a command (exit 3, no traceback)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from affectgate.gate.results import EXIT_ERROR

if TYPE_CHECKING:
    pass

# Wide output when piped (CI logs, `make demo | tee`): rich would otherwise squeeze tables to 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


def fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    err_console.print("nothing was promoted (exit 3)", style="dim")
    return typer.Exit(EXIT_ERROR)
