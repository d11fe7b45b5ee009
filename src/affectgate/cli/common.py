"""What every command module shares: the consoles and the one way a user's error ends a command (exit 3, no
traceback).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

from affectgate.gate.results import EXIT_ERROR

# Wide output when piped (CI logs, `make demo | tee`): rich would otherwise squeeze tables to 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


def print_error(exc: BaseException | str) -> None:
    """``error: <what> — fix: <fix>`` on stderr (the message printed as text: brackets in it are not markup)."""
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)


def fail(exc: Exception) -> typer.Exit:
    """Print a user's error and return the exit (code 3) that ends the command: ``raise fail(exc) from None``."""
    print_error(exc)
    err_console.print("nothing was promoted (exit 3)", style="dim")
    return typer.Exit(EXIT_ERROR)


#: ``--face-detector``: the same option on every command that screens faces (gate, evaluate, data validate).
FaceDetectorOption = Annotated[
    Literal["mtcnn", "haar"] | None,
    typer.Option(
        "--face-detector",
        help="Face detector for sets that are not face crops: mtcnn (the default, setting face_detector) or haar "
        "(OpenCV's cascade, for comparison). The screening records which detector produced each crop.",
    ),
]


def use_setting(name: str, value: str | None) -> None:
    """Make ``value`` this run's setting ``name`` (``AFFECTGATE_<NAME>``; the Prefect flow reads the settings
    again, so a command-line override must reach the environment). ``None`` leaves the setting as it is."""
    if value is None:
        return
    from affectgate.project.settings import get_settings

    os.environ[f"AFFECTGATE_{name.upper()}"] = value
    get_settings.cache_clear()
