"""Prefect flow: the quarterly drift audit (EU AI Act Art. 72 post-market monitoring), scheduled by cron.

A thin shell over ``affectgate.orchestration.fanout.drift_audit``: evaluates the ``quarterly_drift`` suite
(``evaluators/quarterly_drift.yaml``: accuracy plus Evidently input/prediction drift of each capture
quarter against the reference quarter) through ``pipeline.prepare``/``pipeline.evaluate``, and audits
the drifted windows as a ``drift.audit`` event. The schedule lives in ``flows/prefect.yaml``.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from affectgate.orchestration import fanout


@task(name="drift-audit", cache_policy=NO_CACHE)
def drift_audit(model: str, data: str, fold: int, context: str) -> fanout.DriftAudit:
    """Evaluate the quarterly drift suite for one model on one dataset."""
    return fanout.drift_audit(model=model, data=data, fold=fold, context=context)


@flow(name="quarterly-drift-audit")
def quarterly_drift_audit(
    model: str, data: str, fold: int = 1, context: str = fanout.DEFAULT_CONTEXT
) -> fanout.DriftAudit:
    """Compare every capture quarter with the reference quarter; drifted quarters need a human review."""
    return drift_audit(model=model, data=data, fold=fold, context=context)
