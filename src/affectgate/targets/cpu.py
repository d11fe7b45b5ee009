"""The ``cpu`` target: onnxruntime's CPU execution provider, timed in this process."""

from __future__ import annotations

import onnxruntime as ort

from affectgate.core.errors import ModelError
from affectgate.targets import harness
from affectgate.targets.spec import TargetResult, TargetSpec, Workload, cpu_model, host_facts
from affectgate.zoo.runtime import open_session


def run_onnxruntime(
    *,
    spec: TargetSpec,
    workload: Workload,
    providers: tuple[str, ...],
    device: str,
    use_loadgen: bool = True,
    require: str | None = None,
) -> TargetResult:
    """Time ``workload`` in an onnxruntime session with ``providers`` (SingleStream, then Offline per batch size).

    ``require`` names the provider that must be the session's first one; onnxruntime silently falls
    back to CPU when a GPU provider fails to initialise, and such a number must never be labelled GPU.
    """
    sess = open_session(candidate=workload.candidate, threads=spec.threads, providers=providers).session
    used = sess.get_providers()
    if require is not None and (not used or used[0] != require):
        raise ModelError(
            f"target {spec.name}: onnxruntime did not initialise {require} (session providers: {used})",
            fix="check the CUDA/TensorRT libraries on this host; a CPU fallback is not reported as this target",
        )
    names = [o.name for o in sess.get_outputs()]

    def run(feed: dict) -> object:
        return sess.run(names, feed)

    single = harness.single_stream(run=run, workload=workload, use_loadgen=use_loadgen)
    throughput = {
        b: harness.offline(run=run, workload=workload, batch_size=b, use_loadgen=use_loadgen).clips_per_s
        for b in spec.batch_sizes
    }
    host, machine = host_facts()
    return TargetResult(
        target=spec.name,
        kind=spec.kind,
        status="ok",
        host=host,
        machine=machine,
        device=device,
        provider=used[0],
        runtime_version=f"onnxruntime {ort.__version__}",
        harness=single.harness,
        threads=spec.threads,
        frames=workload.frames,
        warmup=workload.warmup,
        runs=single.queries,
        p50_ms=single.p50_ms,
        p95_ms=single.p95_ms,
        p99_ms=single.p99_ms,
        throughput=throughput,
        notes=single.notes,
    )


def run(*, spec: TargetSpec, workload: Workload, use_loadgen: bool = True) -> TargetResult:
    """Time ``workload`` on onnxruntime's CPU provider with the target's threads."""
    if spec.providers != ("CPUExecutionProvider",):
        raise ModelError(
            f"target {spec.name} (kind cpu) declares providers {list(spec.providers)}",
            fix="a cpu target uses providers: [CPUExecutionProvider]",
        )
    return run_onnxruntime(
        spec=spec,
        workload=workload,
        providers=spec.providers,
        device=cpu_model(),
        use_loadgen=use_loadgen,
        require="CPUExecutionProvider",
    )
