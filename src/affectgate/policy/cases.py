"""Test vectors for the rules: ``policies/<pack>/cases/*.yaml``, run through the real engine.

A case carries its facts directly (context, model outputs, metric values, evaluator statuses), so no
model card, ONNX file or evaluation report is needed; the facts go through :func:`assemble_facts`
exactly as :func:`build_facts` would build them from records.
"""

from __future__ import annotations

from pathlib import Path

from affectgate.core.records import PolicyDecision, UseContext
from affectgate.policy.engine import ModelFacts, assemble_facts, decide_facts, pack_thresholds
from affectgate.policy.loader import PolicyPack, load_context, load_packs, read_yaml
from affectgate.policy.schema import PolicyCase, parse_model

CASES_FOLDER = "cases"


def load_case(*, path: Path) -> PolicyCase:
    """Read and validate one case file."""
    return parse_model(PolicyCase, read_yaml(path=path), source=path)


def case_paths(*, policies_root: Path) -> tuple[Path, ...]:
    """Every case file under ``policies_root/*/cases/``, sorted."""
    return tuple(sorted(policies_root.glob(f"*/{CASES_FOLDER}/*.yaml")))


def case_context(*, case: PolicyCase, policies_root: Path | None, project_root: Path | None = None) -> UseContext:
    """The case's context: loaded by id (from ``policies_root``, else resolved for the project), or the inline one."""
    if isinstance(case.context, str):
        return load_context(root=policies_root, project_root=project_root, context_id=case.context)
    return case.context


def decide_case(
    *, case: PolicyCase, policies_root: Path | None = None, project_root: Path | None = None
) -> PolicyDecision:
    """The decision the engine makes for a case: content from ``policies_root``, else resolved for the project."""
    context = case_context(case=case, policies_root=policies_root, project_root=project_root)
    packs = load_packs(root=policies_root, project_root=project_root, names=case.packs)
    key = (case.model_dump_json(), context.model_dump_json(), tuple(pack.digest for pack in packs))
    cached = _DECISIONS.get(key)
    if cached is None:
        cached = _decide(case=case, context=context, packs=packs)
        if len(_DECISIONS) < _MAX_CACHED:
            _DECISIONS[key] = cached
    return cached


#: Decisions of cases already run in this process, keyed by the case, its context and the packs' digests (the
#: decision is a pure function of these), so lint and the test suite do not re-run the same vector.
_DECISIONS: dict[tuple[str, str, tuple[str, ...]], PolicyDecision] = {}
_MAX_CACHED = 4096


def _decide(*, case: PolicyCase, context: UseContext, packs: tuple[PolicyPack, ...]) -> PolicyDecision:
    model = None
    if case.model is not None:
        declared = case.model.onnx_outputs if case.model.card_outputs is None else case.model.card_outputs
        model = ModelFacts(
            arch=case.model.arch,
            output_kinds=case.model.output_kinds,
            onnx_outputs=case.model.onnx_outputs,
            undeclared_outputs=tuple(name for name in case.model.onnx_outputs if name not in declared),
            precision=case.model.precision,
        )
    facts = assemble_facts(
        context=context,
        model=model,
        metrics=case.metrics,
        evaluators=case.evaluators,
        evaluator_errors=case.evaluator_errors,
        synthetic_data=case.synthetic_data,
        has_report=bool(case.metrics or case.evaluators),
        thresholds=pack_thresholds(packs=packs),
        as_of=case.as_of,
        baseline=case.baseline,
    )
    return decide_facts(facts=facts, packs=packs)


def run_case(
    *, case_path: Path, policies_root: Path | None = None, project_root: Path | None = None
) -> tuple[bool, str]:
    """Run one case: (True, summary) if the verdict and every listed outcome match, else (False, the diff)."""
    case = load_case(path=case_path)
    decision = decide_case(case=case, policies_root=policies_root, project_root=project_root)
    by_id = {o.rule_id: o for o in decision.outcomes}
    problems: list[str] = []
    if decision.verdict != case.expect.verdict:
        problems.append(f"verdict {decision.verdict!r}, expected {case.expect.verdict!r}")
    for rule_id, expected in case.expect.outcomes.items():
        got = by_id.get(rule_id)
        if got is None:
            problems.append(f"{rule_id}: no such rule in the decision (rules: {', '.join(by_id)})")
        elif got.status != expected:
            problems.append(f"{rule_id}: {got.status!r}, expected {expected!r} — {got.message}")
    if problems:
        errors = [f"{o.rule_id}: {o.message}" for o in decision.outcomes if o.status == "error"]
        detail = "; ".join(problems) + (f" | errored rules: {'; '.join(errors)}" if errors else "")
        return False, f"{case_path.name}: {detail}"
    return True, (f"{case_path.name}: verdict {decision.verdict}, {len(case.expect.outcomes)} outcomes as expected")
