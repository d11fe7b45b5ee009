"""Gate step 4, promote or reject: the context alias moves only on allow; the version is tagged and the outcome
audited.
"""

from __future__ import annotations

from affectgate.audit.faults import hit
from affectgate.core.records import PolicyDecision
from affectgate.gate.results import Evaluation, GateResult, data_notes
from affectgate.gate.workspace import audit_log, registry
from affectgate.project.settings import Settings
from affectgate.registry.reconcile import INTENT


# -- step 4: promote or reject --------------------------------------------------------------------
def move_alias_write_ahead(
    *, settings: Settings, subject: str, model: str, version: str, context_id: str, verdict: str, run_id: str
) -> str | None:
    """Move a context alias write-ahead: ``alias.intent``, the move, then ``promotion`` naming the intent.

    All three happen under the audit writers' lock, so a concurrent start's intent resolution
    (:func:`affectgate.registry.reconcile.resolve_intents`) only ever sees the intents of dead processes:
    a kill after the intent leaves an intent that the next start closes from the registry's state, and
    no alias ever holds a version without an audit record of the move. Returns the holder after.
    """
    log = audit_log(settings)
    reg = registry(settings)
    with log.exclusive():
        before = reg.alias_version(name=model, context_id=context_id)
        intent = log.append(
            actor=settings.actor,
            action=INTENT,
            subject=subject,
            payload={
                "model": model,
                "version": version,
                "context": context_id,
                "alias": context_id,
                "from_version": before,
                "verdict": verdict,
                "run_id": run_id,
            },
        )
        hit(settings.fault_point, "alias.intent")
        reg.move_alias(name=model, context_id=context_id, version=version)
        hit(settings.fault_point, "alias.moved")
        holder = reg.alias_version(name=model, context_id=context_id)
        log.append(
            actor=settings.actor,
            action="promotion",
            subject=subject,
            payload={
                "alias": context_id,
                "alias_holder_after": holder,
                "previous_version": before,
                "verdict": verdict,
                "run_id": run_id,
                "intent_seq": intent.seq,
            },
        )
    return holder


def apply_decision(*, settings: Settings, evaluation: Evaluation, decision: PolicyDecision) -> GateResult:
    """Move the context alias only on allow; tag the version either way; audit the promotion or rejection."""
    log = audit_log(settings)
    reg = registry(settings)
    hit(settings.fault_point, "decision.done")
    head = log.head()
    head_digest = head[1] if head else ""
    version = evaluation.version
    subject = f"model:{version.name}/{version.version} context:{decision.context_id}"
    promoted = reg.record_decision(
        version=version,
        decision=decision,
        report=evaluation.report,
        audit_head=head_digest,
        signed_head=log.signed_head(),  # the chain's head anchored outside the log (audit verify checks it)
        move_alias=False,
    )
    if promoted:
        holder = move_alias_write_ahead(
            settings=settings,
            subject=subject,
            model=version.name,
            version=version.version,
            context_id=decision.context_id,
            verdict=decision.verdict,
            run_id=evaluation.report.run_id,
        )
    else:
        holder = reg.alias_version(name=version.name, context_id=decision.context_id)
        log.append(
            actor=settings.actor,
            action="rejection",
            subject=subject,
            payload={
                "alias": None,
                "alias_holder_after": holder,
                "verdict": decision.verdict,
                "run_id": evaluation.report.run_id,
            },
        )
    report = evaluation.report
    metrics = {
        name: (m.value if (m := report.metric(name)) else None)
        for name in (
            "war",
            "uar",
            "fairness.accuracy_max_gap",
            "fairness.error_max_gap",
            "int8.war_drop",
            "int8.attention_mae_increase",
        )
    }
    for name in ("fairness.accuracy_max_gap", "fairness.error_max_gap"):
        gap = report.metric(name)
        metrics[f"{name}.ci_low"] = gap.ci_low if gap else None
        metrics[f"{name}.ci_high"] = gap.ci_high if gap else None
    return GateResult(
        context_id=decision.context_id,
        verdict=decision.verdict,
        promoted=promoted,
        model=version.name,
        version=version.version,
        alias_holder=holder,
        reasons=tuple(f"{o.rule_id} [{o.article}]: {o.message}" for o in decision.reasons),
        reason_rules=tuple(f"{o.rule_id} [{o.article}]" for o in decision.reasons),
        metrics=metrics,
        synthetic_data=report.synthetic_data,
        run_id=report.run_id,
        data_notes=data_notes(report.dataset),
    )
