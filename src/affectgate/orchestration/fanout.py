"""The benchmark fan-out as plain functions: one (candidate, dataset, target) evaluation per call.

``flows/benchmark_candidates.py`` wraps :func:`evaluate_one` as a Prefect task and maps it over
:func:`combinations` on a Dask task runner; ``benchmarks/fanout_speedup.py`` calls the same function in
a plain loop as the sequential baseline. Nothing here imports Prefect or Dask, and everything a task
returns is importable from the package, so a Dask worker on another machine can unpickle it.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from affectgate import gate as pipeline
from affectgate.core.errors import AffectgateError
from affectgate.project.settings import Settings, get_settings

#: The context ``prepare`` validates when a benchmark names none (evaluation does not depend on it).
DEFAULT_CONTEXT = "eu-telehealth"


@dataclass(frozen=True)
class BenchmarkRow:
    """The outcome of one (candidate, dataset, target) evaluation, with the host that produced it."""

    candidate: str
    dataset: str
    target: str
    host: str
    status: str  # "ok" or "error"
    run_id: str | None = None
    model: str | None = None
    version: str | None = None
    war: float | None = None
    uar: float | None = None
    evaluators: tuple[tuple[str, str], ...] = ()  # (evaluator, status)
    error: str | None = None


def combinations(
    *, candidates: Sequence[str], datasets: Sequence[str], targets: Sequence[str]
) -> list[tuple[str, str, str]]:
    """Every (candidate, dataset, target), candidates outermost; refuses empty axes and duplicates."""
    for axis, values in (("candidates", candidates), ("datasets", datasets), ("targets", targets)):
        if not values:
            raise AffectgateError(f"no {axis} given for the benchmark fan-out", fix=f"pass at least one of {axis}")
        dupes = sorted({v for v in values if list(values).count(v) > 1})
        if dupes:
            raise AffectgateError(f"{axis} listed twice: {', '.join(dupes)}", fix="list each once")
    return list(product(candidates, datasets, targets))


def evaluate_one(
    *,
    model: str,
    data: str,
    target: str = "cpu",
    fold: int = 1,
    suite: str = "release",
    context: str = DEFAULT_CONTEXT,
    settings: Settings | None = None,
) -> BenchmarkRow:
    """``pipeline.prepare`` + ``pipeline.evaluate`` for one combination; an error is a row, not a lost fan-out.

    The evaluation is logged to MLflow and audited exactly as in the gate; no alias is moved.
    """
    settings = settings or get_settings()
    host = platform.node()
    try:
        inputs = pipeline.prepare(settings=settings, model=model, contexts=[context], data=data, fold=fold, suite=suite)
        ev = pipeline.evaluate(settings=settings, inputs=inputs, target=target)
    except AffectgateError as exc:
        pipeline.record_error(settings=settings, error=exc, subject=f"benchmark:{model} data:{data} target:{target}")
        return BenchmarkRow(candidate=model, dataset=data, target=target, host=host, status="error", error=str(exc))
    war, uar = ev.report.metric("war"), ev.report.metric("uar")
    return BenchmarkRow(
        candidate=model,
        dataset=data,
        target=target,
        host=host,
        status="ok",
        run_id=ev.report.run_id,
        model=ev.version.name,
        version=ev.version.version,
        war=war.value if war else None,
        uar=uar.value if uar else None,
        evaluators=tuple((r.evaluator, r.status) for r in ev.report.results),
    )


@dataclass(frozen=True)
class DriftAudit:
    """The quarterly drift audit's outcome: which capture windows drifted against the reference."""

    model: str
    dataset: str
    run_id: str
    host: str
    drifted_windows: tuple[str, ...]
    windows: tuple[str, ...]
    drift_status: str  # the drift evaluator's status: ok / failed / skipped
    error: str | None = None


def drift_audit(*, model: str, data: str, fold: int = 1, context: str = DEFAULT_CONTEXT) -> DriftAudit:
    """Evaluate the ``quarterly_drift`` suite and audit its findings (``drift.audit`` event; review follows it)."""
    settings = get_settings()
    inputs = pipeline.prepare(
        settings=settings, model=model, contexts=[context], data=data, fold=fold, suite="quarterly_drift"
    )
    ev = pipeline.evaluate(settings=settings, inputs=inputs)
    drift = next((r for r in ev.report.results if r.evaluator == "drift"), None)
    flags = [m for m in (drift.measurements if drift else ()) if m.name == "drift.detected" and m.group]
    windows = tuple(str(m.group).removeprefix("window=") for m in flags)
    drifted = tuple(str(m.group).removeprefix("window=") for m in flags if m.value)
    result = DriftAudit(
        model=ev.version.name,
        dataset=ev.report.dataset.name,
        run_id=ev.report.run_id,
        host=platform.node(),
        drifted_windows=drifted,
        windows=windows,
        drift_status=drift.status if drift else "missing",
        error=drift.error if drift else "the suite has no drift evaluator",
    )
    pipeline.audit_log(settings).append(
        actor=settings.actor,
        action="drift.audit",
        subject=f"model:{ev.version.name}/{ev.version.version} dataset:{ev.report.dataset.name}",
        payload={
            "run_id": ev.report.run_id,
            "windows": list(windows),
            "drifted_windows": list(drifted),
            "drift_status": result.drift_status,
            "needs_review": bool(drifted) or result.drift_status != "ok",
        },
    )
    return result
