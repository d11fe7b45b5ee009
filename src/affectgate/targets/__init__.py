"""Hardware targets: declared in ``evaluators/targets.yaml``, one runner per kind (cpu, gpu, jetson, browser)."""

from __future__ import annotations

from importlib import import_module

from affectgate.targets.spec import (
    TARGETS_FILE,
    TargetKind,
    TargetResult,
    TargetsFile,
    TargetSpec,
    Workload,
    load_targets,
)


def run_target(*, spec: TargetSpec, workload: Workload, use_loadgen: bool = True) -> TargetResult:
    """Run ``workload`` on the runner of ``spec.kind``; a target that cannot run here comes back skipped."""
    module = import_module(f"affectgate.targets.{spec.kind}")
    return module.run(spec=spec, workload=workload, use_loadgen=use_loadgen)


__all__ = [
    "TARGETS_FILE",
    "TargetKind",
    "TargetResult",
    "TargetSpec",
    "TargetsFile",
    "Workload",
    "load_targets",
    "run_target",
]
