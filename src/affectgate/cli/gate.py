"""``affectgate gate`` and ``affectgate evaluate``. Exit codes of ``gate``: 0 promoted, 1 blocked, 2 review, 3 error."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from affectgate.core.errors import AffectgateError
from affectgate.datasets.selection import gate_formats, parse_label_map
from affectgate.gate.family import read_summary, summary_lines
from affectgate.gate.results import SYNTHETIC_NOTICE, GateResult, combined_exit_code, data_notes
from affectgate.project.settings import Settings, get_settings

if TYPE_CHECKING:
    pass
from affectgate.cli.common import FaceDetectorOption, console, fail, use_setting

commands = typer.Typer()  # top-level commands; attached to the app in affectgate.cli


# -- gate ----------------------------------------------------------------------------------------
def run_gate_command(
    *,
    settings: Settings,
    model: str,
    contexts: list[str],
    data: str,
    fold: int | None,
    suite: str,
    as_of: str | None,
    plain: bool,
    wait_for_review: int = 0,
    data_format: str = "dfew",
    split: str | None = None,
    label_map: str | None = None,
) -> list[GateResult]:
    """Run the release gate through the Prefect flow (default) or as plain functions.

    ``label_map`` is the ``--label-map`` text (``contempt=drop,...``; see ``selection.parse_label_map``).

    ``wait_for_review`` > 0: a ``review`` verdict pauses the flow up to that many seconds for a sign-off.
    """
    if plain and wait_for_review > 0:
        raise AffectgateError(
            "--wait-for-review needs the Prefect flow (the flow run is what pauses)", fix="drop --plain"
        )
    if plain:
        from affectgate.gate.run import run_gate

        return run_gate(
            settings=settings,
            model=model,
            contexts=contexts,
            data=data,
            fold=fold,
            suite=suite,
            as_of=date.fromisoformat(as_of) if as_of else None,
            data_format=data_format,
            split=split,
            label_map=parse_label_map(label_map),
        )
    from affectgate.orchestration.prefect import get_flow

    flow = get_flow(settings=settings, module="release_gate", flow="release_gate")
    return flow(
        model=model,
        contexts=contexts,
        data=data,
        fold=fold,
        suite=suite,
        as_of=as_of,
        review_timeout_s=wait_for_review,
        data_format=data_format,
        split=split,
        **({"label_map": label_map} if label_map else {}),
    )


def print_results(results: list[GateResult], *, settings: Settings) -> None:
    """The summary table (context, verdict, alias, key metrics, rule ids with articles), then each reason in full."""
    if any(r.synthetic_data for r in results):
        console.print(f"[bold yellow]{SYNTHETIC_NOTICE}[/]")
    for note in dict.fromkeys(n for r in results for n in r.data_notes):
        console.print(f"[bold]data:[/] {note}")
    table = Table(
        "context", "verdict", "alias", "WAR", "UAR", "group gap (95% CI)", "rules that fired", show_lines=True
    )

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    def gap(r: GateResult) -> str:
        value, lo, hi, kind = r.group_gap
        ci = f" ({fmt(lo)}-{fmt(hi)})" if lo is not None and hi is not None else ""
        return fmt(value) + ci + (f" {kind}" if kind else "")

    for r in results:
        style = {"allow": "green", "block": "red"}.get(r.verdict, "yellow")
        alias = (
            f"{r.context_id} -> v{r.version}"
            if r.promoted
            else (f"unchanged (v{r.alias_holder})" if r.alias_holder else "not set")
        )
        verdict = f"[{style}]{r.verdict}[/]"
        if r.signoff is not None:
            verdict += f"\n{'approved' if r.signoff == 'approve' else 'rejected'} by {r.signoff_by}"
        table.add_row(
            r.context_id,
            verdict,
            alias,
            fmt(r.metrics.get("war")),
            fmt(r.metrics.get("uar")),
            gap(r),
            "\n".join(r.reason_rules) or "all rules pass",
        )
    console.print(table)
    family = read_summary(settings.runs_dir / results[0].run_id) if results and results[0].run_id else None
    if family is not None:  # a model family: per-fold rows, the mean of folds, the worst fold, the paper figures
        for line in summary_lines(family):
            console.print(line, soft_wrap=True, highlight=False)
    for r in results:
        if r.reasons:
            console.print(f"[bold]{r.context_id}[/] ({r.verdict}), why:")
            for reason in r.reasons:
                console.print(f"  - {reason}", soft_wrap=False)
    console.print(f"MLflow store: {settings.tracking_uri}")
    console.print(f"audit log:    {settings.audit_path}  (verify: affectgate audit verify)")


#: ``--format`` help: the registered loader formats (the gate evaluates any of them).
_FORMAT_HELP = "Dataset format, a registered loader: " + ", ".join(gate_formats()) + " (unknown: exit 3)."
_FOLD_HELP = "Fold to evaluate (DFEW set_N, RAVDESS/MAFW fold, manifest fold column); default: the format's (DFEW 1)."
_SPLIT_HELP = "Split to evaluate (test, train, validation, all); default: the format's (test, or every sample)."
_MODEL_HELP = (
    "Export folder with model.onnx + card.yaml (or the .onnx file), a predictions-file card (YAML), or a model "
    "family (a folder with family.yaml: one export per fold, each scored on its own fold's test split)."
)
_LABEL_MAP_HELP = (
    "Declared map of dataset classes into the model's label space, e.g. contempt=drop,anxiety=drop (drop: leave "
    "the class out, the dropped share is reported) or from=to; overlays the datasheet's label_map."
)


@commands.command("gate")
def gate(
    model: Annotated[str, typer.Option(help=_MODEL_HELP)],
    context: Annotated[list[str], typer.Option(help="Deployment context id (policies/contexts/); repeatable.")],
    data: Annotated[str, typer.Option(help="Dataset folder inside the data root.")] = "data/synth_dfew",
    data_format: Annotated[str, typer.Option("--format", "--data-format", help=_FORMAT_HELP)] = "dfew",
    fold: Annotated[int | None, typer.Option(help=_FOLD_HELP)] = None,
    split: Annotated[str | None, typer.Option(help=_SPLIT_HELP)] = None,
    label_map: Annotated[str | None, typer.Option(help=_LABEL_MAP_HELP)] = None,
    suite: Annotated[str, typer.Option(help="Evaluation suite (evaluators/<suite>.yaml).")] = "release",
    as_of: Annotated[str | None, typer.Option(help="Evaluate the rules as of this date (YYYY-MM-DD).")] = None,
    plain: Annotated[bool, typer.Option(help="Run the steps without Prefect.")] = False,
    junit: Annotated[
        Path | None, typer.Option(help="Write JUnit XML: a test case per rule and context, and per evaluator.")
    ] = None,
    summary: Annotated[Path | None, typer.Option(help="Write a Markdown summary for a pull-request comment.")] = None,
    wait_for_review: Annotated[
        int,
        typer.Option(
            help="Seconds a `review` verdict pauses the flow for a compliance officer's sign-off "
            "(dashboard or `affectgate review sign`); 0: don't wait, exit 2."
        ),
    ] = 0,
    submitter: Annotated[
        str | None,
        typer.Option(
            help="Demo workspace only: the person submitting this run, unauthenticated. Elsewhere the submitter is "
            "the `affectgate login` token or the CI provider's OIDC token; without one the release goes to review."
        ),
    ] = None,
    face_detector: FaceDetectorOption = None,
) -> None:
    """Gate a model for deployment contexts. Exit 0 promoted, 1 blocked, 2 needs review, 3 error.

    With --wait-for-review a signed-off review exits 0 (approved, alias moved) or 1 (rejected).
    """
    use_setting("submitter", submitter)
    use_setting("face_detector", face_detector)
    settings = get_settings()
    try:
        results = run_gate_command(
            settings=settings,
            model=model,
            contexts=context,
            data=data,
            fold=fold,
            suite=suite,
            as_of=as_of,
            plain=plain,
            wait_for_review=wait_for_review,
            data_format=data_format,
            split=split,
            label_map=label_map,
        )
    except AffectgateError as exc:
        raise fail(exc) from None
    except Exception as exc:  # a Prefect or library failure: still exit 3 with the cause
        raise fail(exc) from None
    print_results(results, settings=settings)
    if junit is not None or summary is not None:
        from affectgate.gate import ci_report

        report, decisions = ci_report.load_run(run_dir=settings.runs_dir / results[0].run_id, contexts=context)
        if junit is not None:
            junit.write_text(ci_report.junit_xml(results=results, decisions=decisions, report=report), encoding="utf-8")
            console.print(f"JUnit XML: {junit}")
        if summary is not None:
            text = ci_report.markdown_summary(
                results=results,
                decisions=decisions,
                report=report,
                family=read_summary(settings.runs_dir / results[0].run_id),
            )
            summary.write_text(text, encoding="utf-8")
            console.print(f"Markdown summary: {summary}")
    raise typer.Exit(combined_exit_code(results))


@commands.command("evaluate")
def evaluate_command(
    candidate: Annotated[str, typer.Option(help=_MODEL_HELP)],
    dataset: Annotated[str, typer.Option(help="Dataset folder inside the data root.")] = "data/synth_dfew",
    suite: Annotated[str, typer.Option(help="Evaluation suite (evaluators/<suite>.yaml).")] = "release",
    fold: Annotated[int | None, typer.Option(help=_FOLD_HELP)] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json (the report).")] = "table",
    data_format: Annotated[
        str, typer.Option("--data-format", help=_FORMAT_HELP + " Here --format is the output format.")
    ] = "dfew",
    split: Annotated[str | None, typer.Option(help=_SPLIT_HELP)] = None,
    label_map: Annotated[str | None, typer.Option(help=_LABEL_MAP_HELP)] = None,
    face_detector: FaceDetectorOption = None,
) -> None:
    """Evaluate a candidate with a suite: run folder, MLflow run, audit events; no decision, no promotion."""
    from affectgate import gate as pipeline

    if output_format not in ("table", "json"):
        raise fail(AffectgateError(f"unknown format {output_format!r}", fix="use table or json"))
    use_setting("face_detector", face_detector)
    settings = get_settings()
    subject = f"candidate:{candidate} dataset:{dataset}"
    try:
        inputs = pipeline.prepare(
            settings=settings,
            model=candidate,
            contexts=[],
            data=dataset,
            fold=fold,
            suite=suite,
            require_context=False,
            data_format=data_format,
            split=split,
            label_map=parse_label_map(label_map),
        )
        evaluation = pipeline.evaluate(settings=settings, inputs=inputs)
    except AffectgateError as exc:
        pipeline.record_error(settings=settings, error=exc, subject=subject)
        raise fail(exc) from None
    except Exception as exc:
        pipeline.record_error(settings=settings, error=exc, subject=subject)
        raise fail(exc) from None
    report = evaluation.report
    if output_format == "json":
        typer.echo(report.model_dump_json(indent=2))
        raise typer.Exit(1 if any(r.status == "failed" for r in report.results) else 0)
    print_report(report, run_dir=evaluation.run_dir, version=f"{evaluation.version.name} v{evaluation.version.version}")
    raise typer.Exit(1 if any(r.status == "failed" for r in report.results) else 0)


def print_report(report, *, run_dir: Path, version: str) -> None:  # noqa: ANN001 - EvalReport
    """Every measurement with its interval, direction, averaging and finding; failed/skipped evaluators with why."""
    if report.synthetic_data:
        console.print(f"[bold yellow]{SYNTHETIC_NOTICE}[/]")
    for note in data_notes(report.dataset):
        console.print(f"[bold]data:[/] {note}", highlight=False, soft_wrap=True)
    table = Table("evaluator", "measurement", "group", "label", "value", "95% CI", "n", "better", "averaging / finding")
    table.columns[1].no_wrap = True  # metric names are identifiers (policy rules quote them): never split

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4g}"

    for result in report.results:
        if result.status != "ok":
            style = "red" if result.status == "failed" else "yellow"
            table.add_row(
                result.evaluator, f"[{style}]{result.status.upper()}[/]", "", "", "", "", "", "", result.error or ""
            )
            continue
        for m in result.measurements:
            ci = f"{fmt(m.ci_low)}-{fmt(m.ci_high)}" if m.ci_low is not None and m.ci_high is not None else ""
            table.add_row(
                result.evaluator,
                m.name,
                m.group or "",
                m.label or "",
                fmt(m.value),
                ci,
                str(m.n),
                "higher" if m.higher_is_better else "lower",
                m.averaging,
            )
    console.print(table)
    console.print(
        f"suite {report.suite}@{report.suite_version} on {report.dataset.name} (digest {report.dataset.digest}), "
        f"target {report.target}; MLflow: {version}; run folder: {run_dir}"
    )
