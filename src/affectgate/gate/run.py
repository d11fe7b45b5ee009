"""The whole gate: prepare -> evaluate -> decide -> promote/reject, every error audited (fail closed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from affectgate.core.errors import AffectgateError
from affectgate.core.records import PolicyDecision
from affectgate.gate.decide import decide_context
from affectgate.gate.evaluate import evaluate
from affectgate.gate.prepare import prepare
from affectgate.gate.promote import apply_decision
from affectgate.gate.results import Evaluation, GateError, GateInputs, GateResult
from affectgate.gate.workspace import record_error
from affectgate.project.settings import Settings


@dataclass(frozen=True)
class Steps:
    """The step functions run_gate calls; the Prefect flow passes task-wrapped versions of the same."""

    prepare: Callable[..., GateInputs] = prepare
    evaluate: Callable[..., Evaluation] = evaluate
    decide_context: Callable[..., PolicyDecision] = decide_context
    apply_decision: Callable[..., GateResult] = apply_decision


def run_gate(
    *,
    settings: Settings,
    model: str,
    contexts: list[str],
    data: str,
    fold: int | None = None,
    suite: str = "release",
    as_of: date | None = None,
    steps: Steps | None = None,
    data_format: str = "dfew",
    split: str | None = None,
) -> list[GateResult]:
    """All steps in order; plain functions by default, Prefect tasks when the flow passes them.

    ``data_format``/``fold``/``split``: see :func:`prepare` (None: the format's default selection).
    """
    steps = steps or Steps()
    subject = f"model:{model} contexts:{','.join(contexts)}"
    if data_format != "dfew":
        subject += f" format:{data_format}"
    try:
        inputs = steps.prepare(
            settings=settings,
            model=model,
            contexts=contexts,
            data=data,
            fold=fold,
            suite=suite,
            data_format=data_format,
            split=split,
        )
        evaluation = steps.evaluate(settings=settings, inputs=inputs)
        results = []
        for ctx in inputs.contexts:
            decision = steps.decide_context(
                settings=settings, inputs=inputs, evaluation=evaluation, context_id=ctx.id, as_of=as_of
            )
            results.append(steps.apply_decision(settings=settings, evaluation=evaluation, decision=decision))
        return results
    except AffectgateError as exc:
        record_error(settings=settings, error=exc, subject=subject)
        raise
    except Exception as exc:
        record_error(settings=settings, error=exc, subject=subject)
        raise GateError(
            f"gate failed: {type(exc).__name__}: {exc}", fix="see the audit log; nothing was promoted"
        ) from exc
