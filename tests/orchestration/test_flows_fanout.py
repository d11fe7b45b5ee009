"""Benchmark fan-out: combinations, the Dask-backed Prefect flow end to end, and the quarterly drift audit flow."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import yaml

from affectgate.core.errors import AffectgateError
from affectgate.orchestration.fanout import combinations, evaluate_one

ROOT = Path(__file__).resolve().parents[2]


def test_combinations_cover_every_triple_in_order():
    """candidate x dataset x target in a fixed order; empty axes and duplicates are refused."""
    combos = combinations(candidates=["m1", "m2"], datasets=["d1", "d2"], targets=["cpu"])
    assert combos == [("m1", "d1", "cpu"), ("m1", "d2", "cpu"), ("m2", "d1", "cpu"), ("m2", "d2", "cpu")]
    with pytest.raises(AffectgateError, match="no datasets"):
        combinations(candidates=["m1"], datasets=[], targets=["cpu"])
    with pytest.raises(AffectgateError, match="targets listed twice: cpu"):
        combinations(candidates=["m1"], datasets=["d1"], targets=["cpu", "cpu"])


def test_prefect_yaml_maps_targets_to_pools_and_schedules_drift_audit():
    """Each benchmark deployment runs on its target's pool; the drift audit has a quarterly UTC cron."""
    spec = yaml.safe_load((ROOT / "flows" / "prefect.yaml").read_text(encoding="utf-8"))
    deps = {d["name"]: d for d in spec["deployments"]}
    for target in ("cpu", "gpu", "jetson", "browser"):
        dep = deps[f"benchmark-{target}"]
        assert dep["work_pool"]["name"] == target and dep["parameters"]["targets"] == [target]
        assert dep["entrypoint"] == "flows/benchmark_candidates.py:benchmark_candidates"
    (schedule,) = deps["quarterly-drift-audit"]["schedules"]
    assert schedule["cron"] == "0 6 1 1,4,7,10 *" and schedule["timezone"] == "UTC"
    for dep in deps.values():
        path, name = dep["entrypoint"].split(":")
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), dep["entrypoint"]


@pytest.mark.e2e
def test_evaluate_one_error_is_a_row(built, tmp_path):
    """A missing candidate folder becomes an error row naming it, not an exception that ends the fan-out."""
    row = evaluate_one(model=str(tmp_path / "nope"), data=str(built.data), target="cpu")
    assert row.status == "error" and "nope" in row.error and row.host == platform.node()


@pytest.mark.e2e
def test_dask_fanout_flow_evaluates_every_combination(built, monkeypatch):
    """The flow on a 1-worker Dask cluster returns one ok row per (candidate, target), all on one model version."""
    from affectgate.gate.workspace import audit_log
    from affectgate.orchestration.prefect import get_flow

    module = get_flow(settings=built.settings, module="benchmark_candidates", flow="benchmark_candidates")
    from prefect_dask import DaskTaskRunner

    # a real Dask scheduler and worker, in this process: a worker *process* (the nanny's spawn) fails to start
    # late in a full `make test` on CI's 2 cores ("Nanny failed to start worker process"), though it starts
    # alone; what the fan-out does is the same either way, and benchmarks/fanout_speedup.py runs processes
    flow = module.with_options(
        task_runner=DaskTaskRunner(
            cluster_kwargs={"n_workers": 1, "threads_per_worker": 1, "processes": False, "dashboard_address": None}
        )
    )
    n_before = len(audit_log(built.settings).events())
    rows = flow(candidates=[str(built.model)], datasets=[str(built.data)], targets=["cpu", "jetson"])
    assert [(r.target, r.status) for r in rows] == [("cpu", "ok"), ("jetson", "ok")], [r.error for r in rows]
    assert {r.host for r in rows} == {platform.node()}
    assert len({r.version for r in rows}) == 1 and rows[0].uar is not None
    assert rows[0].war == pytest.approx(rows[1].war)  # same model, same data: same numbers on any target label
    events = audit_log(built.settings).events()[n_before:]
    assert [e.action for e in events].count("evaluation.completed") == 2
    assert audit_log(built.settings).verify().ok


@pytest.mark.e2e
def test_quarterly_drift_audit_flow_audits_windows(built):
    """The drift audit flow evaluates the quarterly_drift suite and audits every window it judged."""
    from affectgate.gate.workspace import audit_log
    from affectgate.orchestration.prefect import get_flow

    flow = get_flow(settings=built.settings, module="quarterly_drift_audit", flow="quarterly_drift_audit")
    result = flow(model=str(built.model), data=str(built.data))
    assert result.drift_status == "ok", result.error
    assert result.windows and set(result.drifted_windows) <= set(result.windows)
    assert result.host == platform.node()
    last = audit_log(built.settings).events()[-1]
    assert last.action == "drift.audit" and last.payload["run_id"] == result.run_id
    assert last.payload["windows"] == list(result.windows)
    assert last.payload["needs_review"] == bool(result.drifted_windows)
    assert (built.settings.runs_dir / result.run_id / "drift").is_dir()  # Evidently's HTML per window
