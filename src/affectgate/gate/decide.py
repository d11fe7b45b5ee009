"""Gate step 3, decide: the pure policy decision per deployment context (with the regression baseline), audited."""

from __future__ import annotations

from datetime import UTC, date, datetime

from affectgate.audit.chain import sha256_hex
from affectgate.core.records import PolicyDecision
from affectgate.gate.results import Evaluation, GateInputs
from affectgate.gate.workspace import audit_log, registry
from affectgate.policy import decide
from affectgate.policy.schema import Baseline
from affectgate.project.settings import Settings


# -- step 3: decide -------------------------------------------------------------------------------
def regression_baseline(
    *, settings: Settings, evaluation: Evaluation, context_id: str
) -> tuple[Baseline | None, dict[str, float]]:
    """The version holding the context's alias and, when it was evaluated on the same data, the UAR delta.

    The delta (candidate UAR minus holder UAR) is only computed on the same dataset digest: numbers
    from different data are not comparable, so the non-regression rule then errors (human review).
    """
    version = evaluation.version
    reg = registry(settings)
    holder = reg.alias_version(name=version.name, context_id=context_id)
    if holder is None or holder == version.version:
        return None, {}
    baseline = Baseline(name=version.name, version=holder)
    tags = reg.version_tags(name=version.name, version=holder)
    cand_uar = evaluation.report.metric("uar")
    holder_uar = reg.version_metrics(name=version.name, version=holder).get("uar")
    if tags.get("dataset_digest") != evaluation.report.dataset.digest or holder_uar is None or cand_uar is None:
        return baseline, {}
    if cand_uar.value is None:
        return baseline, {}
    return baseline, {"regression.uar_delta": float(cand_uar.value) - float(holder_uar)}


def decide_context(
    *, settings: Settings, inputs: GateInputs, evaluation: Evaluation, context_id: str, as_of: date | None = None
) -> PolicyDecision:
    """The pure policy decision for one context, recorded as an audit event."""
    context = next(c for c in inputs.contexts if c.id == context_id)
    baseline, gate_metrics = regression_baseline(settings=settings, evaluation=evaluation, context_id=context_id)
    decision = decide(
        context=context,
        card=inputs.candidate.card,
        onnx_outputs=inputs.candidate.onnx_outputs,
        report=evaluation.report,
        packs=inputs.packs,
        as_of=as_of or datetime.now(UTC).date(),
        precision=inputs.candidate.precision,
        baseline=baseline,
        gate_metrics=gate_metrics,
    )
    from affectgate.oversight.identity import submitter_outcome, training_fit_outcome

    if (outcome := submitter_outcome(settings=settings, report=evaluation.report)) is not None:
        verdict = "review" if decision.verdict == "allow" else decision.verdict  # a person must own the release
        decision = decision.model_copy(update={"outcomes": (*decision.outcomes, outcome), "verdict": verdict})
    if inputs.suite.training_fit:  # a report on the training data never promotes
        fit = training_fit_outcome(suite=inputs.suite.suite)
        decision = decision.model_copy(update={"outcomes": (*decision.outcomes, fit), "verdict": "block"})
    decision_json = decision.model_dump_json(indent=2)
    (evaluation.run_dir / f"decision.{context_id}.json").write_text(decision_json, encoding="utf-8")
    audit_log(settings).append(
        actor=settings.actor,
        action="decision.made",
        subject=f"model:{evaluation.version.name}/{evaluation.version.version} context:{context_id}",
        payload={
            "verdict": decision.verdict,
            "as_of": decision.as_of.isoformat(),
            "pack_digests": decision.pack_digests,
            "run_id": evaluation.report.run_id,
            "outcomes": {o.rule_id: o.status for o in decision.outcomes},
            "reasons": [f"{o.rule_id} ({o.article}): {o.message}" for o in decision.reasons],
            "decision_sha256": sha256_hex(decision_json.encode("utf-8")),  # readers re-check the run folder's file
        },
    )
    return decision
