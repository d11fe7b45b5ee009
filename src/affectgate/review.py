"""Human sign-off of releases the policy sent to review (Art. 14 AI Act human oversight).

A review item exists for every stored decision with verdict ``review`` that has no sign-off yet. The
items are derived, never stored: from the run folders' ``decision.<context>.json`` files and the audit
log (``evaluation.started`` names the submitter, ``evaluation.completed`` the registered version,
``signoff.approved`` / ``signoff.rejected`` close an item). :func:`sign_off` enforces separation of
duties, appends the sign-off to the audit chain and, on approval only, moves the context's MLflow alias
to the reviewed version (audited as ``alias.moved``).

After the sign-off is recorded, a release-gate flow paused on the run (``affectgate gate
--wait-for-review``) is resumed (:mod:`affectgate.review_flow`); it re-reads the sign-off from the audit
log and ends with exit 0 (approved) or 1 (rejected). The open-item check and the audit events are written
under the audit log's writer lock, so two officers signing the same item at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from affectgate.audit import AuditEvent
from affectgate.errors import AffectgateError
from affectgate.records import Record
from affectgate.settings import Settings

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
    from affectgate.pipeline import audit_log

    if not settings.audit_path.is_file():
        return []
    return _signoffs_from_events(audit_log(settings).events())


def review_items(*, settings: Settings) -> list[ReviewItem]:
    """Open review items: decisions with verdict ``review`` and no sign-off, newest run first."""
    from affectgate.pipeline import audit_log
    from affectgate.store import list_runs, run_audit_index

    runs = list_runs(settings=settings)
    if not runs:
        return []
    events = audit_log(settings).events() if settings.audit_path.is_file() else []
    signed = {(s.run_id, s.context_id) for s in _signoffs_from_events(events)}
    index = run_audit_index(events=events)
    items: list[ReviewItem] = []
    for run in runs:
        info = index.get(run.report.run_id)
        for d in run.decisions:
            if d.verdict != "review" or (run.report.run_id, d.context_id) in signed:
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
                )
            )
    return items


def can_sign(*, item: ReviewItem, user: str, role: str) -> tuple[bool, str]:
    """Whether ``user`` with ``role`` may sign this item off, and why not (empty when allowed)."""
    if role != SIGNOFF_ROLE:
        return False, f"only the {SIGNOFF_ROLE} role may sign off releases (you are {role!r})"
    if item.submitter is not None and user == item.submitter:
        return False, f"{user!r} submitted this evaluation; another compliance officer must sign it off"
    return True, ""


def sign_off(
    *,
    settings: Settings,
    run_id: str,
    context_id: str,
    approver: str,
    role: str,
    decision: Decision,
    reason: str,
    on_signed: Callable[[SignOff], None] | None = None,
) -> SignOff:
    """Sign off one open review item; on approve move the context alias to the reviewed version.

    Enforced here (not only in the UI): ``role`` must be compliance-officer, ``approver`` must not be
    the submitter of the run, ``reason`` must be non-empty and the item must be open. Appends
    ``signoff.approved`` / ``signoff.rejected`` (payload run_id, context, model, version, reason); on
    approve sets ``alias_for(context_id)`` to the version and appends ``alias.moved``. On reject the
    alias stays where it is.

    The check that the item is open, the sign-off event, the alias move and its event happen under the
    audit log's writer lock (a concurrent second sign-off of the same item finds it closed). Afterwards,
    outside the lock, a gate flow paused on the run is resumed (``SignOff.flow`` says what happened) and
    ``on_signed`` (an extra hook, e.g. a notification) is called with the result.
    """
    from affectgate.pipeline import audit_log

    if decision not in SIGNOFF_ACTIONS:
        raise ReviewError(f"unknown sign-off decision {decision!r}", fix="use 'approve' or 'reject'")
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(
            f"a sign-off of {run_id} / {context_id} needs a reason", fix="state why you approve or reject"
        )
    log = audit_log(settings)
    with log.exclusive():
        result = _record_signoff(
            settings=settings,
            run_id=run_id,
            context_id=context_id,
            approver=approver,
            role=role,
            decision=decision,
            reason=reason,
        )
    from affectgate.review_flow import resume_waiting_flow

    result = result.model_copy(update={"flow": resume_waiting_flow(settings=settings, signoff=result)})
    if on_signed is not None:
        on_signed(result)
    return result


def _record_signoff(
    *, settings: Settings, run_id: str, context_id: str, approver: str, role: str, decision: Decision, reason: str
) -> SignOff:
    """The checks and writes of :func:`sign_off`; the caller holds the audit log's writer lock."""
    from affectgate.pipeline import audit_log, registry
    from affectgate.registry.mlflow_registry import alias_for

    item = next((i for i in review_items(settings=settings) if i.run_id == run_id and i.context_id == context_id), None)
    if item is None:
        raise ReviewError(
            f"no open review item for run {run_id!r} and context {context_id!r} (unknown, not 'review', or signed)",
            fix="pick an item from the review queue (dashboard page 'Review queue')",
        )
    allowed, why = can_sign(item=item, user=approver, role=role)
    if not allowed:
        raise ReviewError(f"sign-off refused: {why}", fix="ask a compliance officer who did not submit the run")
    if decision == "approve" and (item.model is None or item.version is None):
        raise ReviewError(
            f"run {run_id} has no registered version in the audit log (no evaluation.completed event)",
            fix="re-run the gate for this model; nothing was promoted",
        )
    log = audit_log(settings)
    subject = f"model:{item.model}/{item.version} context:{context_id}"
    event = log.append(
        actor=approver,
        action=SIGNOFF_ACTIONS[decision],
        subject=subject,
        payload={
            "run_id": run_id,
            "context": context_id,
            "model": item.model,
            "version": item.version,
            "reason": reason,
            "role": role,
            "submitter": item.submitter,
        },
    )
    moved = False
    if decision == "approve":
        assert item.model is not None and item.version is not None  # checked above
        reg = registry(settings)
        before = reg.alias_version(name=item.model, context_id=context_id)
        reg.client.set_registered_model_alias(item.model, alias_for(context_id), item.version)
        moved = True
        log.append(
            actor=approver,
            action="alias.moved",
            subject=subject,
            payload={
                "alias": alias_for(context_id),
                "context": context_id,
                "model": item.model,
                "version": item.version,
                "previous_version": before,
                "run_id": run_id,
                "reason": "signoff.approved",
                "signoff_seq": event.seq,
            },
        )
    return SignOff(
        seq=event.seq,
        time=event.time,
        run_id=run_id,
        context_id=context_id,
        model=item.model,
        version=item.version,
        approver=approver,
        decision=decision,
        reason=reason,
        alias_moved=moved,
    )
