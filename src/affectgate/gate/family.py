"""Model families and the cross-fold protocol: one model per fold, each scored on its own fold's test split.

DFEW and MAFW papers report the mean of five per-fold scores, each fold scored by the model trained
on that fold's train split. A *family* is that candidate: a folder holding ``family.yaml`` and one
export folder per fold (``model.onnx`` + ``card.yaml`` each)::

    family.yaml          name: mobilenet_v2_frame-dfew
                         card: card.yaml          # the family's one card (optional: fold 1's)
                         split: test
                         folds: {1: fold_1, 2: fold_2, 3: fold_3, 4: fold_4, 5: fold_5}
    card.yaml            labels, input spec, paper figures (every fold's card must agree on labels/input)
    fold_1/model.onnx    ...

:func:`run_family_gate` prepares and evaluates every fold with the ordinary gate steps (each fold a
run folder, an MLflow run and a registered version of its own), then builds the family's report:

- ``accuracy`` on the stacked per-fold predictions (a ``fold`` column): per-fold rows
  (``group="fold=N"``), ``<metric>.fold_mean`` with a 95 % Student-t interval over the folds,
  ``<metric>.fold_std`` and ``<metric>.fold_worst`` (:mod:`affectgate.evaluators.accuracy`);
- every other evaluator: each measurement's **worst fold** (in the metric's direction; None when any
  fold has none), a failed or skipped fold making the family's result failed/skipped (fail closed).

The decision is made once per context on that report (the policy pack says whether it reads the
mean or the worst fold: ``war.fold_mean``, ``uar.fold_worst`` ...). ``family.json`` in the family's
run folder holds the per-fold rows, the mean with its interval, the worst fold and the card's paper
figures beside them (what `affectgate gate` and the Markdown summary print).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from affectgate import __version__
from affectgate.audit.chain import sha256_hex
from affectgate.core.errors import ModelError
from affectgate.core.records import Candidate, EvalReport, EvalResult, Measurement, ModelCard, PaperFigure
from affectgate.evaluators import run_evaluator
from affectgate.gate.results import Evaluation, GateError, GateInputs, GateResult
from affectgate.gate.workspace import audit_log, registry
from affectgate.inference.predict import write_predictions
from affectgate.project.settings import Settings
from affectgate.zoo.card import load_card

FAMILY_FILE = "family.yaml"
FAMILY_REPORT = "family.json"
#: Headline metrics printed per fold (the papers' columns).
FOLD_METRICS = ("war", "uar")


class FamilySpec(BaseModel):
    """``family.yaml``: a candidate made of one export per fold, with one card."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, description="Registered model name of the family.")
    card: str = Field(default="card.yaml", description="The family's card, relative to the folder (else fold 1's).")
    protocol: str = Field(default="cross_fold", description="cross_fold: fold k's model scores fold k's test split.")
    split: str = Field(default="test", description="Split of each fold that its model is scored on.")
    folds: dict[int, str] = Field(min_length=1, description="Fold number -> export folder, relative to the folder.")


@dataclasses.dataclass(frozen=True)
class Family:
    """A loaded family: its spec, its one card and each fold's export folder."""

    root: Path
    spec: FamilySpec
    card: ModelCard
    folds: dict[int, Path]


class FoldRow(BaseModel):
    """One fold's row: the model that scored it and its headline numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    fold: int = Field(description="Fold number.")
    run_id: str = Field(description="The fold's own run folder.")
    model: str = Field(description="Registered name/version of the fold's model.")
    n: int = Field(ge=0, description="Samples of the fold's test split scored.")
    metrics: dict[str, float | None] = Field(description="Headline metrics of the fold (WAR, UAR).")


class FamilySummary(BaseModel):
    """``family.json``: per-fold rows, mean of folds with its interval, the worst fold, the paper figures beside."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    family: str = Field(description="Family name.")
    arch: str = Field(description="Architecture of the family's card.")
    protocol: str = Field(description="Protocol (cross_fold).")
    dataset: str = Field(description="Dataset name and format.")
    folds: tuple[FoldRow, ...] = Field(description="One row per fold.")
    mean: dict[str, float | None] = Field(description="Mean of the per-fold scores (the papers' number).")
    ci: dict[str, tuple[float | None, float | None]] = Field(
        description="95 % Student-t interval for the mean over the folds (k-1 df; folds taken as independent draws)."
    )
    worst: dict[str, float | None] = Field(description="Worst fold per metric.")
    paper_figures: tuple[PaperFigure, ...] = Field(description="The card's figures from the literature (percent).")
    synthetic_data: bool = Field(description="True when the data are synthetic (the numbers say nothing of people).")


def is_family(path: Path) -> bool:
    """True when ``path`` is a family folder (holds ``family.yaml``) or the family.yaml itself."""
    return (path / FAMILY_FILE).is_file() or (path.name == FAMILY_FILE and path.is_file())


def load_family(*, path: Path) -> Family:
    """Read and check a family: every fold folder holds a model, every fold card agrees with the family card."""
    root = path.parent if path.name == FAMILY_FILE else path
    file = root / FAMILY_FILE
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        spec = FamilySpec.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        first = " ".join(str(exc).splitlines()[:3])
        raise ModelError(
            f"invalid model family {file}: {first}",
            fix="family.yaml needs name and folds (fold number: export folder), e.g. folds: {1: fold_1, 2: fold_2}",
        ) from None
    folds = {k: (root / rel).resolve() for k, rel in sorted(spec.folds.items())}
    for k, folder in folds.items():
        if not (folder / "model.onnx").is_file():
            raise ModelError(
                f"fold {k} of family {spec.name} has no model: {folder / 'model.onnx'}",
                fix=f"export fold {k}'s model there (`affectgate zoo train ARCH --folds all` writes a whole family)",
            )
    first = next(iter(folds.values()))
    card = load_card(path=root / spec.card) if (root / spec.card).is_file() else load_card(path=first / "card.yaml")
    for k, folder in folds.items():
        fold_card = load_card(path=folder / "card.yaml")
        if fold_card.labels != card.labels or fold_card.input != card.input:
            raise ModelError(
                f"fold {k} of family {spec.name} does not match the family card (labels or input spec differ)",
                fix="every fold of a family is the same architecture and recipe, trained on its own fold",
            )
    return Family(root=root, spec=spec, card=card, folds=folds)


def write_family(*, root: Path, name: str, folds: Mapping[int, Path], card: Path | None = None) -> Path:
    """Write ``family.yaml`` (and the family card, copied from ``card`` or fold 1's) for fold export folders."""
    root.mkdir(parents=True, exist_ok=True)
    rel = {int(k): Path(v).resolve().relative_to(root.resolve()).as_posix() for k, v in sorted(folds.items())}
    source = card or (Path(folds[min(folds)]) / "card.yaml")
    (root / "card.yaml").write_bytes(source.read_bytes())
    spec = FamilySpec(name=name, folds=rel)
    path = root / FAMILY_FILE
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return path


def _worst(values: list[Measurement]) -> Measurement:
    """The worst of one measurement across folds (None when any fold has none: fail closed)."""
    if any(m.value is None for m in values):
        chosen = next(m for m in values if m.value is None)
        return chosen.model_copy(update={"averaging": f"{chosen.averaging} — undefined on a fold".strip(" —")})
    pick = min if values[0].higher_is_better else max
    chosen = pick(values, key=lambda m: m.value)  # type: ignore[arg-type,return-value]
    return chosen


def merge_fold_results(*, name: str, results: Mapping[int, EvalResult]) -> EvalResult:
    """One evaluator's family result from its per-fold results: each measurement's worst fold; any failed or
    skipped fold makes the family's result failed / skipped, naming the fold."""
    for status in ("failed", "skipped"):
        bad = {k: r for k, r in results.items() if r.status == status}
        if bad:
            k, r = next(iter(bad.items()))
            if len(bad) == len(results) and len({x.error for x in bad.values()}) == 1:
                return r.model_copy(update={"measurements": ()})  # every fold alike (e.g. int8_drop of fp32 models)
            where = f"fold {k}" if len(bad) == 1 else f"folds {', '.join(map(str, bad))} (fold {k} shown)"
            return r.model_copy(update={"error": f"{where}: {r.error}", "measurements": ()})
    keyed: dict[tuple[str, str | None, str | None], list[Measurement]] = {}
    for r in results.values():
        for m in r.measurements:
            keyed.setdefault((m.name, m.group, m.label), []).append(m)
    merged = []
    for values in keyed.values():
        if len(values) != len(results):  # a measurement some fold lacks: undefined for the family
            merged.append(values[0].model_copy(update={"value": None, "ci_low": None, "ci_high": None}))
            continue
        m = _worst(values)
        merged.append(m.model_copy(update={"averaging": f"{m.averaging}; worst of {len(results)} folds".lstrip("; ")}))
    first = next(iter(results.values()))
    return first.model_copy(update={"measurements": tuple(merged), "confusion": None, "error": None})


def family_report_results(
    *, stacked: pd.DataFrame, fold_reports: Mapping[int, EvalReport], accuracy_params: Mapping[str, object]
) -> list[EvalResult]:
    """The family's results: accuracy over the stacked fold predictions, every other evaluator's worst fold."""
    first = next(iter(fold_reports.values()))
    out = []
    for result in first.results:
        if result.evaluator == "accuracy":
            out.append(run_evaluator(name="accuracy", predictions=stacked, params=dict(accuracy_params)))
        else:
            per_fold = {
                k: next(r for r in rep.results if r.evaluator == result.evaluator) for k, rep in fold_reports.items()
            }
            out.append(merge_fold_results(name=result.evaluator, results=per_fold))
    return out


def summarise(
    *, family: Family, report: EvalReport, rows: list[FoldRow], synthetic: bool, dataset: str
) -> FamilySummary:
    """``family.json`` from the family's report (mean, interval and worst fold of each headline metric)."""
    mean, ci, worst = {}, {}, {}
    for name in FOLD_METRICS:
        m = report.metric(f"{name}.fold_mean")
        w = report.metric(f"{name}.fold_worst")
        mean[name] = m.value if m else None
        ci[name] = (m.ci_low, m.ci_high) if m else (None, None)
        worst[name] = w.value if w else None
    return FamilySummary(
        family=family.spec.name,
        arch=family.card.arch,
        protocol=family.spec.protocol,
        dataset=dataset,
        folds=tuple(rows),
        mean=mean,
        ci=ci,
        worst=worst,
        paper_figures=family.card.paper_figures,
        synthetic_data=synthetic,
    )


def read_summary(run_dir: Path) -> FamilySummary | None:
    """The family summary of a run folder, or None for a single-model run."""
    path = run_dir / FAMILY_REPORT
    return FamilySummary.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None


def summary_lines(summary: FamilySummary, *, fmt_format: str = "") -> list[str]:
    """Plain-text lines of a family summary: per-fold rows, mean of folds with interval, worst, paper figures."""

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.2f}"

    lines = [f"family {summary.family} ({summary.arch}), {summary.protocol} on {summary.dataset}:"]
    lines.append("  fold      n    " + "  ".join(f"{m.upper():>7}" for m in FOLD_METRICS) + "   model")
    for row in summary.folds:
        vals = "  ".join(f"{pct(row.metrics.get(m)):>7}" for m in FOLD_METRICS)
        lines.append(f"  {row.fold:>4} {row.n:>6}    {vals}   {row.model} (run {row.run_id})")
    k = len(summary.folds)
    lines.append(
        f"  mean of {k} folds  "
        + "  ".join(
            f"{m.upper()} {pct(summary.mean.get(m))} [{pct(summary.ci[m][0])}, {pct(summary.ci[m][1])}]"
            for m in FOLD_METRICS
        )
        + f"  (95% t-interval over {k} folds, {k - 1} df; folds taken as independent)"
    )
    lines.append("  worst fold        " + "  ".join(f"{m.upper()} {pct(summary.worst.get(m))}" for m in FOLD_METRICS))
    bench = summary.dataset.split(" ")[-1].strip("()").lower()
    figures = [f for f in summary.paper_figures if f.benchmark.lower() == bench] or list(summary.paper_figures)
    for f in figures:
        lines.append(f"  paper: {f.benchmark} {f.metric} {f.value:.2f} ({f.source})")
    if not figures:
        lines.append("  paper: the card lists no paper figures")
    if summary.synthetic_data:
        lines.append("  SYNTHETIC DATA: these numbers say nothing about real people; do not compare them with papers")
    return lines


def _family_candidate(*, family: Family, fold_candidates: Mapping[int, Candidate]) -> Candidate:
    """The family as one registered candidate: its card, a digest over every fold's ONNX sha256.

    The registered version's model artifact is fold 1's graph (MLflow registers one model per version);
    every fold's own model is registered by its own fold evaluation.
    """
    first = fold_candidates[min(fold_candidates)]
    digest = sha256_hex(
        json.dumps({str(k): c.onnx_sha256 for k, c in sorted(fold_candidates.items())}, sort_keys=True).encode()
    )
    return first.model_copy(update={"name": family.spec.name, "card": family.card, "onnx_sha256": digest})


def run_family_gate(
    *,
    settings: Settings,
    model: str,
    contexts: list[str],
    data: str,
    suite: str = "release",
    as_of: date | None = None,
    steps: object,
    data_format: str = "dfew",
    fold: int | None = None,
    split: str | None = None,
    label_map: dict[str, str | None] | None = None,
) -> tuple[list[GateResult], Path]:
    """Gate a family: every fold's model on its own fold's test split, one decision per context on the family report.

    ``steps`` is :class:`affectgate.gate.run.Steps` (plain functions or Prefect tasks). Returns the
    per-context results and the family's run folder (``family.json``, ``report.json``, stacked predictions).
    """
    family = load_family(path=settings.resolve(Path(model)))
    if fold is not None:
        raise GateError(
            f"{family.spec.name} is a family of {len(family.folds)} fold models: it is scored on every fold",
            fix=f"drop --fold, or gate one fold's export folder ({family.folds[min(family.folds)]}) on its own",
        )
    split = split or family.spec.split
    fold_inputs: dict[int, GateInputs] = {}
    fold_evals: dict[int, Evaluation] = {}
    for k, folder in family.folds.items():
        fold_inputs[k] = steps.prepare(  # type: ignore[attr-defined]
            settings=settings,
            model=str(folder),
            contexts=contexts,
            data=data,
            fold=k,
            suite=suite,
            data_format=data_format,
            split=split,
            label_map=label_map,
        )
        fold_evals[k] = steps.evaluate(settings=settings, inputs=fold_inputs[k])  # type: ignore[attr-defined]
    evaluation, inputs = _family_evaluation(
        settings=settings, family=family, fold_inputs=fold_inputs, fold_evals=fold_evals
    )
    results = []
    for ctx in inputs.contexts:
        decision = steps.decide_context(  # type: ignore[attr-defined]
            settings=settings, inputs=inputs, evaluation=evaluation, context_id=ctx.id, as_of=as_of
        )
        results.append(steps.apply_decision(settings=settings, evaluation=evaluation, decision=decision))  # type: ignore[attr-defined]
    return results, evaluation.run_dir


def _family_evaluation(
    *, settings: Settings, family: Family, fold_inputs: dict[int, GateInputs], fold_evals: dict[int, Evaluation]
) -> tuple[Evaluation, GateInputs]:
    """Stack the fold predictions, build the family report and run folder, log it to MLflow and the audit log."""
    frames = []
    for k, ev in fold_evals.items():
        frame = pd.read_parquet(ev.predictions_path)
        frame.insert(0, "fold", k)
        frames.append(frame)
    stacked = pd.concat(frames, ignore_index=True)
    first_inputs = fold_inputs[min(fold_inputs)]
    acc_params = next((e.params for e in first_inputs.suite.evaluators if e.name == "accuracy"), {})
    results = family_report_results(
        stacked=stacked,
        fold_reports={k: ev.report for k, ev in fold_evals.items()},
        accuracy_params=acc_params,
    )
    specs = [inp.dataset for inp in fold_inputs.values()]
    dropped: dict[str, int] = {}
    for s in specs:
        for label, n in s.labels_dropped.items():
            dropped[label] = dropped.get(label, 0) + n
    base = specs[0]
    spec = base.model_copy(
        update={
            "fold": None,
            "n_samples": sum(s.n_samples for s in specs),
            "face_frames": {},
            "face_rejected_samples": tuple(x for s in specs for x in s.face_rejected_samples),
            "labels_dropped": dropped,
            "n_labelled_selected": sum(s.n_labelled_selected or 0 for s in specs) or None,
        }
    )
    candidate = _family_candidate(family=family, fold_candidates={k: i.candidate for k, i in fold_inputs.items()})
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{family.spec.name}-family-{uuid.uuid4().hex[:6]}"
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    report = EvalReport(
        run_id=run_id,
        candidate=candidate.name,
        onnx_sha256=candidate.onnx_sha256,
        dataset=spec,
        target=fold_evals[min(fold_evals)].report.target,
        suite=first_inputs.suite.suite,
        suite_version=first_inputs.suite.version,
        results=tuple(results),
        synthetic_data=spec.synthetic,
        created=datetime.now(UTC),
        affectgate_version=__version__,
    )
    predictions_path = write_predictions(predictions=stacked, path=run_dir / "predictions.parquet")
    (run_dir / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    (run_dir / "data_validation.json").write_text(
        json.dumps({str(k): json.loads(i.validation.model_dump_json()) for k, i in fold_inputs.items()}, indent=2),
        encoding="utf-8",
    )
    rows = [
        FoldRow(
            fold=k,
            run_id=ev.report.run_id,
            model=f"{ev.version.name}/{ev.version.version}",
            n=ev.report.dataset.n_samples,
            metrics={m: (x.value if (x := report.metric(m, group=f"fold={k}")) else None) for m in FOLD_METRICS},
        )
        for k, ev in fold_evals.items()
    ]
    summary = summarise(
        family=family, report=report, rows=rows, synthetic=spec.synthetic, dataset=f"{spec.name} ({spec.format})"
    )
    (run_dir / FAMILY_REPORT).write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    if spec.synthetic:
        from affectgate.gate.results import SYNTHETIC_NOTICE

        (run_dir / "SYNTHETIC_DATA.txt").write_text(SYNTHETIC_NOTICE + "\n", encoding="utf-8")
    version = registry(settings).log_evaluation(
        candidate=candidate, report=report, run_dir=run_dir, predictions_path=predictions_path
    )
    audit_log(settings).append(
        actor=settings.actor,
        action="evaluation.completed",
        subject=f"model:{version.name}/{version.version} dataset:{spec.name} family:{family.spec.name}",
        payload={
            "run_id": run_id,
            "mlflow_run_id": version.run_id,
            "report_sha256": sha256_hex(report.model_dump_json(indent=2).encode("utf-8")),
            "protocol": family.spec.protocol,
            "fold_runs": {str(k): ev.report.run_id for k, ev in fold_evals.items()},
            "evaluators": {r.evaluator: r.status for r in results},
            "synthetic_data": spec.synthetic,
        },
    )
    evaluation = Evaluation(report=report, run_dir=run_dir, predictions_path=predictions_path, version=version)
    inputs = dataclasses.replace(first_inputs, candidate=candidate, dataset=spec)
    return evaluation, inputs


__all__ = [
    "FAMILY_FILE",
    "Family",
    "FamilySpec",
    "FamilySummary",
    "FoldRow",
    "is_family",
    "load_family",
    "merge_fold_results",
    "read_summary",
    "run_family_gate",
    "summary_lines",
    "write_family",
]
