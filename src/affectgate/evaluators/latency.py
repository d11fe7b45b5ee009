"""Latency, throughput, real-time check and cost per declared hardware target (``evaluators/targets.yaml``).

For each target in ``targets``: batch-1 clip latency p50/p95/p99 (SingleStream, warm-up excluded),
throughput at the best batch size (Offline), frames per second, the real-time check
(frame p95 = clip p95 / frames <= ``budget_ms_per_frame``; 15 fps => 66.7 ms) and cost per 1,000
inferences from the target's hourly price. The clips are the first ``clips`` clips of the evaluated
split, decoded and preprocessed as the card says. A target that cannot run here (no GPU, not an
aarch64 Jetson, no browser) gives a ``latency.skipped`` measurement whose label is the reason and
``None`` for its numbers; where each target really ran (host, machine, device, provider, runtime
version, harness) is in the result's params as ``<target>.<fact>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectgate.core.records import EvalResult, Measurement
from affectgate.datasets.clips import read_clips
from affectgate.evaluators.cost import cost_per_1k_usd
from affectgate.evaluators.registry import ModelInputs, register_evaluator
from affectgate.targets import TARGETS_FILE, TargetResult, TargetSpec, Workload, load_targets, run_target
from affectgate.zoo.preprocess import to_model_input

DEFAULT_BUDGET_MS_PER_FRAME = 1000.0 / 15.0
PARAMS = {"targets", "warmup", "runs", "budget_ms_per_frame", "clips", "targets_file", "loadgen", "max_seconds"}


def build_workload(*, model: ModelInputs, clips: int, warmup: int, runs: int, max_seconds: float) -> Workload:
    """Real decoded, preprocessed clips (the split's first ``clips``) as the query sample library.

    An audio-visual card's audio input is filled with seeded standard-normal log-mel noise of the
    declared shape: the split holds frames only, and latency does not depend on the values.
    """
    card = model.candidate.card
    samples = model.split.samples[: max(1, clips)]
    if not samples:
        raise ValueError(f"split {model.split.csv_path} has no clips to time")
    raw = read_clips(
        samples=samples, frames=card.input.frames, size=card.input.size, workers=model.threads, cache=model.clip_cache
    )
    inputs: dict[str, np.ndarray] = {card.input.name: to_model_input(clips=raw, spec=card.input)}
    if card.input.audio is not None:
        from affectgate.datasets.synth.audio import audio_frames

        spec = card.input.audio
        rng = np.random.default_rng(0)
        inputs[spec.name] = rng.standard_normal((len(samples), spec.n_mels, audio_frames(spec=spec))).astype(np.float32)
    return Workload(candidate=model.candidate, inputs=inputs, warmup=warmup, runs=runs, max_seconds=max_seconds)


def target_measurements(
    *, result: TargetResult, spec: TargetSpec, budget_ms_per_frame: float
) -> tuple[list[Measurement], dict[str, Any]]:
    """The measurements (names fixed across the team) and provenance params of one target's result."""
    group = f"target={spec.name}"
    facts: dict[str, Any] = {
        f"{spec.name}.status": result.status,
        f"{spec.name}.host": result.host,
        f"{spec.name}.machine": result.machine,
        f"{spec.name}.device": result.device,
        f"{spec.name}.provider": result.provider,
        f"{spec.name}.runtime": result.runtime_version,
        f"{spec.name}.harness": result.harness,
        f"{spec.name}.where": spec.where,
    }
    if result.status == "skipped":
        facts[f"{spec.name}.reason"] = result.reason
    if result.best_batch is not None:
        facts[f"{spec.name}.best_batch"] = result.best_batch
        facts[f"{spec.name}.throughput_by_batch"] = [f"{b}:{v:.3f}" for b, v in sorted(result.throughput.items())]
    if result.notes:
        facts[f"{spec.name}.notes"] = list(result.notes)

    ok = result.status == "ok"
    n1 = result.runs if ok else 0
    frame_p95 = result.frame_p95_ms
    clips_per_s = result.clips_per_s
    fps = None if clips_per_s is None else clips_per_s * result.frames
    realtime = None if frame_p95 is None else float(frame_p95 <= budget_ms_per_frame)
    cost = None
    if clips_per_s is not None and spec.hourly_price_usd is not None:
        cost = cost_per_1k_usd(clips_per_s=clips_per_s, hourly_price_usd=spec.hourly_price_usd)
    single = f"batch-1 clip, SingleStream over {n1} queries after {result.warmup} untimed warm-up calls"
    offline = f"Offline, best of batch sizes {list(spec.batch_sizes)}" + (
        f" (batch {result.best_batch})" if result.best_batch else ""
    )

    def m(
        name: str, value: float | None, higher: bool, averaging: str, n: int, label: str | None = None
    ) -> Measurement:
        return Measurement(
            name=name, value=value, higher_is_better=higher, averaging=averaging, group=group, label=label, n=n
        )

    out = []
    if not ok:
        out.append(m("latency.skipped", 1.0, False, "1.0 = the target did not run here; label = why", 0, result.reason))
    out += [
        m("latency.p50_ms", result.p50_ms, False, f"{single}, 50th percentile", n1),
        m("latency.p95_ms", result.p95_ms, False, f"{single}, 95th percentile", n1),
        m("latency.p99_ms", result.p99_ms, False, f"{single}, 99th percentile", n1),
        m("latency.frame_p95_ms", frame_p95, False, f"clip p95 / {result.frames} frames per clip", n1),
        m("throughput.clips_per_s", clips_per_s, True, offline, n1),
        m("throughput.fps", fps, True, f"best-batch clips/s x {result.frames} frames per clip", n1),
        m(
            "latency.realtime_ok",
            realtime,
            True,
            f"1.0 when frame p95 <= budget {budget_ms_per_frame:.1f} ms per frame",
            n1,
        ),
        m(
            "cost.per_1k_usd",
            cost,
            False,
            "hourly price / (best-batch clips/s x 3600) x 1000"
            + ("" if spec.hourly_price_usd is not None else "; no hourly_price_usd declared"),
            n1,
        ),
    ]
    return out, facts


@register_evaluator("latency")
def evaluate_latency(*, predictions: pd.DataFrame, params: dict[str, Any], model: ModelInputs) -> EvalResult:
    """Latency, throughput, real-time check and cost per declared target (see the module docstring)."""
    del predictions  # latency is measured on the model itself, on the clips the predictions were made on
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise ValueError(f"unknown latency parameters {unknown}; known: {sorted(PARAMS)}")
    names = params.get("targets", ["cpu", "browser"])
    if isinstance(names, str) or not names:
        raise ValueError(f"targets must be a non-empty list of target names, got {names!r}")
    budget = float(params.get("budget_ms_per_frame", DEFAULT_BUDGET_MS_PER_FRAME))
    if budget <= 0:
        raise ValueError(f"budget_ms_per_frame must be > 0, got {budget}")
    path_param = params.get("targets_file")
    if path_param:
        path = Path(str(path_param))
    else:
        from affectgate.project.content import find
        from affectgate.project.settings import get_settings

        path = find(project_root=get_settings().project_root, kind="targets", name=TARGETS_FILE, available=[])
    declared = load_targets(path=path)
    specs = [declared.get(str(n)) for n in names]
    workload = build_workload(
        model=model,
        clips=int(params.get("clips", 8)),
        warmup=int(params.get("warmup", 5)),
        runs=int(params.get("runs", 64)),
        max_seconds=float(params.get("max_seconds", 600.0)),
    )
    use_loadgen = bool(params.get("loadgen", True))
    measurements: list[Measurement] = []
    out_params: dict[str, Any] = {
        **{k: v for k, v in params.items() if k != "targets"},
        "targets": [str(n) for n in names],
        "budget_ms_per_frame": budget,
        "targets_version": declared.version,
        "clips_timed": workload.n_samples,
    }
    if model.candidate.card.input.audio is not None:
        out_params["audio_input"] = "seeded log-mel noise of the declared shape (the split has frames only)"
    results = []
    for spec in specs:
        result = run_target(spec=spec, workload=workload, use_loadgen=use_loadgen)
        results.append(result)
        ms, facts = target_measurements(result=result, spec=spec, budget_ms_per_frame=budget)
        measurements += ms
        out_params.update(facts)
    ran = [r for r in results if r.status == "ok"]
    skipped_reasons = [f"{r.target}: {r.reason}" for r in results if r.status == "skipped"]
    if skipped_reasons:
        out_params["skipped_targets"] = skipped_reasons
    return EvalResult(
        evaluator="latency",
        status="ok" if ran else "skipped",
        measurements=tuple(measurements),
        error=None if ran else "; ".join(skipped_reasons),
        params={k: (str(v) if isinstance(v, Path) else v) for k, v in out_params.items()},
    )
