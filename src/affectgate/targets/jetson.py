"""The ``jetson`` target: TensorRT on an aarch64 (Jetson) worker; anywhere else it is skipped, never estimated.

The result records the host and device it really ran on: a number measured on another machine is
never labelled Jetson. Run it on the aarch64 worker (``where: pool:<name>`` in targets.yaml).
"""

from __future__ import annotations

import platform
from pathlib import Path

import onnxruntime as ort

from affectgate.targets.cpu import run_onnxruntime
from affectgate.targets.spec import TargetResult, TargetSpec, Workload, skipped

TRT = "TensorrtExecutionProvider"


def device_model() -> str:
    """The board name from the device tree (e.g. 'NVIDIA Jetson Orin Nano ...'), or '' when there is none."""
    path = Path("/proc/device-tree/model")
    try:
        return path.read_bytes().rstrip(b"\x00").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def run(*, spec: TargetSpec, workload: Workload, use_loadgen: bool = True) -> TargetResult:
    """Time ``workload`` with TensorRT when this host is aarch64 and offers TensorRT; otherwise skip with the reason."""
    machine = platform.machine()
    where = f" (declared where: {spec.where})" if spec.where != "local" else ""
    if machine != "aarch64":
        return skipped(
            spec=spec,
            reason=(
                f"this host ({platform.node()}) is {machine}, not an aarch64 Jetson worker{where}; "
                "no number from another machine is reported as Jetson"
            ),
        )
    available = ort.get_available_providers()
    if TRT not in available:
        return skipped(
            spec=spec,
            reason=f"aarch64 host {platform.node()} has no {TRT} (onnxruntime {ort.__version__} offers {available})",
            device=device_model(),
        )
    providers = tuple(p for p in spec.providers if p in available) or (TRT,)
    if providers[0] != TRT:
        providers = (TRT, *[p for p in providers if p != TRT])
    return run_onnxruntime(
        spec=spec,
        workload=workload,
        providers=(*providers, "CPUExecutionProvider") if "CPUExecutionProvider" not in providers else providers,
        device=device_model() or f"aarch64 {platform.node()}",
        use_loadgen=use_loadgen,
        require=TRT,
    )
