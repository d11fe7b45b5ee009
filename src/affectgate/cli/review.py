"""``affectgate review list | sign``: the compliance officer's sign-off from the command line.

The signer is authenticated against the same hashed-credentials file as the dashboard
(``AFFECTGATE_DASHBOARD_CREDENTIALS``, bcrypt): the role comes from that file, never from a flag, and
:func:`affectgate.oversight.signoff.sign_off` enforces the rules (compliance-officer role, not the submitter,
a reason, an open item).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from affectgate.core.errors import AffectgateError
from affectgate.project.settings import Settings, get_settings

app = typer.Typer(help="Human review: list items awaiting sign-off, approve or reject one.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 200)
#: Least to most privileged, as in the dashboard.
ROLES = ("viewer", "ml-engineer", "compliance-officer")


def authenticate(*, settings: Settings, user: str, password: str) -> str:
    """The user's most privileged role after checking ``password`` against the bcrypt hash in the credentials file."""
    import bcrypt

    from affectgate.oversight.identity import check_credentials_allowed

    check_credentials_allowed(settings=settings)  # outside the demo: no demo users, no default passwords
    path = settings.credentials_file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AffectgateError(f"cannot read the credentials file {path}: {exc}") from None
    entry = (data.get("credentials", {}).get("usernames", {}) or {}).get(user)
    hashed = str((entry or {}).get("password", ""))
    if entry is None or not hashed.startswith("$2") or not bcrypt.checkpw(password.encode(), hashed.encode()):
        raise AffectgateError(f"unknown user or wrong password for {user!r}", fix=f"check the users in {path}")
    ranked = [r for r in ROLES if r in (entry.get("roles") or [])]
    return ranked[-1] if ranked else "viewer"


@app.command("list")
def review_list() -> None:
    """Open review items: run, context, model version, submitter and the reasons."""
    from affectgate.oversight.queue import review_items

    try:
        items = review_items(settings=get_settings())
    except AffectgateError as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(3) from None
    if not items:
        console.print("no review items: every decision is allow or block, or already signed off")
        return
    from affectgate.gate.workspace import audit_log
    from affectgate.orchestration.review_flow import waiting_flows

    waiting = waiting_flows(audit_log(get_settings()).events())
    table = Table("context", "model", "submitter", "made by", "reasons", "gate flow", show_lines=True)
    table.add_column("run", no_wrap=True)
    for it in items:
        flow = f"paused, waiting\n{waiting[it.run_id]}" if it.run_id in waiting else "not waiting"
        table.add_row(
            it.context_id,
            f"{it.model} v{it.version}",
            f"{it.submitter or '?'} ({it.submitter_kind or '?'})",
            "\n".join(f"{k}: {v}" for k, v in (("trained", it.trained_by), ("exported", it.exported_by)) if v) or "?",
            "\n".join(it.reasons),
            flow,
            it.run_id,
        )
    console.print(table)


@app.command("sign")
def review_sign(
    run: Annotated[str, typer.Option(help="Run id of the reviewed decision (see `affectgate review list`).")],
    context: Annotated[str, typer.Option(help="Deployment context id of the decision.")],
    decision: Annotated[str, typer.Option(help="approve or reject.")],
    reason: Annotated[str, typer.Option(help="Why (mandatory; written into the audit log).")],
    user: Annotated[str, typer.Option(help="Your user name in the credentials file.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Your password (prompted).")],
) -> None:
    """Approve (moves the context alias to the version) or reject (alias stays) one review item."""
    from affectgate.oversight.signoff import sign_off

    settings = get_settings()
    if decision not in ("approve", "reject"):
        console.print("[bold red]error:[/] --decision must be approve or reject")
        raise typer.Exit(3)
    try:
        role = authenticate(settings=settings, user=user, password=password)
        done = sign_off(
            settings=settings,
            run_id=run,
            context_id=context,
            approver=user,
            role=role,
            decision=decision,  # type: ignore[arg-type]
            reason=reason,
        )
    except AffectgateError as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(3) from None
    moved = f"; alias {context} -> v{done.version}" if done.alias_moved else "; alias unchanged"
    verb = "approved" if done.decision == "approve" else "rejected"
    console.print(f"{verb} by {done.approver} (audit seq {done.seq}){moved}")
    console.print(f"gate flow: {done.flow}")
