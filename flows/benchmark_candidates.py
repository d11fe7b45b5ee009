"""Prefect flow: evaluate every (candidate, dataset, target) concurrently on a Dask task runner.

A thin shell over ``affectgate.orchestration.fanout.evaluate_one`` (``pipeline.prepare`` + ``pipeline.evaluate``):
parameters are paths and ids (strings). The task runner is prefect-dask's ``DaskTaskRunner``: a local
cluster with one single-threaded worker process per core by default, or an existing Dask scheduler
when ``AFFECTGATE_DASK_ADDRESS`` is set, so a team scales from one machine to a cluster by
configuration. Each row records the host that produced it.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect_dask import DaskTaskRunner

from affectgate.orchestration import fanout
from affectgate.project.settings import get_settings


def dask_runner() -> DaskTaskRunner:
    """The Dask task runner the settings ask for (existing scheduler, or a local cluster of processes)."""
    settings = get_settings()
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    kwargs: dict[str, object] = {"threads_per_worker": 1, "processes": True, "dashboard_address": None}
    if settings.dask_workers:
        kwargs["n_workers"] = settings.dask_workers
    return DaskTaskRunner(cluster_kwargs=kwargs)


@task(name="evaluate-combination", cache_policy=NO_CACHE)
def evaluate_combination(
    model: str, data: str, target: str, fold: int, suite: str, context: str
) -> fanout.BenchmarkRow:
    """One (candidate, dataset, target) evaluation."""
    return fanout.evaluate_one(model=model, data=data, target=target, fold=fold, suite=suite, context=context)


@flow(name="benchmark-candidates", task_runner=dask_runner())
def benchmark_candidates(
    candidates: list[str],
    datasets: list[str],
    targets: list[str] | None = None,
    fold: int = 1,
    suite: str = "release",
    context: str = fanout.DEFAULT_CONTEXT,
) -> list[fanout.BenchmarkRow]:
    """Fan out candidate x dataset x target; rows come back in combination order, errors as rows.

    Two waves: first one combination per candidate (in parallel), so that each candidate's model version
    is registered exactly once, then every other combination (in parallel) reusing those versions.
    """
    combos = fanout.combinations(candidates=candidates, datasets=datasets, targets=targets or ["cpu"])
    seen: set[str] = set()
    first = [c for c in combos if not (c[0] in seen or seen.add(c[0]))]
    rest = [c for c in combos if c not in first]
    rows: dict[tuple[str, str, str], fanout.BenchmarkRow] = {}
    for wave in (first, rest):
        futures = {
            c: evaluate_combination.submit(model=c[0], data=c[1], target=c[2], fold=fold, suite=suite, context=context)
            for c in wave
        }
        rows.update({c: f.result() for c, f in futures.items()})
    return [rows[c] for c in combos]
