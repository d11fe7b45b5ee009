"""Latency evaluator and targets: cpu measured here (LoadGen or the same-semantics harness), gpu/jetson skip."""

from __future__ import annotations

import platform

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import yaml

from _latency_helpers import FRAMES, ROOT, tiny_candidate, tiny_split
from affectgate.core.errors import AffectgateError
from affectgate.evaluators.latency import target_measurements
from affectgate.evaluators.lookup import list_evaluators, needs_model, run_evaluator
from affectgate.evaluators.registry import ModelInputs
from affectgate.targets import TargetResult, TargetSpec, Workload, harness, load_targets, run_target

TARGETS = {
    "version": "test",
    "targets": [
        {
            "name": "cpu",
            "kind": "cpu",
            "providers": ["CPUExecutionProvider"],
            "threads": 1,
            "batch_sizes": [1, 2],
            "hourly_price_usd": 0.36,
        },
        {"name": "gpu", "kind": "gpu", "providers": ["CUDAExecutionProvider"], "batch_sizes": [1]},
        {"name": "jetson", "kind": "jetson", "providers": ["TensorrtExecutionProvider"], "where": "pool:jetson"},
    ],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("latency")
    path = tmp / "targets.yaml"
    path.write_text(yaml.safe_dump(TARGETS), encoding="utf-8")
    return tiny_candidate(tmp / "model"), tiny_split(tmp / "data"), path


def _by(result, name: str, target: str):
    return next(m for m in result.measurements if m.name == name and m.group == f"target={target}")


def test_latency_is_registered_and_runs_the_model():
    """`latency` is a built-in evaluator that asks for the model."""
    assert "latency" in list_evaluators() and needs_model("latency")


def test_cpu_target_measures_and_gpu_jetson_skip_with_reason(tiny):
    """The cpu target gives consistent p50<=p95<=p99, fps, real-time flag and cost; gpu and jetson skip with reasons."""
    candidate, split, path = tiny
    res = run_evaluator(
        name="latency",
        predictions=pd.DataFrame(),
        params={"targets": ["cpu", "gpu", "jetson"], "warmup": 2, "runs": 16, "clips": 3, "targets_file": str(path)},
        model=ModelInputs(candidate=candidate, split=split, threads=1),
    )
    assert res.status == "ok", res.error
    p50, p95, p99 = (_by(res, f"latency.{p}_ms", "cpu").value for p in ("p50", "p95", "p99"))
    assert 0 < p50 <= p95 <= p99
    assert _by(res, "latency.p50_ms", "cpu").n == 16
    assert _by(res, "latency.frame_p95_ms", "cpu").value == pytest.approx(p95 / FRAMES)
    cps = _by(res, "throughput.clips_per_s", "cpu").value
    assert cps > 0 and _by(res, "throughput.fps", "cpu").value == pytest.approx(cps * FRAMES)
    assert _by(res, "latency.realtime_ok", "cpu").value == float(p95 / FRAMES <= 1000 / 15)
    assert _by(res, "cost.per_1k_usd", "cpu").value == pytest.approx(0.36 / (cps * 3600) * 1000)
    # provenance: where it really ran
    assert res.params["cpu.host"] == platform.node() and res.params["cpu.machine"] == platform.machine()
    assert res.params["cpu.provider"] == "CPUExecutionProvider"
    assert res.params["cpu.runtime"] == f"onnxruntime {ort.__version__}"
    expected_harness = "mlperf_loadgen" if harness.loadgen_version() else "affectgate harness"
    assert str(res.params["cpu.harness"]).startswith(expected_harness)
    assert res.params["cpu.best_batch"] in (1, 2)
    # skipped targets: a visible reason, no number
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        gpu_skip = _by(res, "latency.skipped", "gpu")
        assert gpu_skip.value == 1.0 and "no GPU execution provider" in gpu_skip.label
        assert _by(res, "latency.p95_ms", "gpu").value is None and _by(res, "cost.per_1k_usd", "gpu").value is None
        assert any(s.startswith("gpu: ") for s in res.params["skipped_targets"])
    if platform.machine() != "aarch64":
        jet = _by(res, "latency.skipped", "jetson")
        assert platform.machine() in jet.label and "aarch64" in jet.label and "pool:jetson" in jet.label
        assert _by(res, "throughput.clips_per_s", "jetson").value is None
        assert res.params["jetson.host"] == platform.node()


def test_all_targets_skipped_is_a_skipped_result(tiny):
    """When no requested target can run here the result is 'skipped' and says why."""
    candidate, split, path = tiny
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this host has CUDA")
    res = run_evaluator(
        name="latency",
        predictions=pd.DataFrame(),
        params={"targets": ["gpu"], "runs": 2, "clips": 1, "targets_file": str(path)},
        model=ModelInputs(candidate=candidate, split=split, threads=1),
    )
    assert res.status == "skipped" and "gpu: no GPU execution provider" in res.error


def test_unknown_target_and_parameter_fail_with_a_suggestion(tiny):
    """An unknown target name fails the evaluator, suggesting the closest declared one; unknown params fail too."""
    candidate, split, path = tiny
    model = ModelInputs(candidate=candidate, split=split, threads=1)
    res = run_evaluator(
        name="latency", predictions=pd.DataFrame(), params={"targets": ["cpuu"], "targets_file": str(path)}, model=model
    )
    assert res.status == "failed" and "did you mean 'cpu'" in res.error
    res = run_evaluator(name="latency", predictions=pd.DataFrame(), params={"budget_ms": 10}, model=model)
    assert res.status == "failed" and "budget_ms" in res.error


def _workload(candidate, *, n: int = 3, warmup: int = 2, runs: int = 7) -> Workload:
    rng = np.random.default_rng(0)
    clips = rng.standard_normal((n, FRAMES, 3, 16, 16)).astype(np.float32)
    return Workload(candidate=candidate, inputs={"clip": clips}, warmup=warmup, runs=runs, offline_batches=3)


@pytest.mark.parametrize("use_loadgen", [True, False])
def test_scenarios_issue_what_their_semantics_say(tiny, use_loadgen):
    """SingleStream times `runs` batch-1 queries after the untimed warm-up; Offline issues every sample in batches."""
    if use_loadgen and harness.loadgen_version() is None:
        pytest.skip("mlcommons-loadgen is not installed")
    candidate = tiny[0]
    w = _workload(candidate)
    calls: list[int] = []

    def run(feed):
        calls.append(len(feed["clip"]))

    single = harness.single_stream(run=run, workload=w, use_loadgen=use_loadgen)
    assert calls == [1] * (w.warmup + 3 + w.runs)  # warm-up, 3 untimed probes, then the timed queries
    assert single.queries == w.runs and single.p50_ms <= single.p95_ms <= single.p99_ms
    calls.clear()
    off = harness.offline(run=run, workload=w, batch_size=2, use_loadgen=use_loadgen)
    n = w.offline_samples(2)
    assert n == 6 and off.samples == n and off.clips_per_s > 0
    assert calls[0] == 2 and sorted(calls[1:]) == [2, 2, 2]  # untimed warm batch, then ceil(n / batch) batches


def test_percentiles_are_nearest_rank():
    """p50/p95/p99 use nearest rank, so they are always observed latencies."""
    assert harness.percentiles(np.arange(1, 101, dtype=float)) == (50.0, 95.0, 99.0)
    with pytest.raises(ValueError):
        harness.percentiles(np.array([]))


def test_realtime_check_compares_frame_p95_with_the_budget():
    """latency.realtime_ok is 1.0 exactly when clip p95 / frames <= budget per frame."""
    spec = TargetSpec(name="cpu", kind="cpu", providers=("CPUExecutionProvider",), hourly_price_usd=None)
    result = TargetResult(
        target="cpu", kind="cpu", status="ok", host="h", machine="m", frames=8, runs=10,
        p50_ms=400.0, p95_ms=536.0, p99_ms=600.0, throughput={1: 2.0, 8: 5.0},
    )  # fmt: skip
    for budget, ok in ((66.7, 0.0), (67.0, 1.0), (1000 / 15, 0.0)):
        ms, facts = target_measurements(result=result, spec=spec, budget_ms_per_frame=budget)
        got = {m.name: m.value for m in ms}
        assert got["latency.realtime_ok"] == ok  # 536 / 8 = 67.0 ms per frame
        assert got["throughput.clips_per_s"] == 5.0 and got["throughput.fps"] == 40.0
        assert got["cost.per_1k_usd"] is None  # no hourly price declared
        assert facts["cpu.best_batch"] == 8


def test_project_targets_file_declares_the_four_kinds():
    """evaluators/targets.yaml validates and declares cpu, gpu, jetson and browser targets."""
    declared = load_targets(path=ROOT / "evaluators" / "targets.yaml")
    assert {t.kind for t in declared.targets} == {"cpu", "gpu", "jetson", "browser"}
    assert declared.get("jetson").where.startswith("pool:")


def test_targets_schema_rejects_unknown_fields_and_duplicates(tmp_path):
    """A misspelt field or a duplicate target name is an error naming the file."""
    bad = {
        "version": "x",
        "targets": [{"name": "cpu", "kind": "cpu", "providers": ["CPUExecutionProvider"], "thread": 2}],
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(AffectgateError, match="t.yaml"):
        load_targets(path=path)
    dup = {"version": "x", "targets": [TARGETS["targets"][0], TARGETS["targets"][0]]}
    path.write_text(yaml.safe_dump(dup), encoding="utf-8")
    with pytest.raises(AffectgateError, match="declared twice"):
        load_targets(path=path)


def test_gpu_and_jetson_runners_never_report_another_machine(tiny):
    """Run directly, the gpu runner skips without a GPU provider and jetson skips off aarch64, naming this host."""
    w = _workload(tiny[0])
    gpu = run_target(spec=TargetSpec(name="g", kind="gpu", providers=("CUDAExecutionProvider",)), workload=w)
    jet = run_target(spec=TargetSpec(name="j", kind="jetson", providers=("TensorrtExecutionProvider",)), workload=w)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert gpu.status == "skipped" and gpu.p50_ms is None and gpu.provider is None
        assert str(ort.get_available_providers()) in gpu.reason
    if platform.machine() != "aarch64":
        assert jet.status == "skipped" and jet.host == platform.node() and jet.clips_per_s is None


def test_workload_rejects_ragged_inputs(tiny):
    """Every input of a workload has one row per sample."""
    with pytest.raises(ValueError, match="first axis"):
        Workload(
            candidate=tiny[0],
            inputs={"a": np.zeros((2, 1), np.float32), "b": np.zeros((3, 1), np.float32)},
            warmup=0,
            runs=1,
        )
