"""The gate's records: what prepare checked (GateInputs), one evaluation (Evaluation), the outcome per context
(GateResult), exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from affectgate.core.errors import AffectgateError
from affectgate.core.records import Candidate, DatasetSpec, EvalReport, UseContext
from affectgate.datasets.face_screening import FaceScreening
from affectgate.datasets.selection import (
    EvalSplit,
)
from affectgate.datasets.validation import ValidationReport
from affectgate.evaluators import Suite
from affectgate.policy.loader import PolicyPack
from affectgate.registry.mlflow_registry import VersionRef
from affectgate.zoo.external import (
    ExternalPredictions,
)

SYNTHETIC_NOTICE = (
    "SYNTHETIC DATA: procedurally rendered faces, not real people; not evidence about real-world performance."
)

#: CLI / CI exit codes.
EXIT_PROMOTED, EXIT_BLOCKED, EXIT_REVIEW, EXIT_ERROR = 0, 1, 2, 3


class GateError(AffectgateError):
    """The gate stopped on an error: nothing was promoted."""


@dataclass(frozen=True)
class GateInputs:
    """Everything checked before any evaluation starts."""

    candidate: Candidate
    contexts: tuple[UseContext, ...]
    dataset: DatasetSpec
    split: EvalSplit  # the selection evaluated, read through the format's registered loader
    suite: Suite
    packs: tuple[PolicyPack, ...]
    validation: ValidationReport  # the Great Expectations suite that passed before evaluation
    table: pd.DataFrame | None = None  # targets and group attributes by sample id
    external: ExternalPredictions | None = None  # a predictions-file candidate's validated predictions
    card_path: Path | None = None  # that candidate's card
    face_screening: FaceScreening | None = None  # faces detected and cropped (media not face-cropped)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation, stored in its run folder and logged to MLflow."""

    report: EvalReport
    run_dir: Path
    predictions_path: Path
    version: VersionRef


@dataclass(frozen=True)
class GateResult:
    """The gate's outcome for one context."""

    context_id: str
    verdict: str
    promoted: bool
    model: str
    version: str
    alias_holder: str | None
    reasons: tuple[str, ...]
    metrics: dict[str, float | None] = field(default_factory=dict)
    reason_rules: tuple[str, ...] = ()  # "rule_id [article]" of each reason, in the same order
    synthetic_data: bool = False
    run_id: str = ""  # the evaluation's run folder under the workspace's runs/
    signoff: str | None = None  # a review verdict's human sign-off the flow waited for: "approve" / "reject"
    signoff_by: str | None = None  # who signed it off
    data_notes: tuple[str, ...] = ()  # what the data step did that a reader must know (faces cropped, clips left out)

    @property
    def group_gap(self) -> tuple[float | None, float | None, float | None, str]:
        """The judged demographic gap ``(value, ci_low, ci_high, kind)``: the accuracy gap of a class model,
        else the engagement-score error gap (kind ``"MAE"``), else ``(None, None, None, "")``."""
        for name, kind in (("fairness.accuracy_max_gap", ""), ("fairness.error_max_gap", "MAE")):
            if self.metrics.get(name) is not None:
                return self.metrics[name], self.metrics.get(f"{name}.ci_low"), self.metrics.get(f"{name}.ci_high"), kind
        return None, None, None, ""

    @property
    def exit_code(self) -> int:
        """0 promoted, 1 blocked, 2 review (a signed-off review: 0 approved, 1 rejected)."""
        if self.verdict == "review" and self.signoff is not None:
            return EXIT_PROMOTED if self.signoff == "approve" else EXIT_BLOCKED
        return {"allow": EXIT_PROMOTED, "block": EXIT_BLOCKED}.get(self.verdict, EXIT_REVIEW)


def combined_exit_code(results: list[GateResult]) -> int:
    """Blocked if any context blocks, else review if any needs review, else promoted."""
    codes = {r.exit_code for r in results}
    return EXIT_BLOCKED if EXIT_BLOCKED in codes else EXIT_REVIEW if EXIT_REVIEW in codes else EXIT_PROMOTED


def data_notes(spec: DatasetSpec) -> tuple[str, ...]:
    """One line on the face crops of a set that is not face-cropped: frames over the bar and clips left out;
    one line on the classes a declared label map left out (:func:`label_notes`)."""
    if not spec.face_crop:
        return label_notes(spec)
    f = spec.face_frames
    rejected = sum(v for k, v in f.items() if k != "ok")
    left = spec.face_rejected_samples
    return label_notes(spec) + (
        f"faces detected and cropped (the media are not face crops): {f.get('ok', 0)} of {sum(f.values())} frames "
        f"over the quality bar, {rejected} rejected ("
        + ", ".join(f"{k} {v}" for k, v in f.items() if k != "ok")
        + f"); {len(left)} clip(s) without a usable face left out of the evaluation"
        + (f": {', '.join(left[:5])}{' …' if len(left) > 5 else ''}" if left else "")
        + " (face_screening.csv in the run folder)",
    )


def label_notes(spec: DatasetSpec) -> tuple[str, ...]:
    """The dropped share (n and %) of a selection scored on a subset of its classes by a declared label map."""
    dropped = sum(spec.labels_dropped.values())
    if not dropped:
        return ()
    base = spec.n_labelled_selected or dropped
    return (
        f"scored in the model's {len(spec.label_space)}-class label space: {dropped} of {base} labelled samples "
        f"({100.0 * dropped / base:.1f} %) left out by the label_map declared in {spec.label_map_source or '?'} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(spec.labels_dropped.items()))
        + "); every number is over the remaining samples",
    )
