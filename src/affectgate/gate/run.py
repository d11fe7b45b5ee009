"""The whole gate: prepare -> evaluate -> decide -> promote/reject, every error audited (fail closed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from affectgate.audit.chain import ChainReport
from affectgate.audit.store import describe_first_problem
from affectgate.core.errors import AffectgateError
from affectgate.core.records import PolicyDecision
from affectgate.gate.decide import decide_context
from affectgate.gate.evaluate import evaluate
from affectgate.gate.family import is_family, run_family_gate
from affectgate.gate.prepare import prepare
from affectgate.gate.promote import apply_decision
from affectgate.gate.results import Evaluation, GateError, GateInputs, GateResult
from affectgate.gate.workspace import audit_log, record_error, registry
from affectgate.project.settings import Settings
from affectgate.registry.reconcile import resolve_intents


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
    label_map: dict[str, str | None] | None = None,
) -> list[GateResult]:
    """All steps in order; plain functions by default, Prefect tasks when the flow passes them.

    ``data_format``/``fold``/``split``/``label_map``: see :func:`prepare` (None: the format's default
    selection). A model family (a folder with ``family.yaml``) is gated fold by fold on the cross-fold
    protocol (:func:`affectgate.gate.family.run_family_gate`).
    """
    steps = steps or Steps()
    subject = f"model:{model} contexts:{','.join(contexts)}"
    if data_format != "dfew":
        subject += f" format:{data_format}"
    check_audit_chain(settings=settings)  # a broken chain is never extended, not even by a gate.error event
    try:
        recover(settings=settings)
        if is_family(settings.resolve(Path(model))):
            return run_family_gate(
                settings=settings,
                model=model,
                contexts=contexts,
                data=data,
                suite=suite,
                as_of=as_of,
                steps=steps,
                data_format=data_format,
                fold=fold,
                split=split,
                label_map=label_map,
            )[0]
        inputs = steps.prepare(
            settings=settings,
            model=model,
            contexts=contexts,
            data=data,
            fold=fold,
            suite=suite,
            data_format=data_format,
            split=split,
            **({"label_map": label_map} if label_map else {}),
        )
        evaluation = steps.evaluate(settings=settings, inputs=inputs)
        results = []
        for ctx in inputs.contexts:
            decision = steps.decide_context(
                settings=settings, inputs=inputs, evaluation=evaluation, context_id=ctx.id, as_of=as_of
            )
            results.append(steps.apply_decision(settings=settings, evaluation=evaluation, decision=decision))
        return results
    except AuditChainBroken:
        raise
    except AffectgateError as exc:
        record_error(settings=settings, error=exc, subject=subject)
        raise
    except OSError as exc:  # a full disk, a read-only workspace: the cause and the fix, never a raw OSError
        error = GateError(
            f"cannot write {exc.filename or settings.workspace_dir}: {exc.strerror or exc}",
            fix="free disk space / make the workspace writable, then run the gate again; nothing was promoted",
        )
        record_error(settings=settings, error=error, subject=subject)
        raise error from None
    except Exception as exc:
        record_error(settings=settings, error=exc, subject=subject)
        raise GateError(
            f"gate failed: {type(exc).__name__}: {exc}", fix="see the audit log; nothing was promoted"
        ) from exc


class AuditChainBroken(GateError):
    """The audit log does not verify: the gate refuses to run (exit 3) and appends nothing."""


def _refuse(report: ChainReport, *, log_path: Path) -> AuditChainBroken:
    first = describe_first_problem(report)
    where = f"line {report.first_bad_line}" if report.first_bad_line else f"event {report.first_bad_seq}"
    return AuditChainBroken(
        f"the audit log {log_path} does not verify (first bad: {where}; {first}); the gate refuses to run on a "
        "broken chain: nothing was evaluated or promoted",
        fix="run `affectgate audit verify` to see every problem; a torn last line after a crash: "
        "`affectgate audit repair`; an edited, deleted or rolled-back log: restore it from a backup",
    )


def check_audit_chain(*, settings: Settings) -> None:
    """Refuse (:class:`AuditChainBroken`, exit 3, naming the first bad line) while the audit chain does not verify."""
    log = audit_log(settings, create_key=False)
    report = log.verify()
    if not report.ok:
        raise _refuse(report, log_path=log.path)


def recover(*, settings: Settings) -> None:
    """Every start's recovery, before anything is evaluated (all audited).

    The signed heads on MLflow version tags must be reached by the log (else it was rolled back:
    :class:`AuditChainBroken`); pending write-ahead alias intents of dead processes are resolved from the
    registry's state; versions registered without affectgate's identity tags are quarantined.
    """
    log = audit_log(settings)
    reg = registry(settings)
    heads = reg.audit_heads()
    if heads:
        report = log.verify(external_heads=heads)
        if not report.ok:
            raise _refuse(report, log_path=log.path)
    resolve_intents(log=log, reg=reg, actor=settings.actor)
    orphans = reg.quarantine_orphans()
    if orphans:
        log.append(
            actor=settings.actor,
            action="registry.quarantined",
            subject=f"registry:{settings.tracking_uri}",
            payload={"versions": [f"{name}/{version}" for name, version in orphans]},
        )
