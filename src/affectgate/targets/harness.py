"""Timing with MLPerf LoadGen scenario semantics: SingleStream (batch-1 latency) and Offline (throughput).

LoadGen (``mlcommons-loadgen``) drives the system under test when it is importable; otherwise a
harness with the same semantics runs: SingleStream issues one sample per query and the next query
only after the previous one completed (latency = issue to completion); Offline issues every sample
in one query and the system under test processes it in batches (throughput = samples / wall time).
Warm-up calls are never timed.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from affectgate.targets.spec import Workload

RunFn = Callable[[dict[str, np.ndarray]], object]
HARNESS = "affectgate harness (LoadGen semantics)"


def timings(fn: Callable[[], object], *, warmup: int, repeats: int) -> np.ndarray:
    """Wall times of ``repeats`` calls of ``fn`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - start) * 1e3
    return out


def percentiles(samples_ms: np.ndarray) -> tuple[float, float, float]:
    """p50, p95, p99 of latency samples (ms), nearest-rank (``inverted_cdf``) as LoadGen reports them."""
    if len(samples_ms) == 0:
        raise ValueError("no latency samples")
    p = np.percentile(np.asarray(samples_ms, dtype=float), [50, 95, 99], method="inverted_cdf")
    return float(p[0]), float(p[1]), float(p[2])


@dataclass(frozen=True)
class SingleStream:
    """Batch-1 latency percentiles of one SingleStream run."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    queries: int
    harness: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Offline:
    """Throughput of one Offline run at one batch size."""

    batch_size: int
    clips_per_s: float
    samples: int
    harness: str


def loadgen_version() -> str | None:
    """Installed mlcommons-loadgen version, or None when LoadGen cannot be imported."""
    try:
        import mlperf_loadgen  # noqa: F401
    except ImportError:
        return None
    try:
        return metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        return "unknown"


def _warm(run: RunFn, workload: Workload) -> float:
    """Run the untimed warm-up calls; the median of extra probe calls in ms (LoadGen's expected latency)."""
    for i in range(workload.warmup):
        run(workload.feed([i % workload.n_samples]))
    probe = timings(lambda: run(workload.feed([0])), warmup=0, repeats=3)
    return float(np.median(probe))


def single_stream(*, run: RunFn, workload: Workload, use_loadgen: bool = True) -> SingleStream:
    """Batch-1 latency over ``workload.runs`` queries after ``workload.warmup`` untimed calls."""
    expected_ms = _warm(run, workload)
    version = loadgen_version() if use_loadgen else None
    if version is not None:
        return _loadgen_single_stream(run=run, workload=workload, expected_ms=expected_ms, version=version)
    rng = np.random.default_rng(0)
    order = rng.integers(0, workload.n_samples, size=workload.runs)
    feeds = [workload.feed([int(i)]) for i in order]  # loaded before timing, like a QSL
    lat = np.empty(workload.runs)
    for q, feed in enumerate(feeds):
        start = time.perf_counter()
        run(feed)
        lat[q] = (time.perf_counter() - start) * 1e3
    p50, p95, p99 = percentiles(lat)
    return SingleStream(p50_ms=p50, p95_ms=p95, p99_ms=p99, queries=workload.runs, harness=HARNESS)


def offline(*, run: RunFn, workload: Workload, batch_size: int, use_loadgen: bool = True) -> Offline:
    """Throughput (clips/s) when every sample is issued at once and processed in batches of ``batch_size``."""
    run(workload.feed([i % workload.n_samples for i in range(batch_size)]))  # warm the batch shape, untimed
    n = workload.offline_samples(batch_size)
    version = loadgen_version() if use_loadgen else None
    if version is not None:
        return _loadgen_offline(run=run, workload=workload, batch_size=batch_size, n=n, version=version)
    start = time.perf_counter()
    for s in range(0, n, batch_size):  # stacking a batch is the system under test's work, as under LoadGen
        run(workload.feed([i % workload.n_samples for i in range(s, min(s + batch_size, n))]))
    seconds = time.perf_counter() - start
    return Offline(batch_size=batch_size, clips_per_s=n / seconds, samples=n, harness=HARNESS)


# ---------------------------------------------------------------- LoadGen adapter (only place that imports it)

_SUMMARY = "mlperf_log_summary.txt"


def _run_loadgen(*, issue: Callable[[list], None], workload: Workload, settings_fn: Callable[[object], None]) -> str:
    """Run one LoadGen performance test with a SUT built from ``issue``; returns the summary text."""
    import mlperf_loadgen as lg

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(workload.n_samples, workload.n_samples, lambda idx: None, lambda idx: None)
    try:
        settings = lg.TestSettings()
        settings.mode = lg.TestMode.PerformanceOnly
        settings.min_duration_ms = 0
        settings.max_duration_ms = int(workload.max_seconds * 1000)
        settings_fn(settings)
        with tempfile.TemporaryDirectory(prefix="affectgate-loadgen-") as tmp:
            out = lg.LogOutputSettings()
            out.outdir = tmp
            out.copy_summary_to_stdout = False
            log = lg.LogSettings()
            log.log_output = out
            log.enable_trace = False
            lg.StartTestWithLogSettings(sut, qsl, settings, log)
            return (Path(tmp) / _SUMMARY).read_text(encoding="utf-8")
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)


def _summary_value(summary: str, pattern: str) -> float:
    m = re.search(pattern, summary, flags=re.MULTILINE)
    if m is None:
        raise RuntimeError(f"LoadGen summary has no line matching {pattern!r}")
    return float(m.group(1))


def _loadgen_single_stream(*, run: RunFn, workload: Workload, expected_ms: float, version: str) -> SingleStream:
    import mlperf_loadgen as lg

    feeds = [workload.feed([i]) for i in range(workload.n_samples)]  # the QSL's loaded samples
    errors: list[BaseException] = []

    def issue(queries: list) -> None:
        for q in queries:
            try:
                run(feeds[q.index])
            except BaseException as exc:  # surfaced after the test; LoadGen's thread must get its completion
                errors.append(exc)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in queries])

    def configure(s: object) -> None:
        s.scenario = lg.TestScenario.SingleStream
        s.min_query_count = workload.runs
        s.max_query_count = workload.runs
        s.single_stream_expected_latency_ns = max(1, int(expected_ms * 1e6))

    summary = _run_loadgen(issue=issue, workload=workload, settings_fn=configure)
    if errors:
        raise errors[0]
    ns = {p: _summary_value(summary, rf"^{p}\.00 percentile latency \(ns\)\s*:\s*([0-9.]+)") for p in (50, 95, 99)}
    valid = re.search(r"^Result is\s*:\s*(\w+)", summary, flags=re.MULTILINE)
    notes = (
        f"LoadGen SingleStream result: {valid.group(1) if valid else 'unknown'} (early-stopping needs >= 64 queries)",
    )
    return SingleStream(
        p50_ms=ns[50] / 1e6,
        p95_ms=ns[95] / 1e6,
        p99_ms=ns[99] / 1e6,
        queries=workload.runs,
        harness=f"mlperf_loadgen {version}",
        notes=notes,
    )


def _loadgen_offline(*, run: RunFn, workload: Workload, batch_size: int, n: int, version: str) -> Offline:
    import mlperf_loadgen as lg

    errors: list[BaseException] = []

    def issue(queries: list) -> None:
        for s in range(0, len(queries), batch_size):
            chunk = queries[s : s + batch_size]
            try:
                run(workload.feed([q.index for q in chunk]))
            except BaseException as exc:
                errors.append(exc)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in chunk])

    def configure(s: object) -> None:
        s.scenario = lg.TestScenario.Offline
        s.min_query_count = n  # Offline: samples in the one query = max(min_query_count, qps x min_duration)
        s.max_query_count = n
        s.offline_expected_qps = 1.0

    summary = _run_loadgen(issue=issue, workload=workload, settings_fn=configure)
    if errors:
        raise errors[0]
    qps = _summary_value(summary, r"^Samples per second\s*:\s*([0-9.eE+]+)")
    return Offline(batch_size=batch_size, clips_per_s=qps, samples=n, harness=f"mlperf_loadgen {version}")
