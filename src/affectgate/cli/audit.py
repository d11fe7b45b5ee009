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
def audit_verify(
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="Trust only this Ed25519 public key (.pub.pem; repeatable): a regulator's own copy, no secret needed.",
        ),
    ] = None,
    export_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--export", help="An earlier `audit export` (any format): its signed head must still be in the log."
        ),
    ] = None,
    no_registry: Annotated[
        bool, typer.Option("--no-registry", help="Do not check the signed heads on the MLflow version tags.")
    ] = False,
) -> None:
    """Verify the audit log: hash chain, Ed25519 signatures, head anchor, and the heads anchored outside it.

    Exit 1 on any edit, deletion, reorder, truncation, event after the last signed head, or rollback (a head
    on an MLflow version tag or in an export that the log no longer reaches); exit 3 when it cannot check.
    """
    from affectgate.audit.export import heads_in_export
    from affectgate.audit.signing import KeyRing, load_public_key
    from affectgate.gate.workspace import audit_log

    settings = get_settings()
    log = audit_log(settings, create_key=False)
    try:
        ring = KeyRing(load_public_key(p) for p in public_key) if public_key else None
        heads: list = []
        for file in export_file or []:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise AffectgateError(
                    f"cannot read the export {file}: {exc}", fix="pass an `audit export` file"
                ) from None
            found = heads_in_export(text, where=f"export {file.name}")
            if not found:
                raise AffectgateError(f"{file} records no signed head", fix="pass a file written by `audit export`")
            heads += found
        registry_note = "registry heads not checked (--no-registry)"
        if not no_registry and _has_registry(settings):
            from affectgate.gate.workspace import registry

            registry_heads = registry(settings).audit_heads()
            heads += registry_heads
            registry_note = f"{len(registry_heads)} signed head(s) on MLflow version tags of {settings.tracking_uri}"
        elif not no_registry:
            registry_note = f"no MLflow store at {settings.tracking_uri}: registry heads not checked"
    except AffectgateError as exc:
        raise fail(exc) from None
    report = log.verify(public_keys=ring, external_heads=heads)
    for note in (*report.notes, registry_note):
        console.print(f"  [dim]{note}[/]", highlight=False)
    if report.ok:
        console.print(f"audit chain OK: {report.n_events} events, head {report.head_digest}")
        raise typer.Exit(0)
    where = f"line {report.first_bad_line}" if report.first_bad_line else f"event {report.first_bad_seq}"
    console.print(f"[bold red]audit chain BROKEN[/]: first bad {where} (event seq {report.first_bad_seq})")
    for p in report.problems:
        console.print(f"  - {p.kind}: {p.message}", highlight=False)
    if any(p.kind == "malformed" and p.line is not None for p in report.problems):
        console.print("a torn last line after a crash: `affectgate audit repair` quarantines it (audited)")
    raise typer.Exit(1)


def _has_registry(settings) -> bool:  # noqa: ANN001 - Settings
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).is_file()
    return True


@audit_app.command("repair")
def audit_repair() -> None:
    """Quarantine a torn final line (a crash mid-append) into a side file and record the repair as an event.

    Only a crash's damage is repaired (an unfinished last line; a head anchor left one event behind);
    anything else is tampering: exit 3, nothing changed.
    """
    from affectgate.gate.workspace import audit_log

    settings = get_settings()
    try:
        event = audit_log(settings).repair(actor=settings.actor)
    except AffectgateError as exc:
        raise fail(exc) from None
    if event is None:
        console.print("nothing to repair: the audit log ends with a complete, signed event")
        raise typer.Exit(0)
    p = event.payload
    if p.get("quarantined_file"):
        console.print(
            f"quarantined the torn line {p['line']} ({p['quarantined_bytes']} bytes, sha256 "
            f"{str(p['quarantined_sha256'])[:16]}…) to {p['quarantined_file']}",
            highlight=False,
        )
    if p.get("reanchored_from_seq") is not None:
        console.print(f"re-signed the head (it lagged at event {p['reanchored_from_seq']})")
    console.print(f"recorded as event {event.seq} ({event.action}); `affectgate audit verify` now passes")


@audit_app.command("rotate-key")
def audit_rotate_key(
    reason: Annotated[str, typer.Option(help="Why the key is rotated (recorded in the rotation event).")] = "scheduled",
) -> None:
    """Replace the Ed25519 signing key: an ``audit.key_rotated`` event signed by the old key names the new one."""
    from affectgate.audit.signing import install_signer, new_signer
    from affectgate.gate.workspace import audit_log

    settings = get_settings()
    try:
        log = audit_log(settings)
        if log.signer is None:
            raise AffectgateError("audit signing is off or its key is unreadable", fix="set AFFECTGATE_AUDIT_SIGNING=1")
        with log.exclusive():
            old, new = log.signer, new_signer()
            # the rotation event first (signed by the old key, naming the new one), then the new key on disk:
            # a crash in between leaves the old key signing, and every event still verifies
            event = log.rotate_key(actor=settings.actor, new=new, reason=reason)
            install_signer(path=settings.audit_signing_key_path, keys_dir=log.keys_dir, new=new, old=old)
    except AffectgateError as exc:
        raise fail(exc) from None
    console.print(
        f"rotated the audit signing key: {event.payload['old_fingerprint']} -> {event.payload['new_fingerprint']} "
        f"(event {event.seq}); the old public key stays in {log.keys_dir}",
        highlight=False,
    )


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
    try:
        events = audit_log(get_settings(), create_key=False).events()
    except AffectgateError as exc:
        raise fail(exc) from None
    for ev in events[-n:]:
        table.add_row(str(ev.seq), ev.time.isoformat(timespec="seconds"), ev.actor, ev.action, ev.subject)
    console.print(table)
