"""Reconcile the MLflow registry's context aliases with the audit log; answer "who held this alias at time T".

Only the gate (``promotion``) and a compliance officer's approval (``alias.moved``) move a context alias,
and both append an audit event naming the version. An alias whose registry holder differs from the
holder that the audit log's last such event names was moved (or set, or removed) outside affectgate:
:func:`reconcile` reports it as a :class:`Finding`. The audit log is the history; the registry only
knows the present, so :func:`alias_history` and :func:`alias_at` read the log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, NamedTuple

from pydantic import Field

from affectgate.audit import AuditEvent, AuditLog
from affectgate.core.errors import RegistryError
from affectgate.core.records import Record
from affectgate.project.settings import Settings
from affectgate.registry.mlflow_registry import MlflowRegistry

#: Audit actions that move a context alias to the version they name.
ALIAS_MOVES: tuple[str, ...] = ("promotion", "alias.moved")
#: Write-ahead: the gate records the alias move it is about to make, then makes it, then confirms it
#: (``promotion`` with ``intent_seq``). An intent without a confirmation is resolved at the next start.
INTENT = "alias.intent"
#: An intent whose move never happened (the alias does not hold the version): closed, nothing moved.
INTENT_ABANDONED = "alias.intent.abandoned"

_SUBJECT = re.compile(r"^model:(?P<ref>\S+) context:(?P<ctx>\S+)$")

FindingKind = Literal["moved_outside_gate", "set_outside_gate", "removed_outside_gate"]


class Finding(Record):
    """An alias whose registry state does not match what the audit log says the gate did."""

    kind: FindingKind = Field(
        description="moved_outside_gate: another version holds it; set_outside_gate: the audit log never moved it;"
        " removed_outside_gate: the audit log moved it but the registry has no such alias."
    )
    model: str = Field(description="Registered model name.")
    context_id: str = Field(description="Deployment context (= alias name).")
    registry_version: str | None = Field(description="Version holding the alias in the registry now (None: unset).")
    audit_version: str | None = Field(description="Version the audit log's last alias move names (None: never moved).")
    audit_seq: int | None = Field(description="Sequence number of that audit event.")
    message: str = Field(description="One-line explanation for a compliance officer.")


class AliasChange(NamedTuple):
    """One audited alias move: when, to which version, by which audit event."""

    time: datetime
    version: str
    seq: int


def _move_of(event: AuditEvent) -> tuple[str, str, str] | None:
    """(model, context, version) of an alias-moving event, or None for any other event."""
    if event.action not in ALIAS_MOVES:
        return None
    match = _SUBJECT.match(event.subject)
    if match is None or "/" not in match["ref"]:
        return None
    model, version = match["ref"].rsplit("/", 1)
    ctx = match["ctx"]
    payload = event.payload
    if event.action == "promotion":
        if payload.get("alias") is None:
            return None  # a promotion event without an alias moved nothing
        ctx = str(payload.get("alias"))
    else:
        model = str(payload.get("model") or model)
        version = str(payload.get("version") or version)
        ctx = str(payload.get("context") or ctx)
    return model, ctx, version


def _changes(events: Sequence[AuditEvent]) -> dict[tuple[str, str], list[AliasChange]]:
    out: dict[tuple[str, str], list[AliasChange]] = {}
    for ev in events:
        move = _move_of(ev)
        if move is not None:
            model, ctx, version = move
            out.setdefault((model, ctx), []).append(AliasChange(time=ev.time, version=version, seq=ev.seq))
    return out


def _events(settings: Settings) -> list[AuditEvent]:
    """The workspace log's events; AuditError (no answer) when the log does not verify."""
    from affectgate.gate.workspace import audit_log

    return audit_log(settings).events()


class Resolution(Record):
    """What the resolution of one pending write-ahead intent found and recorded."""

    intent_seq: int = Field(description="Sequence number of the unconfirmed alias.intent event.")
    model: str = Field(description="Registered model name.")
    context_id: str = Field(description="Deployment context (= alias name).")
    version: str = Field(description="Version the intent meant to move the alias to.")
    outcome: Literal["completed", "abandoned"] = Field(
        description="completed: the alias holds the version (the move happened, its confirmation was lost; a "
        "promotion event now records it); abandoned: it does not (the move never happened; nothing moved)."
    )
    seq: int = Field(description="Sequence number of the event that closed the intent.")


def pending_intents(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """``alias.intent`` events that no later event confirms or closes (by ``intent_seq``), oldest first."""
    closed = {ev.payload.get("intent_seq") for ev in events if ev.action != INTENT}
    return [ev for ev in events if ev.action == INTENT and ev.seq not in closed]


def resolve_intents(*, log: AuditLog, reg: MlflowRegistry, actor: str) -> list[Resolution]:
    """Close every pending alias intent from the registry's state, under the audit writers' lock.

    The gate holds that lock from an intent to its confirmation, so an intent seen here pending belongs
    to a process that died: if the alias holds the intended version the move is recorded now
    (``promotion``, ``recovered_from_intent``), otherwise the intent is closed as ``alias.intent.abandoned``.
    Either way no alias holds a version that the audit log does not name. Refuses (AuditError) on a log
    that does not verify.
    """
    out: list[Resolution] = []
    with log.exclusive():
        for intent in pending_intents(log.events()):
            p = intent.payload
            model, ctx, version = str(p.get("model")), str(p.get("context")), str(p.get("version"))
            holder = reg.alias_version(name=model, context_id=ctx)
            subject = f"model:{model}/{version} context:{ctx}"
            if holder == version:
                event = log.append(
                    actor=actor,
                    action="promotion",
                    subject=subject,
                    payload={
                        "alias": ctx,
                        "alias_holder_after": holder,
                        "verdict": p.get("verdict"),
                        "run_id": p.get("run_id"),
                        "intent_seq": intent.seq,
                        "recovered_from_intent": True,
                    },
                )
                outcome: Literal["completed", "abandoned"] = "completed"
            else:
                event = log.append(
                    actor=actor,
                    action=INTENT_ABANDONED,
                    subject=subject,
                    payload={"intent_seq": intent.seq, "alias_holder": holder, "run_id": p.get("run_id")},
                )
                outcome = "abandoned"
            out.append(
                Resolution(
                    intent_seq=intent.seq, model=model, context_id=ctx, version=version, outcome=outcome, seq=event.seq
                )
            )
    return out


def alias_history(*, settings: Settings, model: str, context_id: str) -> list[AliasChange]:
    """Every audited move of ``context_id``'s alias on ``model``, oldest first: (time, version, audit seq)."""
    return _changes(_events(settings)).get((model, context_id), [])


def alias_at(*, settings: Settings, model: str, context_id: str, when: datetime) -> str | None:
    """The version that held the context's alias at ``when`` according to the audit log (None: none yet).

    A move at exactly ``when`` counts as done. ``when`` must be timezone-aware.
    """
    if when.tzinfo is None:
        raise RegistryError(f"alias_at needs a timezone-aware time, got {when.isoformat()}", fix="pass a UTC datetime")
    holder = None
    for change in alias_history(settings=settings, model=model, context_id=context_id):
        if change.time <= when:
            holder = change.version
        else:
            break
    return holder


def registry_aliases(*, settings: Settings) -> dict[tuple[str, str], str]:
    """{(model, alias): version} of every registered model in the workspace's MLflow registry."""
    reg = MlflowRegistry(tracking_uri=settings.tracking_uri, artifact_root=settings.artifact_root)
    out: dict[tuple[str, str], str] = {}
    try:
        token = None
        while True:
            page = reg.client.search_registered_models(max_results=100, page_token=token)
            for model in page:
                for alias, version in (model.aliases or {}).items():
                    out[(model.name, alias)] = str(version)
            token = page.token
            if not token:
                break
    except Exception as exc:
        raise RegistryError(
            f"cannot list the registered models of {settings.tracking_uri}: {str(exc).splitlines()[0][:200]}",
            fix="check the tracking store (AFFECTGATE_MLFLOW_TRACKING_URI)",
        ) from None
    return out


def reconcile(*, settings: Settings, models: Sequence[str] | None = None) -> list[Finding]:
    """Compare every registered model's aliases with the audit log's last alias move per (model, context).

    ``models`` limits the check to those names (default: every model in the registry or the audit log).
    Returns one :class:`Finding` per mismatch, sorted by model and context; an empty list means every alias
    is where the gate or a sign-off put it.
    """
    current = registry_aliases(settings=settings)
    audited = {key: changes[-1] for key, changes in _changes(_events(settings)).items()}
    keep = set(models) if models is not None else None
    findings: list[Finding] = []
    for model, ctx in sorted(set(current) | set(audited)):
        if keep is not None and model not in keep:
            continue
        now = current.get((model, ctx))
        last = audited.get((model, ctx))
        if last is None and now is not None:
            findings.append(
                Finding(
                    kind="set_outside_gate",
                    model=model,
                    context_id=ctx,
                    registry_version=now,
                    audit_version=None,
                    audit_seq=None,
                    message=f"alias {ctx!r} of {model} points at v{now} but no audit event ever moved it",
                )
            )
        elif last is not None and now is None:
            findings.append(
                Finding(
                    kind="removed_outside_gate",
                    model=model,
                    context_id=ctx,
                    registry_version=None,
                    audit_version=last.version,
                    audit_seq=last.seq,
                    message=f"alias {ctx!r} of {model} is gone from the registry; audit event {last.seq} "
                    f"({last.time.isoformat(timespec='seconds')}) moved it to v{last.version}",
                )
            )
        elif last is not None and now != last.version:
            findings.append(
                Finding(
                    kind="moved_outside_gate",
                    model=model,
                    context_id=ctx,
                    registry_version=now,
                    audit_version=last.version,
                    audit_seq=last.seq,
                    message=f"alias {ctx!r} of {model} points at v{now} but audit event {last.seq} "
                    f"({last.time.isoformat(timespec='seconds')}) moved it to v{last.version}: moved by hand",
                )
            )
    return findings
