"""Human sign-off of releases the policy sent to review (Art. 14 AI Act human oversight).

A review item exists for every audited decision with verdict ``review`` that has no sign-off yet. The
items are derived, never stored: from the verified audit log's ``decision.made`` events (a run folder's
``decision.<context>.json`` only adds details when it matches its event's digest) and the audit
log (``evaluation.started`` names the submitter, ``evaluation.completed`` the registered version,
``signoff.approved`` / ``signoff.rejected`` close an item). :func:`affectgate.oversight.signoff.sign_off`
records a sign-off; this module derives the queue and the sign-offs from the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from affectgate.audit import AuditEvent
from affectgate.core.errors import AffectgateError
from affectgate.core.records import Record
from affectgate.project.settings import Settings

#: Dashboard roles, least to most privileged.
ROLES: tuple[str, ...] = ("viewer", "ml-engineer", "compliance-officer")
#: The only role that may sign off a release.
SIGNOFF_ROLE = "compliance-officer"
SIGNOFF_ACTIONS = {"approve": "signoff.approved", "reject": "signoff.rejected"}

Decision = Literal["approve", "reject"]


class ReviewError(AffectgateError):
    """A sign-off that is not allowed: wrong role, the submitter approving, no reason, no such open item."""


class ReviewItem(Record):
    """A decision with verdict ``review`` awaiting a compliance officer's sign-off."""

    run_id: str = Field(description="Run folder (evaluation) the decision was taken on.")
    context_id: str = Field(description="Deployment context the decision is for.")
    model: str | None = Field(description="Registered model name (None when the audit log does not name it).")
    version: str | None = Field(description="Registered model version evaluated in the run.")
    submitter: str | None = Field(description="Actor of the run's evaluation.started audit event.")
    as_of: date = Field(description="Date the rules were evaluated for.")
    reasons: tuple[str, ...] = Field(description="'rule_id (article): message' of every failed or errored rule.")
    created: datetime = Field(description="When the evaluation report was written.")
    synthetic_data: bool = Field(description="The evidence comes from synthetic data.")
    submitter_kind: str | None = Field(default=None, description="human or service (as the gate established it).")
    trained_by: str | None = Field(default=None, description="Who trained the model (lineage in the audit event).")
    exported_by: str | None = Field(default=None, description="Who exported the model (lineage in the audit event).")
    decision_seq: int | None = Field(default=None, description="Audit seq of the decision.made event behind the item.")


class SignOff(Record):
    """A recorded sign-off (one audit event ``signoff.approved`` / ``signoff.rejected``)."""

    seq: int = Field(description="Audit sequence number of the sign-off event.")
    time: datetime = Field(description="When it was signed (UTC).")
    run_id: str = Field(description="Run the reviewed decision was taken on.")
    context_id: str = Field(description="Deployment context.")
    model: str | None = Field(description="Registered model name.")
    version: str | None = Field(description="Registered model version.")
    approver: str = Field(description="Who signed.")
    decision: Decision = Field(description="approve or reject.")
    reason: str = Field(description="The mandatory reason given.")
    alias_moved: bool = Field(default=False, description="True when the context alias was moved to the version.")
    flow: str = Field(default="", description="What happened to a gate flow paused on this run (resumed, none...).")


def _signoffs_from_events(events: Sequence[AuditEvent]) -> list[SignOff]:
    out: list[SignOff] = []
    by_action = {v: k for k, v in SIGNOFF_ACTIONS.items()}
    moved = {
        (e.payload.get("run_id"), e.payload.get("context"))
        for e in events
        if e.action == "alias.moved" and e.payload.get("reason") == "signoff.approved"
    }
    for e in events:
        if e.action not in by_action:
            continue
        p = e.payload
        run_id, ctx = str(p.get("run_id", "")), str(p.get("context", ""))
        out.append(
            SignOff(
                seq=e.seq,
                time=e.time,
                run_id=run_id,
                context_id=ctx,
                model=None if p.get("model") is None else str(p.get("model")),
                version=None if p.get("version") is None else str(p.get("version")),
                approver=e.actor,
                decision=by_action[e.action],  # type: ignore[arg-type]
                reason=str(p.get("reason", "")),
                alias_moved=(run_id, ctx) in moved,
            )
        )
    return out


def signoffs(*, settings: Settings) -> list[SignOff]:
    """Every recorded sign-off, oldest first."""
    from affectgate.gate.workspace import audit_log

    if not settings.audit_path.is_file():
        return []
    return _signoffs_from_events(audit_log(settings).events())


def review_items(*, settings: Settings) -> list[ReviewItem]:
    """Open review items: audited ``review`` decisions with no sign-off, newest run first.

    The verdict comes from the verified audit log's ``decision.made`` event, never from the run folder's
    file (:func:`affectgate.gate.runs.list_runs`); a log that does not verify is a ReviewError.
    """
    from affectgate.gate.runs import audited_decisions, list_runs, run_audit_index, verified_events

    events, problem = verified_events(settings=settings)
    if problem is not None:
        raise ReviewError(
            f"the audit log does not verify ({problem}): no review item can be trusted",
            fix="run `affectgate audit verify` and restore the log; nothing can be signed off meanwhile",
        )
    runs = list_runs(settings=settings, events=events)
    if not runs:
        return []
    signed = {(s.run_id, s.context_id) for s in _signoffs_from_events(events)}
    index = run_audit_index(events=events)
    audited = audited_decisions(events=events)
    items: list[ReviewItem] = []
    for run in runs:
        info = index.get(run.report.run_id)
        for d in run.decisions:
            event = audited.get((run.report.run_id, d.context_id))
            if event is None or event.verdict != "review" or d.verdict != "review":
                continue
            if (run.report.run_id, d.context_id) in signed:
                continue
            items.append(
                ReviewItem(
                    run_id=run.report.run_id,
                    context_id=d.context_id,
                    model=info.model if info else None,
                    version=info.version if info else None,
                    submitter=info.submitter if info else None,
                    as_of=d.as_of,
                    reasons=tuple(f"{o.rule_id} ({o.article}): {o.message}" for o in d.reasons),
                    created=run.report.created,
                    synthetic_data=run.report.synthetic_data,
                    submitter_kind=info.submitter_kind if info else None,
                    trained_by=info.trained_by if info else None,
                    exported_by=info.exported_by if info else None,
                    decision_seq=event.seq,
                )
            )
    return items


def audited_verdict(*, settings: Settings, run_id: str, context_id: str) -> str | None:
    """The verdict the verified audit log records for (run, context), or None (unknown, or the log does not verify)."""
    from affectgate.gate.runs import audited_decisions, verified_events

    events, problem = verified_events(settings=settings)
    if problem is not None:
        return None
    found = audited_decisions(events=events).get((run_id, context_id))
    return None if found is None else found.verdict


def can_sign(*, item: ReviewItem, user: str, role: str) -> tuple[bool, str]:
    """Whether ``user`` with ``role`` may sign this item off, and why not (empty when allowed).

    Separation of duties: the signer is neither the run's submitter nor whoever trained or exported the
    model (its lineage, recorded in the run's ``evaluation.started`` event).
    """
    if role != SIGNOFF_ROLE:
        return False, f"only the {SIGNOFF_ROLE} role may sign off releases (you are {role!r})"
    if item.submitter is not None and user == item.submitter:
        return False, f"{user!r} submitted this evaluation; another compliance officer must sign it off"
    if item.trained_by is not None and user == item.trained_by:
        return False, f"{user!r} trained this model; another compliance officer must sign it off"
    if item.exported_by is not None and user == item.exported_by:
        return False, f"{user!r} exported this model; another compliance officer must sign it off"
    return True, ""
