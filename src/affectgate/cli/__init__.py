"""The ``affectgate`` command line (Typer), one module per command group.

Exit codes of ``gate``: 0 promoted, 1 blocked, 2 review, 3 error. A user's mistake ends in a message
that names what is wrong and how to fix it, never a traceback (:func:`affectgate.cli.common.fail`).
"""

from __future__ import annotations

import sys

from affectgate.cli import audit, cache, data, demo, gate, login, policy, project, registry, review, synth, zoo
from affectgate.cli.common import err_console, print_error
from affectgate.cli.root import app
from affectgate.core.errors import AffectgateError

app.add_typer(synth.data_app, name="data")
data.register(synth.data_app)
app.add_typer(zoo.zoo_app, name="zoo")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(policy.app, name="policy")
app.add_typer(review.app, name="review")
app.add_typer(registry.registry_app, name="registry")
app.add_typer(cache.cache_app, name="cache")
for commands in (gate.commands, demo.commands, project.commands, login.commands):
    app.registered_commands.extend(commands.registered_commands)


def main() -> None:
    """The ``affectgate`` script: the app, with every error a user can meet ending in a message, never a traceback.

    Commands catch what they expect; anything that still escapes is printed as one line with the exit code 3
    (a gate error: nothing promoted). ``AFFECTGATE_DEBUG=1`` shows the traceback of an unexpected error.
    """
    try:
        app()
    except AffectgateError as exc:
        print_error(exc)
        sys.exit(3)
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing was promoted by this command", style="dim")
        sys.exit(130)
    except Exception as exc:
        if _debug():
            raise
        print_error(f"unexpected {type(exc).__name__}: {exc}")
        err_console.print(
            "this is a bug in affectgate, not your input: nothing was promoted. Re-run with AFFECTGATE_DEBUG=1 for "
            "the traceback and report it.",
            style="dim",
        )
        sys.exit(3)


def _debug() -> bool:
    try:
        from affectgate.project.settings import get_settings

        return get_settings().debug
    except Exception:  # noqa: BLE001 - the settings themselves may be what failed
        return False


__all__ = ["app", "main"]
