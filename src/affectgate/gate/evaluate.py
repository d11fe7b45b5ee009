"""Gate step 2, evaluate: inference once, every evaluator of the suite on its predictions, the run folder, the
MLflow run.
"""

from __future__ import annotations

import json
import platform
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from affectgate import __version__
from affectgate.audit.chain import sha256_hex
from affectgate.core.records import Candidate, EvalReport, EvalResult
from affectgate.datasets.face_screening import SCREENING_FILE
from affectgate.evaluators import ModelInputs, needs_model, run_evaluator
from affectgate.evaluators.drift import pop_drift_html
from affectgate.gate.results import SYNTHETIC_NOTICE, Evaluation, GateInputs
from affectgate.gate.workspace import _log, audit_log, registry
from affectgate.inference.predict import (
    InferenceOutput,
    is_engagement_card,
    predict_engagement,
    predict_samples,
    write_predictions,
)
from affectgate.project.settings import Settings
from affectgate.registry.mlflow_registry import PREDICTIONS_ARTIFACT_DIR
from affectgate.zoo.external import (
    is_predictions_candidate,
)


# -- step 2: evaluate -----------------------------------------------------------------------------
def evaluate(*, settings: Settings, inputs: GateInputs, target: str = "cpu") -> Evaluation:
    """Run inference once, every evaluator of the suite on its predictions, store the run folder, log to MLflow."""
    suite = inputs.suite
    cand, spec = inputs.candidate, inputs.dataset
    from affectgate.oversight.identity import lineage_of_folder, resolve_submitter

    submitter = resolve_submitter(settings)  # an authenticated person, or the service (the release then needs review)
    lineage = lineage_of_folder(cand.onnx_path.parent)
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{cand.card.arch}-{uuid.uuid4().hex[:6]}"
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    validation_json = inputs.validation.model_dump_json(indent=2)
    (run_dir / "data_validation.json").write_text(validation_json, encoding="utf-8")
    log = audit_log(settings)
    log.append(
        actor=submitter.subject,
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
                "subjects": inputs.validation.subjects,
                "cluster_assumption": inputs.validation.cluster_assumption,
                "fairness_judgeable": inputs.validation.fairness_judgeable,
            },
            "host": platform.node(),
            "submitter": submitter.model_dump(mode="json"),
            "lineage": lineage.model_dump(mode="json"),
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
        split=inputs.split,
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
        submitter=submitter.subject,
        submitter_kind=submitter.kind,
        submitter_method=submitter.method,
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
    """The predictions table: the predictions file's (no model run), else the model run on the selection.

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
    assert inputs.table is not None
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
