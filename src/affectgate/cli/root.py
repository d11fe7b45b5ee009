"""The ``affectgate`` Typer app and its --version callback; the command groups attach to it in :mod:`affectgate.cli`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from affectgate import __version__

if TYPE_CHECKING:
    pass
from affectgate.cli.common import console

app = typer.Typer(
    help="affectgate: evaluate, check, decide, promote and audit video emotion models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"affectgate {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """affectgate: evaluate -> check -> decide -> promote (or reject) -> audit."""
