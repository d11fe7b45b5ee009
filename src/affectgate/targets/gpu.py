"""The ``gpu`` target: onnxruntime's CUDA (and TensorRT, when present) providers; skipped with the reason elsewhere."""

from __future__ import annotations

import onnxruntime as ort

from affectgate.targets.cpu import run_onnxruntime
from affectgate.targets.spec import TargetResult, TargetSpec, Workload, skipped

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def gpu_name() -> str:
    """Name of the first CUDA device as nvidia-smi reports it, or '' when it cannot be asked."""
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ""
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""


def run(*, spec: TargetSpec, workload: Workload, use_loadgen: bool = True) -> TargetResult:
    """Time ``workload`` on the declared GPU providers present here; skipped (with the reason) when none is."""
    wanted = tuple(p for p in spec.providers if p in GPU_PROVIDERS)
    if not wanted:
        return skipped(spec=spec, reason=f"declares no GPU provider ({list(spec.providers)}); expected {GPU_PROVIDERS}")
    available = ort.get_available_providers()
    present = tuple(p for p in wanted if p in available)
    if not present:
        return skipped(
            spec=spec,
            reason=(
                f"no GPU execution provider here: onnxruntime {ort.__version__} offers {available}, "
                f"the target needs one of {list(wanted)} (install onnxruntime-gpu on a CUDA host)"
            ),
        )
    return run_onnxruntime(
        spec=spec,
        workload=workload,
        providers=(*present, "CPUExecutionProvider"),
        device=gpu_name() or "CUDA device",
        use_loadgen=use_loadgen,
        require=present[0],
    )
