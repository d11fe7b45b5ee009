"""Gate step 4, promote or reject: the context alias moves only on allow; the version is tagged and the outcome audited."""

from __future__ import annotations

from affectgate.core.records import PolicyDecision
from affectgate.gate.results import Evaluation, GateResult, data_notes
from affectgate.gate.workspace import audit_log, registry
from affectgate.project.settings import Settings


# -- step 4: promote or reject --------------------------------------------------------------------
def apply_decision(*, settings: Settings, evaluation: Evaluation, decision: PolicyDecision) -> GateResult:
    """Move the context alias only on allow; tag the version either way; audit the promotion or rejection."""
    log = audit_log(settings)
    reg = registry(settings)
    head = log.head()
    head_digest = head[1] if head else ""
    version = evaluation.version
    promoted = reg.record_decision(version=version, decision=decision, report=evaluation.report, audit_head=head_digest)
    holder = reg.alias_version(name=version.name, context_id=decision.context_id)
    log.append(
        actor=settings.actor,
        action="promotion" if promoted else "rejection",
        subject=f"model:{version.name}/{version.version} context:{decision.context_id}",
        payload={
            "alias": decision.context_id if promoted else None,
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
