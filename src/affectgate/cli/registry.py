"""``affectgate registry``: context aliases against the audit log (reconcile), registry webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from affectgate.core.errors import AffectgateError
from affectgate.project.settings import get_settings

if TYPE_CHECKING:
    pass
from affectgate.cli.common import console, fail

registry_app = typer.Typer(help="MLflow registry: context aliases against the audit log.", no_args_is_help=True)


@registry_app.command("reconcile")
def registry_reconcile(
    model: Annotated[list[str] | None, typer.Option(help="Only these registered models (repeatable).")] = None,
) -> None:
    """Aliases moved, set or removed outside the gate and sign-off: one finding each; exit 1 when any.

    The check itself is audited (``registry.reconciled`` with the findings), so a hand-moved alias found here
    stays on the record even after someone moves it back. First, like every gate start, it resolves the
    write-ahead alias intents of gates that died mid-promotion and quarantines versions registered without
    affectgate's identity tags (each reported). It refuses (exit 3) to answer from an audit log that does not
    verify.
    """
    from affectgate.gate.workspace import audit_log, registry
    from affectgate.registry.reconcile import reconcile, resolve_intents

    settings = get_settings()
    try:
        log = audit_log(settings)
        reg = registry(settings)
        resolved = resolve_intents(log=log, reg=reg, actor=settings.actor)
        orphans = reg.quarantine_orphans()
        if orphans:
            log.append(
                actor=settings.actor,
                action="registry.quarantined",
                subject=f"registry:{settings.tracking_uri}",
                payload={"versions": [f"{name}/{version}" for name, version in orphans]},
            )
        findings = reconcile(settings=settings, models=model or None)
        log.append(
            actor=settings.actor,
            action="registry.reconciled",
            subject=f"registry:{settings.tracking_uri}",
            payload={
                "findings": [f.model_dump(mode="json") for f in findings],
                "models": model or "all",
                "intents_resolved": [r.model_dump(mode="json") for r in resolved],
                "quarantined": [f"{name}/{version}" for name, version in orphans],
            },
        )
    except AffectgateError as exc:
        raise fail(exc) from None
    for r in resolved:
        what = "the move happened; recorded now" if r.outcome == "completed" else "the move never happened; closed"
        console.print(
            f"resolved write-ahead intent {r.intent_seq} ({r.model} v{r.version} -> {r.context_id}): {what} "
            f"(event {r.seq})",
            highlight=False,
        )
    for name, version in orphans:
        console.print(f"quarantined {name} v{version}: registered without its onnx_sha256 tag", highlight=False)
    if not findings:
        console.print("every context alias is where the gate or a sign-off put it (no findings)")
        raise typer.Exit(0)
    table = Table("finding", "model", "alias (context)", "registry", "audit log", "why")
    for f in findings:
        table.add_row(
            f.kind,
            f.model,
            f.context_id,
            f"v{f.registry_version}" if f.registry_version else "unset",
            f"v{f.audit_version} (event {f.audit_seq})" if f.audit_version else "never moved",
            f.message,
        )
    console.print(table)
    raise typer.Exit(1)


def _webhook_secret(env: str) -> str:
    import os

    secret = os.environ.get(env, "")
    if not secret:
        raise fail(AffectgateError(f"no webhook secret in ${env}", fix=f"export {env}=<a long random string>"))
    return secret


@registry_app.command("webhook")
def registry_webhook(
    url: Annotated[str, typer.Option(help="The receiver's URL (`affectgate registry watch`) as the server sees it.")],
    secret_env: Annotated[str, typer.Option(help="Environment variable holding the shared HMAC secret.")] = (
        "AFFECTGATE_WEBHOOK_SECRET"
    ),
) -> None:
    """Subscribe a receiver to the tracking server's alias webhooks (team mode: `mlflow server` delivers them)."""
    from mlflow.tracking import MlflowClient

    from affectgate.registry.webhooks import register_alias_webhook

    settings = get_settings()
    secret = _webhook_secret(secret_env)
    try:
        client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
        hook = register_alias_webhook(client=client, url=url, secret=secret)
    except Exception as exc:  # the file store has no webhooks; an unreachable server
        raise fail(exc) from None
    console.print(f"webhook {hook}: alias created/deleted events of {settings.tracking_uri} -> {url}")


@registry_app.command("watch")
def registry_watch(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    secret_env: Annotated[str, typer.Option(help="Environment variable holding the shared HMAC secret.")] = (
        "AFFECTGATE_WEBHOOK_SECRET"
    ),
    grace: Annotated[float, typer.Option(help="Seconds to wait for the gate's own audit event of a move.")] = 10.0,
) -> None:
    """Receive alias webhooks: audit each (`registry.webhook`) and flag moves the audit log does not explain."""
    from affectgate.registry.webhooks import serve

    server = serve(settings=get_settings(), host=host, port=port, secret=_webhook_secret(secret_env), grace_s=grace)
    console.print(f"listening on http://{host}:{port}/ for MLflow alias webhooks (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()
