"""Sign-off of a review item (Art. 14 AI Act human oversight): checks, audit events, the alias move, the resume.

:func:`sign_off` enforces separation of duties, appends the sign-off to the audit chain and, on
approval only, moves the context's MLflow alias to the reviewed version (audited as ``alias.moved``).
After the sign-off is recorded, a release-gate flow paused on the run (``affectgate gate
--wait-for-review``) is resumed (:mod:`affectgate.orchestration.review_flow`); it re-reads the sign-off
from the audit log and ends with exit 0 (approved) or 1 (rejected). The open-item check and the audit
events are written under the audit log's writer lock, so two officers signing the same item at once
cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Callable

from affectgate.orchestration.review_flow import resume_waiting_flow
from affectgate.oversight.queue import (
    SIGNOFF_ACTIONS,
    Decision,
    ReviewError,
    SignOff,
    audited_verdict,
    can_sign,
    review_items,
)
from affectgate.project.settings import Settings


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
    the submitter of the run nor whoever trained or exported the model, ``reason`` must be non-empty and
    the item must be open: its verdict is ``review`` in the verified audit log (an audited block is
    refused whatever the run folder says). Appends
    ``signoff.approved`` / ``signoff.rejected`` (payload run_id, context, model, version, reason); on
    approve sets ``alias_for(context_id)`` to the version and appends ``alias.moved``. On reject the
    alias stays where it is.

    The check that the item is open, the sign-off event, the alias move and its event happen under the
    audit log's writer lock (a concurrent second sign-off of the same item finds it closed). Afterwards,
    outside the lock, a gate flow paused on the run is resumed (``SignOff.flow`` says what happened) and
    ``on_signed`` (an extra hook, e.g. a notification) is called with the result.
    """
    from affectgate.gate.workspace import audit_log

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
    result = result.model_copy(update={"flow": resume_waiting_flow(settings=settings, signoff=result)})
    if on_signed is not None:
        on_signed(result)
    return result


def _record_signoff(
    *, settings: Settings, run_id: str, context_id: str, approver: str, role: str, decision: Decision, reason: str
) -> SignOff:
    """The checks and writes of :func:`sign_off`; the caller holds the audit log's writer lock."""
    from affectgate.gate.workspace import audit_log, registry
    from affectgate.registry.mlflow_registry import alias_for

    item = next((i for i in review_items(settings=settings) if i.run_id == run_id and i.context_id == context_id), None)
    verdict = audited_verdict(settings=settings, run_id=run_id, context_id=context_id) if item is None else "review"
    if item is None and verdict in ("block", "allow"):
        raise ReviewError(
            f"sign-off refused: the audited verdict of run {run_id!r} for {context_id!r} is {verdict!r}; only a "
            "'review' outcome can be signed off (a block is overridden by nothing)",
            fix="a blocked release needs a new candidate or a changed context, then a new gate run",
        )
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
            "decision_seq": item.decision_seq,
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
