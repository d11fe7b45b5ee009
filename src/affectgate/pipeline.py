"""The gate's steps as plain functions: prepare -> evaluate -> register -> decide -> promote/reject -> audit.

Prefect flows in ``flows/`` and the CLI call these; nothing here imports Prefect. Every step that
changes state appends an audit event. Any error ends in :class:`GateError` with an audit event and
no alias moved (fail closed).
"""

from __future__ import annotations

import json
import logging
import platform
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectgate import __version__
from affectgate.audit import AuditLog
from affectgate.audit.chain import sha256_hex
from affectgate.datasets.dfew import DFEWSplit, is_synthetic, load_dfew_split, loaded_from_splits
from affectgate.datasets.digest import dir_digest
from affectgate.datasets.face_screening import SCREENING_FILE, FaceScreening, screen_faces
from affectgate.datasets.paths import is_outside
from affectgate.datasets.selection import (
    EvalSplit,
    check_labels_scorable,
    check_media_present,
    group_table,
    resolve_selection,
    select_for_gate,
)
from affectgate.datasets.validation import ValidationReport, validate_dataset
from affectgate.errors import AffectgateError, DataError
from affectgate.evaluators import ModelInputs, Suite, load_suite, needs_model, run_evaluator
from affectgate.evaluators.drift import pop_drift_html
from affectgate.inference import (
    InferenceOutput,
    is_engagement_card,
    predict_engagement,
    predict_samples,
    predict_split,
    write_predictions,
)
from affectgate.policy import decide, load_context, load_packs
from affectgate.policy.loader import PolicyPack
from affectgate.policy.schema import Baseline
from affectgate.records import Candidate, DatasetSpec, EvalReport, EvalResult, PolicyDecision, UseContext
from affectgate.registry import MlflowRegistry
from affectgate.registry.mlflow_registry import PREDICTIONS_ARTIFACT_DIR, VersionRef
from affectgate.settings import Settings
from affectgate.zoo.external import (
    ExternalPredictions,
    is_predictions_candidate,
    is_predictions_card,
    load_predictions_file,
    predictions_candidate,
)
from affectgate.zoo.runtime import load_candidate

SYNTHETIC_NOTICE = (
    "SYNTHETIC DATA: procedurally rendered faces, not real people; not evidence about real-world performance."
)

#: CLI / CI exit codes.
EXIT_PROMOTED, EXIT_BLOCKED, EXIT_REVIEW, EXIT_ERROR = 0, 1, 2, 3

_log = logging.getLogger(__name__)


class GateError(AffectgateError):
    """The gate stopped on an error: nothing was promoted."""


@dataclass(frozen=True)
class GateInputs:
    """Everything checked before any evaluation starts."""

    candidate: Candidate
    contexts: tuple[UseContext, ...]
    dataset: DatasetSpec
    split: DFEWSplit | EvalSplit  # DFEW's split as read, or the selection of any other format
    suite: Suite
    packs: tuple[PolicyPack, ...]
    validation: ValidationReport  # the Great Expectations suite that passed before evaluation
    table: pd.DataFrame | None = None  # targets and group attributes by sample id (non-DFEW formats)
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


def audit_log(settings: Settings) -> AuditLog:
    """The workspace's audit log."""
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    return AuditLog(path=settings.audit_path, hmac_key=settings.audit_hmac_key)


@lru_cache(maxsize=8)
def registry(settings: Settings) -> MlflowRegistry:
    """The workspace's MLflow registry (one client per settings; opening a store checks its schema)."""
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    return MlflowRegistry(tracking_uri=settings.tracking_uri, artifact_root=settings.artifact_root)


def inside(*, path: Path, root: Path) -> Path:
    """``path`` resolved, refusing anything outside ``root`` (path traversal, symlinks out)."""
    if is_outside(path=path, root=root):
        raise DataError(
            f"dataset path {path} is outside the data root {root.resolve()}",
            fix="put the dataset under the data root or set AFFECTGATE_DATA_ROOT",
        )
    return path.resolve()


# -- step 1: prepare ------------------------------------------------------------------------------
def prepare(
    *,
    settings: Settings,
    model: str,
    contexts: list[str],
    data: str,
    fold: int | None = None,
    suite: str = "release",
    require_context: bool = True,
    data_format: str = "dfew",
    split: str | None = None,
) -> GateInputs:
    """Check every input before anything is evaluated: model file and card, contexts, data, suite.

    ``data_format`` is a registered loader format (``affectgate data validate --format``); ``fold`` and
    ``split`` select what is evaluated (None: the format's default, e.g. DFEW fold 1 test,
    every CREMA-D clip). ``model`` is an export folder (model.onnx + card.yaml) or a predictions-file
    card (``affectgate.zoo.external``), whose file is validated against the selection here.
    ``require_context=False`` is for evaluation without a decision (`affectgate evaluate`).
    """
    policies_root = settings.project_root / "policies"
    ctx = tuple(load_context(root=policies_root, context_id=c) for c in contexts)
    if not ctx and require_context:
        raise GateError("no deployment context given", fix="pass --context ID (see policies/contexts/)")
    suite_spec = load_suite(folder=settings.project_root / "evaluators", name=suite)
    packs = load_packs(root=policies_root)
    model_path = settings.resolve(Path(model))
    card_path = model_path if is_predictions_card(model_path) else None
    candidate = None if card_path is not None else load_candidate(path=model_path)
    root = inside(path=settings.resolve(Path(data)), root=settings.data_dir)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}", fix="run `affectgate data synth` or pass --data")
    fold, split = resolve_selection(fmt=data_format, fold=fold, split=split)
    # strict load first (the first bad line raises, naming file and line); then the Great Expectations suite
    if data_format == "dfew":
        if split not in ("train", "test"):
            raise DataError(f"DFEW has no split {split!r}", fix="use --split test (or train)")
        assert fold is not None
        selection: DFEWSplit | EvalSplit = load_dfew_split(root=root, fold=fold, split=split)  # type: ignore[arg-type]
        loaded = loaded_from_splits(root=root, splits=[selection])
    else:
        loaded, selection = select_for_gate(fmt=data_format, root=root, fold=fold, split=split)
    groups = fairness_attributes(suite_spec)
    validation = validate_dataset(  # the selection just read, not read again
        loaded=loaded,
        data_root=settings.data_dir,
        require_groups=groups,
        fairness=bool(groups),
    )
    if not validation.success:
        where = (f" --fold {fold}" if fold is not None else "") + (
            f" --split {split}" if split and data_format != "dfew" else ""
        )
        raise DataError(
            f"data validation failed, nothing evaluated: {validation.summary()}",
            fix=f"run `affectgate data validate --format {data_format} {root}{where} --fairness` and fix the data",
        )
    if not selection.samples:
        raise DataError(f"test split set_{fold} of {root} is empty", fix="check the split CSV")
    table = group_table(loaded=loaded)
    external = None
    if card_path is not None:
        external = load_predictions_file(card_path=card_path, dataset=table)
        candidate = predictions_candidate(card_path=card_path, loaded=external)
    assert candidate is not None
    if "discrete_emotion" in candidate.card.output_kinds:
        check_labels_scorable(loaded=loaded)
    if is_engagement_card(candidate.card) != (data_format == "engagement"):
        raise DataError(
            f"{candidate.card.arch} ({', '.join(candidate.card.output_kinds)} outputs) cannot be scored on a "
            f"{data_format} set",
            fix="gate an engagement-signal model on an engagement set (--format engagement, --suite engagement), "
            "and an emotion model on a labelled set",
        )
    screening = None
    if external is None and isinstance(selection, EvalSplit):
        check_media_present(split=selection)
        if any(x.face_crop for x in selection.samples):
            selection, screening = screen_split(settings=settings, split=selection, candidate=candidate)
    spec = DatasetSpec(
        name=root.name,
        format=data_format,
        root=root,
        fold=fold,
        split=selection.split,
        digest=dir_digest(root=root),
        synthetic=is_synthetic(root=root),
        n_samples=len(selection.samples),
        face_crop=screening is not None,
        face_frames=screening.frames if screening is not None else {},
        face_rejected_samples=screening.rejected if screening is not None else (),
    )
    return GateInputs(
        candidate=candidate,
        contexts=ctx,
        dataset=spec,
        split=selection,
        suite=suite_spec,
        packs=packs,
        validation=validation,
        table=table if data_format != "dfew" or external is not None else None,
        external=external,
        card_path=card_path,
        face_screening=screening,
    )


def screen_split(*, settings: Settings, split: EvalSplit, candidate: Candidate) -> tuple[EvalSplit, FaceScreening]:
    """Face-crop every sample of a set that is not face-cropped (filling the clip cache at the model's input size);
    samples with no frame over the quality bar are left out and listed. DataError when none is left."""
    spec = candidate.card.input
    screening = screen_faces(
        samples=[(x.video_name, x.frame_dir) for x in split.samples],
        frames=spec.frames,
        size=spec.size,
        cache=settings.clip_cache_dir,
        workers=settings.ort_threads,  # the detector and decoders release the GIL: one thread per core
    )
    rejected = set(screening.rejected)
    kept = tuple(x for x in split.samples if x.video_name not in rejected)
    if not kept:
        raise DataError(
            f"no sample of {split.root} has a face over the quality bar: {screening.summary()}",
            fix="check that the media show faces, or declare face_cropped: true in datasheet.yaml if they are "
            "face crops already",
        )
    return split.model_copy(update={"samples": kept}), screening


def fairness_attributes(suite: Suite) -> list[str]:
    """Group attributes the suite's fairness evaluators need filled for every sample."""
    attrs: dict[str, None] = {}
    for entry in suite.evaluators:
        if entry.name == "fairness":
            for key in ("attributes", "gated_attributes"):
                value = entry.params.get(key) or []
                attrs.update(dict.fromkeys(value if isinstance(value, list) else [str(value)]))
    return list(attrs)


# -- step 2: evaluate -----------------------------------------------------------------------------
def evaluate(*, settings: Settings, inputs: GateInputs, target: str = "cpu") -> Evaluation:
    """Run inference once, every evaluator of the suite on its predictions, store the run folder, log to MLflow."""
    suite = inputs.suite
    cand, spec = inputs.candidate, inputs.dataset
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{cand.card.arch}-{uuid.uuid4().hex[:6]}"
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    validation_json = inputs.validation.model_dump_json(indent=2)
    (run_dir / "data_validation.json").write_text(validation_json, encoding="utf-8")
    log = audit_log(settings)
    log.append(
        actor=settings.actor,
        action="evaluation.started",
        subject=f"candidate:{cand.name} dataset:{spec.name} target:{target}",
        payload={
            "run_id": run_id,
            "onnx_sha256": cand.onnx_sha256,
            "candidate_kind": "predictions_file" if inputs.external is not None else "onnx",
            "dataset_format": spec.format,
            "dataset_digest": spec.digest,
            "suite": f"{suite.suite}@{suite.version}",
            "data_validation": {
                "suite": inputs.validation.suite,
                "success": inputs.validation.success,
                "gx_version": inputs.validation.gx_version,
                "sha256": sha256_hex(validation_json.encode("utf-8")),
            },
            "host": platform.node(),
            **(
                {"face_screening": {"frames": spec.face_frames, "rejected_samples": list(spec.face_rejected_samples)}}
                if inputs.face_screening is not None
                else {}
            ),
        },
    )
    if inputs.face_screening is not None:
        inputs.face_screening.table(inputs.table).to_csv(run_dir / SCREENING_FILE, index=False)
    out = run_inference(settings=settings, inputs=inputs, run_dir=run_dir)
    predictions_path = write_predictions(predictions=out.predictions, path=run_dir / "predictions.parquet")
    model_inputs = ModelInputs(
        candidate=cand,
        split=inputs.split,  # type: ignore[arg-type] - an EvalSplit has the fields the evaluators read
        threads=settings.ort_threads,
        batch_size=settings.batch_size,
        clip_cache=settings.clip_cache_dir,
    )
    results: list[EvalResult] = [
        not_applicable_result(name=e.name, params=e.params, why=why)
        if (why := not_applicable(candidate=cand, evaluator=e.name))
        else run_evaluator(name=e.name, predictions=out.predictions, params=e.params, model=model_inputs)
        for e in suite.evaluators
    ]
    report = EvalReport(
        run_id=run_id,
        candidate=cand.name,
        onnx_sha256=cand.onnx_sha256,
        dataset=spec,
        target=target,
        suite=suite.suite,
        suite_version=suite.version,
        results=tuple(results),
        synthetic_data=spec.synthetic,
        created=datetime.now(UTC),
        affectgate_version=__version__,
    )
    write_plots(results=results, run_dir=run_dir)
    drift_html = pop_drift_html()  # Evidently's report per window, when the suite ran the drift evaluator
    if drift_html:
        (run_dir / "drift").mkdir(exist_ok=True)
        for name, html in drift_html.items():
            (run_dir / "drift" / name).write_text(html, encoding="utf-8")
    report_json = report.model_dump_json(indent=2)
    (run_dir / "report.json").write_text(report_json, encoding="utf-8")
    lat = np.asarray(out.batch_latency_ms)
    (run_dir / "latency.json").write_text(
        json.dumps(
            {
                "batch_size": out.batch_size,
                "batch_latency_ms": list(out.batch_latency_ms),
                "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
                "host": platform.node(),
                "note": "includes decode; the latency evaluator measures model-only",
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    if spec.synthetic:
        (run_dir / "SYNTHETIC_DATA.txt").write_text(SYNTHETIC_NOTICE + "\n", encoding="utf-8")
    version = registry(settings).log_evaluation(
        candidate=cand, report=report, run_dir=run_dir, predictions_path=predictions_path
    )
    log.append(
        actor=settings.actor,
        action="evaluation.completed",
        subject=f"model:{version.name}/{version.version} dataset:{spec.name} target:{target}",
        payload={
            "run_id": run_id,
            "mlflow_run_id": version.run_id,
            "report_sha256": sha256_hex(report_json.encode("utf-8")),
            "evaluators": {r.evaluator: r.status for r in results},
            "synthetic_data": spec.synthetic,
        },
    )
    return Evaluation(report=report, run_dir=run_dir, predictions_path=predictions_path, version=version)


def run_inference(*, settings: Settings, inputs: GateInputs, run_dir: Path) -> InferenceOutput:
    """The predictions table: the predictions file's (no model run), DFEW's split, or any other format's selection.

    A predictions-file candidate's file and card are copied to the run folder's ``candidate/`` (logged
    with the MLflow run and the registered version's source).
    """
    if inputs.external is not None:
        folder = run_dir / PREDICTIONS_ARTIFACT_DIR
        folder.mkdir()
        assert inputs.card_path is not None
        for src in (inputs.card_path, inputs.external.path):
            (folder / src.name).write_bytes(src.read_bytes())
        return InferenceOutput(predictions=inputs.external.predictions, batch_latency_ms=(), batch_size=0)
    if isinstance(inputs.split, DFEWSplit):
        return predict_split(
            candidate=inputs.candidate,
            split=inputs.split,
            batch_size=settings.batch_size,
            threads=settings.ort_threads,
            cache=settings.clip_cache_dir,
        )
    assert inputs.table is not None and isinstance(inputs.split, EvalSplit)
    predict = predict_engagement if is_engagement_card(inputs.candidate.card) else predict_samples
    return predict(
        candidate=inputs.candidate,
        split=inputs.split,
        table=inputs.table,
        batch_size=settings.batch_size,
        threads=settings.ort_threads,
        cache=settings.clip_cache_dir,
    )


def not_applicable(*, candidate: Candidate, evaluator: str) -> str | None:
    """Why an evaluator of the suite cannot run on this candidate (it is then ``skipped`` with the reason), or None.

    Evaluators that run the model themselves (latency, robustness, int8 drop, drift's clip statistics)
    have no model session for a predictions file. Robustness compares class predictions (an
    engagement-signal model has none; an audio-visual model gets its audio beside the clips). The
    policy packs treat a skipped evaluator as missing evidence where a context requires it
    (quality.evidence.required_evaluators, euaia.art15.robustness).
    """
    try:
        runs_model = needs_model(evaluator)
    except KeyError:
        return None  # run_evaluator reports the unknown name as a failed result
    if not runs_model:
        return None
    if is_predictions_candidate(candidate):
        return (
            f"not applicable to a predictions-file candidate: the {evaluator} evaluator runs the model itself, "
            "and a predictions file has no model session to run"
        )
    if evaluator == "int8_drop" and candidate.precision != "int8":
        return None  # it skips itself: an fp32 candidate has no int8 drop
    if is_engagement_card(candidate.card) and evaluator in CLASS_EVALUATORS:
        return (
            f"not applicable to an engagement-signal candidate: the {evaluator} evaluator compares class "
            f"predictions (WAR), and {candidate.card.arch} has no emotion output"
        )
    return None


#: Evaluators that compare class predictions (WAR): not for an engagement-signal model (the int8 drop
#: measures its MAE increase instead). They feed an audio-visual model its audio too.
CLASS_EVALUATORS = ("robustness",)


def not_applicable_result(*, name: str, params: Mapping[str, Any], why: str) -> EvalResult:
    """A ``skipped`` result saying why the evaluator does not apply (never a silent omission)."""
    return EvalResult(
        evaluator=name,
        status="skipped",
        error=why,
        params={k: v for k, v in params.items() if isinstance(v, str | int | float | bool) or v is None},
    )


def write_plots(*, results: list[EvalResult], run_dir: Path) -> None:
    """Confusion matrices as PNG next to the report (logged with the MLflow run); a plot error is only logged."""
    from affectgate.evaluators.plots import write_confusion_png

    for result in results:
        if result.status == "ok" and result.confusion is not None:
            try:
                write_confusion_png(result, run_dir / f"confusion.{result.evaluator}.png")
            except Exception as exc:  # noqa: BLE001 - a plot is a convenience; the numbers are in report.json
                _log.warning("could not plot the confusion matrix of %s: %s", result.evaluator, exc)


# -- step 3: decide -------------------------------------------------------------------------------
def regression_baseline(
    *, settings: Settings, evaluation: Evaluation, context_id: str
) -> tuple[Baseline | None, dict[str, float]]:
    """The version holding the context's alias and, when it was evaluated on the same data, the UAR delta.

    The delta (candidate UAR minus holder UAR) is only computed on the same dataset digest: numbers
    from different data are not comparable, so the non-regression rule then errors (human review).
    """
    version = evaluation.version
    reg = registry(settings)
    holder = reg.alias_version(name=version.name, context_id=context_id)
    if holder is None or holder == version.version:
        return None, {}
    baseline = Baseline(name=version.name, version=holder)
    tags = reg.version_tags(name=version.name, version=holder)
    cand_uar = evaluation.report.metric("uar")
    holder_uar = reg.version_metrics(name=version.name, version=holder).get("uar")
    if tags.get("dataset_digest") != evaluation.report.dataset.digest or holder_uar is None or cand_uar is None:
        return baseline, {}
    if cand_uar.value is None:
        return baseline, {}
    return baseline, {"regression.uar_delta": float(cand_uar.value) - float(holder_uar)}


def decide_context(
    *, settings: Settings, inputs: GateInputs, evaluation: Evaluation, context_id: str, as_of: date | None = None
) -> PolicyDecision:
    """The pure policy decision for one context, recorded as an audit event."""
    context = next(c for c in inputs.contexts if c.id == context_id)
    baseline, gate_metrics = regression_baseline(settings=settings, evaluation=evaluation, context_id=context_id)
    decision = decide(
        context=context,
        card=inputs.candidate.card,
        onnx_outputs=inputs.candidate.onnx_outputs,
        report=evaluation.report,
        packs=inputs.packs,
        as_of=as_of or datetime.now(UTC).date(),
        precision=inputs.candidate.precision,
        baseline=baseline,
        gate_metrics=gate_metrics,
    )
    (evaluation.run_dir / f"decision.{context_id}.json").write_text(
        decision.model_dump_json(indent=2), encoding="utf-8"
    )
    audit_log(settings).append(
        actor=settings.actor,
        action="decision.made",
        subject=f"model:{evaluation.version.name}/{evaluation.version.version} context:{context_id}",
        payload={
            "verdict": decision.verdict,
            "as_of": decision.as_of.isoformat(),
            "pack_digests": decision.pack_digests,
            "run_id": evaluation.report.run_id,
            "outcomes": {o.rule_id: o.status for o in decision.outcomes},
            "reasons": [f"{o.rule_id} ({o.article}): {o.message}" for o in decision.reasons],
        },
    )
    return decision


# -- step 4: promote or reject --------------------------------------------------------------------
def apply_decision(*, settings: Settings, evaluation: Evaluation, decision: PolicyDecision) -> GateResult:
    """Move the context alias only on allow; tag the version either way; audit the promotion or rejection."""
    log = audit_log(settings)
    reg = registry(settings)
    head = log.head()
    head_digest = head[1] if head else ""
    version = evaluation.version
    promoted = reg.record_decision(version=version, decision=decision, report=evaluation.report, audit_head=head_digest)
    holder = reg.alias_version(name=version.name, context_id=decision.context_id)
    log.append(
        actor=settings.actor,
        action="promotion" if promoted else "rejection",
        subject=f"model:{version.name}/{version.version} context:{decision.context_id}",
        payload={
            "alias": decision.context_id if promoted else None,
            "alias_holder_after": holder,
            "verdict": decision.verdict,
            "run_id": evaluation.report.run_id,
        },
    )
    report = evaluation.report
    metrics = {
        name: (m.value if (m := report.metric(name)) else None)
        for name in (
            "war",
            "uar",
            "fairness.accuracy_max_gap",
            "fairness.error_max_gap",
            "int8.war_drop",
            "int8.attention_mae_increase",
        )
    }
    for name in ("fairness.accuracy_max_gap", "fairness.error_max_gap"):
        gap = report.metric(name)
        metrics[f"{name}.ci_low"] = gap.ci_low if gap else None
        metrics[f"{name}.ci_high"] = gap.ci_high if gap else None
    return GateResult(
        context_id=decision.context_id,
        verdict=decision.verdict,
        promoted=promoted,
        model=version.name,
        version=version.version,
        alias_holder=holder,
        reasons=tuple(f"{o.rule_id} [{o.article}]: {o.message}" for o in decision.reasons),
        reason_rules=tuple(f"{o.rule_id} [{o.article}]" for o in decision.reasons),
        metrics=metrics,
        synthetic_data=report.synthetic_data,
        run_id=report.run_id,
        data_notes=data_notes(report.dataset),
    )


def data_notes(spec: DatasetSpec) -> tuple[str, ...]:
    """One line on the face crops of a set that is not face-cropped: frames over the bar and clips left out."""
    if not spec.face_crop:
        return ()
    f = spec.face_frames
    rejected = sum(v for k, v in f.items() if k != "ok")
    left = spec.face_rejected_samples
    return (
        f"faces detected and cropped (the media are not face crops): {f.get('ok', 0)} of {sum(f.values())} frames "
        f"over the quality bar, {rejected} rejected ("
        + ", ".join(f"{k} {v}" for k, v in f.items() if k != "ok")
        + f"); {len(left)} clip(s) without a usable face left out of the evaluation"
        + (f": {', '.join(left[:5])}{' …' if len(left) > 5 else ''}" if left else "")
        + " (face_screening.csv in the run folder)",
    )


def record_error(*, settings: Settings, error: BaseException, subject: str) -> None:
    """Audit a gate error (best effort: an unwritable audit log must not hide the original error)."""
    try:
        audit_log(settings).append(
            actor=settings.actor,
            action="gate.error",
            subject=subject,
            payload={"error": str(error), "type": type(error).__name__, "promoted": False},
        )
    except Exception as exc:  # pragma: no cover - the original error is what the user needs to see
        _log.warning("could not audit the gate error on %s: %s", subject, exc)


@dataclass(frozen=True)
class Steps:
    """The step functions run_gate calls; the Prefect flow passes task-wrapped versions of the same."""

    prepare: Callable[..., GateInputs] = prepare
    evaluate: Callable[..., Evaluation] = evaluate
    decide_context: Callable[..., PolicyDecision] = decide_context
    apply_decision: Callable[..., GateResult] = apply_decision


def run_gate(
    *,
    settings: Settings,
    model: str,
    contexts: list[str],
    data: str,
    fold: int | None = None,
    suite: str = "release",
    as_of: date | None = None,
    steps: Steps | None = None,
    data_format: str = "dfew",
    split: str | None = None,
) -> list[GateResult]:
    """All steps in order; plain functions by default, Prefect tasks when the flow passes them.

    ``data_format``/``fold``/``split``: see :func:`prepare` (None: the format's default selection).
    """
    steps = steps or Steps()
    subject = f"model:{model} contexts:{','.join(contexts)}"
    if data_format != "dfew":
        subject += f" format:{data_format}"
    try:
        inputs = steps.prepare(
            settings=settings,
            model=model,
            contexts=contexts,
            data=data,
            fold=fold,
            suite=suite,
            data_format=data_format,
            split=split,
        )
        evaluation = steps.evaluate(settings=settings, inputs=inputs)
        results = []
        for ctx in inputs.contexts:
            decision = steps.decide_context(
                settings=settings, inputs=inputs, evaluation=evaluation, context_id=ctx.id, as_of=as_of
            )
            results.append(steps.apply_decision(settings=settings, evaluation=evaluation, decision=decision))
        return results
    except AffectgateError as exc:
        record_error(settings=settings, error=exc, subject=subject)
        raise
    except Exception as exc:
        record_error(settings=settings, error=exc, subject=subject)
        raise GateError(
            f"gate failed: {type(exc).__name__}: {exc}", fix="see the audit log; nothing was promoted"
        ) from exc
