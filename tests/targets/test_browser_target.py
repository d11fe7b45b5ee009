"""Browser target: onnxruntime-web (WASM) in real headless Chromium, timed in the page and checked against ORT CPU."""

from __future__ import annotations

import platform

import numpy as np
import pandas as pd
import pytest

from _latency_helpers import tiny_candidate, tiny_split
from affectgate.evaluators.lookup import run_evaluator
from affectgate.evaluators.registry import ModelInputs
from affectgate.targets import TargetSpec, run_target
from affectgate.targets.browser import ort_web_version, unavailable_reason
from affectgate.targets.spec import Workload

BROWSER = TargetSpec(name="browser", kind="browser", providers=("wasm",), threads=1, batch_sizes=(1, 2))
needs_browser = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"browser target unavailable: {unavailable_reason()}"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    return tiny_candidate(tmp / "model"), tiny_split(tmp / "data")


@needs_browser
def test_browser_target_runs_onnxruntime_web_in_chromium(tiny):
    """The page runs the model with ORT-web WASM: same outputs as ORT CPU, ordered percentiles, throughput per batch."""
    candidate, split = tiny
    from affectgate.evaluators.latency import build_workload

    w = build_workload(model=ModelInputs(candidate=candidate, split=split), clips=3, warmup=2, runs=12, max_seconds=120)
    res = run_target(spec=BROWSER, workload=w)
    assert res.status == "ok" and res.provider == "wasm"
    assert res.runtime_version == f"onnxruntime-web {ort_web_version()}"
    assert res.device.startswith("Chromium ") and "WASM" in res.device
    assert res.host == platform.node() and res.machine == platform.machine()
    assert res.runs == 12 and 0 < res.p50_ms <= res.p95_ms <= res.p99_ms
    assert set(res.throughput) == {1, 2} and all(v > 0 for v in res.throughput.values())
    parity = next(n for n in res.notes if n.startswith("parity vs onnxruntime CPU"))
    assert float(parity.rsplit(" ", 1)[1]) < 1e-4


@needs_browser
def test_latency_evaluator_reports_the_browser_target(tiny):
    """The latency evaluator's default targets include the browser, with its measurements under target=browser."""
    candidate, split = tiny
    res = run_evaluator(
        name="latency",
        predictions=pd.DataFrame(),
        params={"warmup": 1, "runs": 8, "clips": 2},  # default targets: cpu and browser
        model=ModelInputs(candidate=candidate, split=split, threads=1),
    )
    assert res.status == "ok", res.error
    got = {m.name: m.value for m in res.measurements if m.group == "target=browser"}
    assert got["latency.p95_ms"] > 0 and got["throughput.fps"] > 0 and got["cost.per_1k_usd"] == 0.0
    assert res.params["browser.provider"] == "wasm"


def test_missing_browser_binary_skips_with_the_install_hint(tiny, tmp_path):
    """Without the browser binary the target is skipped, naming the Debian package and never downloading one."""
    spec = BROWSER.model_copy(update={"executable": str(tmp_path / "no-chromium")})
    w = Workload(candidate=tiny[0], inputs={"clip": np.zeros((1, 2, 3, 16, 16), np.float32)},
                 warmup=0, runs=1)  # fmt: skip
    res = run_target(spec=spec, workload=w)
    assert res.status == "skipped" and "apt-get install -y chromium" in res.reason and "never downloads" in res.reason
    assert res.p50_ms is None
