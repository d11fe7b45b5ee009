"""Declared hardware targets (``evaluators/targets.yaml``), the workload they run and the result they give."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from affectgate.core.errors import AffectgateError
from affectgate.core.records import Candidate

TargetKind = Literal["cpu", "gpu", "jetson", "browser"]
TARGETS_FILE = "targets.yaml"


class TargetSpec(BaseModel):
    """One hardware target: where and how the model is timed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Stable target id, used as group 'target=<name>'.")
    kind: TargetKind = Field(description="Runner: cpu (ORT CPU), gpu (ORT CUDA/TensorRT), jetson, browser (ORT-web).")
    providers: tuple[str, ...] = Field(
        min_length=1,
        description="Execution providers in preference order (ORT names, or 'wasm' for the browser).",
    )
    threads: int = Field(default=2, ge=1, description="Intra-op threads (ORT) or WASM threads (browser).")
    batch_sizes: tuple[int, ...] = Field(
        default=(1, 8), min_length=1, description="Batch sizes of the Offline (throughput) scenario; best one wins."
    )
    where: str = Field(
        default="local",
        pattern=r"^(local|pool:[A-Za-z0-9_.-]+)$",
        description="'local' (this process) or 'pool:<name>' (a work pool of the orchestration layer).",
    )
    hourly_price_usd: float | None = Field(
        default=None, ge=0, description="Hardware price per hour in USD for cost per 1k inferences (None = unpriced)."
    )
    executable: str | None = Field(
        default=None, description="Browser binary (browser kind only); default /usr/bin/chromium. Never downloaded."
    )
    description: str = Field(default="", description="What the target stands for, e.g. the instance type.")

    @model_validator(mode="after")
    def _check(self) -> TargetSpec:
        if any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"target {self.name}: batch sizes must be >= 1, got {list(self.batch_sizes)}")
        if self.executable is not None and self.kind != "browser":
            raise ValueError(f"target {self.name}: 'executable' applies to browser targets only")
        if self.kind == "browser" and tuple(self.providers) != ("wasm",):
            raise ValueError(f"target {self.name}: the browser runner supports providers [wasm] only")
        return self


class TargetsFile(BaseModel):
    """``evaluators/targets.yaml``: every declared target."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str = Field(description="Version of the declaration; recorded with every latency result.")
    targets: tuple[TargetSpec, ...] = Field(min_length=1, description="Declared targets; names are unique.")

    @model_validator(mode="after")
    def _unique(self) -> TargetsFile:
        names = [t.name for t in self.targets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"target names declared twice: {dup}")
        return self

    def get(self, name: str) -> TargetSpec:
        """The target named ``name``; unknown names raise with a suggestion."""
        for t in self.targets:
            if t.name == name:
                return t
        known = [t.name for t in self.targets]
        close = difflib.get_close_matches(name, known, n=1)
        raise AffectgateError(
            f"unknown hardware target {name!r}",
            fix=f"did you mean {close[0]!r}?" if close else f"declared targets: {', '.join(known)}",
        )


def load_targets(*, path: Path) -> TargetsFile:
    """Read and validate a targets file; a missing file or bad field names the file."""
    if not path.is_file():
        raise AffectgateError(f"targets file not found: {path}", fix="declare targets in evaluators/targets.yaml")
    try:
        return TargetsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        lines = str(exc).splitlines()
        raise AffectgateError(
            f"invalid targets file {path}: {' '.join(lines[:3])}", fix="see TargetSpec fields"
        ) from None


@dataclass(frozen=True)
class Workload:
    """What a target times: real preprocessed clips (one row per sample) and the scenario sizes.

    ``inputs`` maps each ONNX input name to an array whose first axis is the sample; a query of
    sample indices is the stacked rows. ``warmup`` untimed batch-1 calls precede ``runs`` timed ones.
    """

    candidate: Candidate
    inputs: dict[str, np.ndarray]
    warmup: int
    runs: int
    offline_batches: int = 4
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        sizes = {len(a) for a in self.inputs.values()}
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError(f"workload inputs must share a non-empty first axis, got {sizes}")
        if self.warmup < 0 or self.runs < 1:
            raise ValueError(f"warmup must be >= 0 and runs >= 1 (got {self.warmup}, {self.runs})")

    @property
    def n_samples(self) -> int:
        """Number of distinct samples in the query sample library."""
        return len(next(iter(self.inputs.values())))

    @property
    def frames(self) -> int:
        """Frames per clip (the card's input spec)."""
        return self.candidate.card.input.frames

    def feed(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """The model feed for a query of sample indices (rows stacked in order)."""
        idx = np.asarray(indices, dtype=np.int64)
        return {k: np.ascontiguousarray(v[idx]) for k, v in self.inputs.items()}

    def offline_samples(self, batch_size: int) -> int:
        """Samples issued in one Offline query at ``batch_size``: ``offline_batches`` full batches, at least N."""
        return max(self.n_samples, batch_size * self.offline_batches)


class TargetResult(BaseModel):
    """Latency and throughput of one workload on one target, or why it was skipped; with where it really ran."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    target: str = Field(description="Target name.")
    kind: TargetKind = Field(description="Runner kind.")
    status: Literal["ok", "skipped"] = Field(description="ok, or skipped with the reason (no GPU, wrong host...).")
    reason: str | None = Field(default=None, description="Why the target was skipped.")
    host: str = Field(description="platform.node() of the machine that ran (or skipped) it.")
    machine: str = Field(description="platform.machine() of that machine.")
    device: str = Field(default="", description="Device the numbers come from (CPU model, GPU, Jetson, browser).")
    provider: str | None = Field(default=None, description="Execution provider actually used by the session.")
    runtime_version: str = Field(default="", description="onnxruntime (or onnxruntime-web) version.")
    harness: str = Field(default="", description="'mlperf_loadgen <version>' or 'affectgate harness'.")
    threads: int = Field(default=1, description="Threads the session ran with.")
    frames: int = Field(default=1, ge=1, description="Frames per clip.")
    warmup: int = Field(default=0, ge=0, description="Untimed batch-1 calls before timing.")
    runs: int = Field(default=0, ge=0, description="Timed batch-1 queries (SingleStream).")
    p50_ms: float | None = Field(default=None, description="Batch-1 clip latency, 50th percentile, ms.")
    p95_ms: float | None = Field(default=None, description="Batch-1 clip latency, 95th percentile, ms.")
    p99_ms: float | None = Field(default=None, description="Batch-1 clip latency, 99th percentile, ms.")
    throughput: dict[int, float] = Field(default_factory=dict, description="Offline clips/s per batch size.")
    notes: tuple[str, ...] = Field(default=(), description="Anything a reader must know (e.g. LoadGen validity).")

    @property
    def best_batch(self) -> int | None:
        """Batch size with the highest Offline throughput."""
        return max(self.throughput, key=lambda b: self.throughput[b]) if self.throughput else None

    @property
    def clips_per_s(self) -> float | None:
        """Throughput at the best batch size, clips per second."""
        b = self.best_batch
        return None if b is None else self.throughput[b]

    @property
    def frame_p95_ms(self) -> float | None:
        """Clip p95 divided by frames per clip: the per-frame latency share."""
        return None if self.p95_ms is None else self.p95_ms / self.frames


def host_facts() -> tuple[str, str]:
    """``(platform.node(), platform.machine())`` of this process's machine."""
    import platform

    return platform.node(), platform.machine()


def skipped(*, spec: TargetSpec, reason: str, device: str = "") -> TargetResult:
    """A skipped result for ``spec`` recording this host and the reason."""
    host, machine = host_facts()
    return TargetResult(
        target=spec.name, kind=spec.kind, status="skipped", reason=reason, host=host, machine=machine, device=device
    )


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
