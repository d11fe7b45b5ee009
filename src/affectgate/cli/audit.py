"""``affectgate audit``: verify the hash chain, show and export events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from affectgate.core.errors import AffectgateError
from affectgate.project.settings import get_settings

if TYPE_CHECKING:
    pass
from affectgate.cli.common import console, fail

audit_app = typer.Typer(help="Audit log: verify the hash chain, show and export events.", no_args_is_help=True)


# -- audit ---------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Verify the audit log's hash chain; exit 1 on any edit, deletion, reorder or truncation."""
    from affectgate.gate.workspace import audit_log

    settings = get_settings()
    report = audit_log(settings).verify()
    if report.ok:
        console.print(f"audit chain OK: {report.n_events} events, head {report.head_digest}")
        raise typer.Exit(0)
    console.print(f"[bold red]audit chain BROKEN[/]: first bad event seq {report.first_bad_seq}")
    for p in report.problems:
        console.print(f"  - {p.kind}: {p.message}")
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD) or ISO time.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or ISO time.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown, html or jsonl.")] = "markdown",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of printing.")] = None,
) -> None:
    """A report a regulator can read: events, decisions, promotions, sign-offs and the chain's verification."""
    from affectgate.audit.export import audit_export_command

    try:
        res = audit_export_command(settings=get_settings(), start=start, end=end, fmt=fmt, out=out)
    except AffectgateError as exc:
        raise fail(exc) from None
    if out is None:
        print(res.text)
    else:
        console.print(f"wrote {out}")
    raise typer.Exit(0 if res.chain_ok else 1)


@audit_app.command("tail")
def audit_tail(n: Annotated[int, typer.Option("-n", help="Number of events.")] = 10) -> None:
    """Show the last events of the audit log."""
    from affectgate.gate.workspace import audit_log

    table = Table("seq", "time", "actor", "action", "subject")
    for ev in audit_log(get_settings()).events()[-n:]:
        table.add_row(str(ev.seq), ev.time.isoformat(timespec="seconds"), ev.actor, ev.action, ev.subject)
    console.print(table)
