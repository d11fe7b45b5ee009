"""The ``affectgate`` command line (Typer). Exit codes of ``gate``: 0 promoted, 1 blocked, 2 review, 3 error."""

from __future__ import annotations

import sys
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from affectgate import __version__, review_cli
from affectgate.datasets import cli as data_cli
from affectgate.datasets.selection import gate_formats
from affectgate.errors import AffectgateError
from affectgate.pipeline import EXIT_ERROR, SYNTHETIC_NOTICE, GateResult, combined_exit_code
from affectgate.policy import cli as policy_cli
from affectgate.settings import Settings, get_settings

if TYPE_CHECKING:
    from affectgate.records import ModelCard

app = typer.Typer(
    help="affectgate: evaluate, check, decide, promote and audit video emotion models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(
    help="Datasets: generate synthetic sets, validate a dataset (Great Expectations), show DVC versions.",
    no_args_is_help=True,
)
zoo_app = typer.Typer(help="Model zoo: list, cards, train, export and quantise architectures.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit log: verify the hash chain, show and export events.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(zoo_app, name="zoo")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(review_cli.app, name="review")
registry_app = typer.Typer(help="MLflow registry: context aliases against the audit log.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
data_cli.register(data_app)

# Wide output when piped (CI logs, `make demo | tee`): rich would otherwise squeeze tables to 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

DEMO_CONTEXTS = ("eu-telehealth", "eu-classroom", "eu-callcentre-agents", "us-ad-testing")
DEMO_ARCH = "mobilenet_v2_frame"


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    err_console.print("nothing was promoted (exit 3)", style="dim")
    return typer.Exit(EXIT_ERROR)


def _version(value: bool) -> None:
    if value:
        console.print(f"affectgate {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """affectgate: evaluate -> check -> decide -> promote (or reject) -> audit."""


# -- data ----------------------------------------------------------------------------------------
def _synth(settings: Settings, out: Path | None, seed: int, tiny: bool) -> Path:
    from affectgate.datasets.synth import SynthConfig, generate_dfew

    cfg = SynthConfig(seed=seed) if not tiny else tiny_synth_config(seed=seed)
    root = (
        settings.resolve(out) if out is not None else settings.data_dir / ("synth_dfew_tiny" if tiny else "synth_dfew")
    )
    summary = generate_dfew(root=root, config=cfg)
    console.print(
        f"wrote {summary.n_clips} SYNTHETIC clips of {summary.n_subjects} subjects in the DFEW layout to {root}"
    )
    return root


#: Model config for the tiny set (tests and `demo --tiny`): smaller input, fewer epochs.
# 40 short epochs on 2 random frames of 4 (temporal augmentation): about 80 s on 2 cores; on the tiny
# set this reached 0.97-0.99 test accuracy with a skin-tone gap of 0.02-0.05 over three data seeds.
TINY_TRAIN_CONFIG: dict[str, object] = {"frames": 4, "size": 48, "epochs": 40, "train_frames": 2}


def tiny_synth_config(*, seed: int = 0):  # noqa: ANN201 - returns SynthConfig (imported lazily)
    """A tiny synthetic set for tests and quick runs (seconds to generate and train).

    Four folds, fully expressive faces, no occlusion, no drifted quarter and the bias knobs OFF
    (balanced groups, no lower-quality group), so a model trained in about a minute can pass on
    merit and the promotion path is exercised by real numbers. The demo-size default keeps the
    bias and drift knobs on.
    """
    from affectgate.datasets.synth import SynthConfig

    return SynthConfig(
        seed=seed,
        n_subjects=40,
        clips_per_subject=14,
        frames=4,
        image_size=48,
        folds=4,
        noise=2.0,
        jitter=0.5,
        occlusion=0.0,
        min_expressiveness=1.0,
        minority_subject_fraction=1 / 3,
        minority_train_keep=1.0,
        minority_low_quality=0.0,
        drift_quarters=(),
    )


SYNTH_LAYOUTS = ("dfew", "affwild2", "ravdess", "manifest", "engagement")


def _synth_other(settings: Settings, layout: str, out: Path | None, seed: int) -> Path:
    """The non-DFEW synthetic layouts (small by default), each marked synthetic in its datasheet."""
    from affectgate.datasets import synth
    from affectgate.datasets.synth.engagement import EngagementConfig, generate_engagement

    root = settings.resolve(out) if out is not None else settings.data_dir / f"synth_{layout}"
    if layout == "affwild2":
        aw = synth.generate_affwild2(root=root, config=synth.AffWild2SynthConfig(seed=seed))
        what = f"{len(aw.videos)} videos ({aw.n_lines} annotated frame lines, {aw.missing_frames} without an image)"
    elif layout == "ravdess":
        rv = synth.generate_ravdess(root=root, config=synth.AVSynthConfig(seed=seed))
        what = f"{rv.n_recordings} audio-visual recordings of {rv.n_actors} actors"
    elif layout == "manifest":
        mf = synth.generate_manifest_set(root=root, config=synth.ManifestSynthConfig(seed=seed))
        what = f"{mf.n_clips} clips of {mf.n_subjects} subjects with a manifest and datasheet"
    else:
        en = generate_engagement(root=root, config=EngagementConfig(seed=seed))
        what = f"{en.n_clips} engagement clips of {en.n_subjects} subjects ({en.n_train} train / {en.n_test} test)"
    console.print(f"wrote {what}, all SYNTHETIC, in the {layout} layout to {root}")
    return root


@data_app.command("synth")
def data_synth(
    out: Annotated[
        Path | None, typer.Option(help="Output folder; default <data root>/synth_<layout> (dfew: synth_dfew[_tiny]).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed; the same seed writes byte-identical files.")] = 0,
    tiny: Annotated[bool, typer.Option(help="DFEW layout: a tiny set (seconds) instead of the demo size.")] = False,
    layout: Annotated[str, typer.Option(help=f"Dataset layout to write: {', '.join(SYNTH_LAYOUTS)}.")] = "dfew",
) -> None:
    """Generate a synthetic face-video set in a real benchmark layout (frames/videos, labels, metadata, datasheet)."""
    if layout not in SYNTH_LAYOUTS:
        raise _fail(AffectgateError(f"unknown layout {layout!r}", fix=f"use one of {', '.join(SYNTH_LAYOUTS)}"))
    try:
        if layout == "dfew":
            _synth(get_settings(), out, seed, tiny)
        else:
            _synth_other(get_settings(), layout, out, seed)
    except AffectgateError as exc:
        raise _fail(exc) from None


# -- zoo -----------------------------------------------------------------------------------------
@zoo_app.command("list")
def zoo_list() -> None:
    """List registered architectures, their technique, output kinds, input spec and export state."""
    from affectgate.zoo.card import zoo_card
    from affectgate.zoo.registry import list_archs

    settings = get_settings()
    table = Table("arch", "technique", "outputs", "input", "exported")
    for entry in list_archs():
        card = zoo_card(project_root=settings.project_root, arch=entry.name)
        exported = (settings.models_dir / entry.name / "model.onnx").is_file()
        int8 = (settings.models_dir / f"{entry.name}_int8" / "model.onnx").is_file()
        spec = card.input
        table.add_row(
            entry.name,
            entry.technique,
            ", ".join(card.output_kinds),
            f"{spec.frames}x{spec.size}x{spec.size} {spec.layout}" + (" + audio" if spec.audio else ""),
            ("yes" if exported else "no") + (" + int8" if int8 else ""),
        )
    console.print(table)


@zoo_app.command("card")
def zoo_card_command(arch: Annotated[str, typer.Argument(help="Architecture id (see `affectgate zoo list`).")]) -> None:
    """Print an architecture's model card (model_zoo/ARCH/card.yaml) as validated YAML."""
    import yaml

    from affectgate.zoo.card import zoo_card
    from affectgate.zoo.registry import get_arch

    settings = get_settings()
    try:
        get_arch(arch)
        card = zoo_card(project_root=settings.project_root, arch=arch)
    except AffectgateError as exc:
        raise _fail(exc) from None
    console.print(yaml.safe_dump(card.model_dump(mode="json"), sort_keys=False), highlight=False, markup=False)


#: ``zoo train --format`` help: DFEW (the default, :func:`train_zoo_model`) or any other registered loader format.
_TRAIN_FORMAT_HELP = (
    "Dataset format of --data, a registered loader: "
    + ", ".join(gate_formats())
    + ". dfew trains emotion classifiers; av_fusion needs audio (ravdess), engagement an engagement set."
)


def _train_format_problem(*, arch: str, card: ModelCard, data_format: str) -> AffectgateError | None:
    """Why ``arch`` (its ``card``) cannot train on a ``data_format`` set, naming the format it needs; else None."""
    from affectgate.errors import DataError

    kinds = card.output_kinds
    if card.input.audio is not None and data_format == "dfew":
        return DataError(
            f"{arch} needs audio: --format ravdess (an audio-visual set); a DFEW-layout set has frames only",
            fix=f"affectgate zoo train {arch} --format ravdess --data PATH "
            "(affectgate data synth --layout ravdess writes a synthetic one)",
        )
    if "discrete_emotion" not in kinds and "engagement" in kinds and data_format != "engagement":
        return DataError(
            f"{arch} needs an engagement set: --format engagement (per-frame head pose, gaze, eye openness and "
            f"clip attention); a {data_format} set has no engagement signals",
            fix=f"affectgate zoo train {arch} --format engagement --data PATH "
            "(affectgate data synth --layout engagement writes a synthetic one)",
        )
    if "discrete_emotion" in kinds and data_format == "engagement":
        return DataError(
            f"{arch} is an emotion classifier; an engagement set has no class labels to train it on",
            fix="train it on a labelled set: --format dfew (default), mafw, ravdess, manifest, ...",
        )
    return None


@zoo_app.command("train")
def zoo_train(
    arch: Annotated[str, typer.Argument(help="Architecture id (see `affectgate zoo list`).")],
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder; default data/synth_dfew (dfew) or <data root>/synth_<format>."),
    ] = None,
    data_format: Annotated[str, typer.Option("--format", help=_TRAIN_FORMAT_HELP)] = "dfew",
    fold: Annotated[
        int | None,
        typer.Option(
            help="Fold whose train split is used (DFEW set_N, RAVDESS/MAFW fold, manifest fold column); "
            "default: the format's (DFEW 1)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML of overrides: frames, size, epochs, lr, ...")] = None,
) -> None:
    """Train an architecture briefly on a dataset's train split (CPU); writes a checkpoint to the workspace.

    --format dfew (default) trains the emotion classifiers on a DFEW-layout set; any other registered
    format is read through its loader (av_fusion: --format ravdess, engagement: --format engagement).
    """
    import math

    from affectgate.errors import DataError
    from affectgate.zoo.build import train_on_format, train_zoo_model
    from affectgate.zoo.card import load_config, zoo_card
    from affectgate.zoo.registry import get_arch

    settings = get_settings()
    try:
        if data_format not in gate_formats():
            raise DataError(
                f"unknown dataset format {data_format!r}", fix=f"--format is one of {', '.join(gate_formats())}"
            )
        get_arch(arch)
        card = zoo_card(project_root=settings.project_root, arch=arch)
        problem = _train_format_problem(arch=arch, card=card, data_format=data_format)
        if problem is not None:
            raise problem
        if data is None:
            if data_format != "dfew" and data_format not in SYNTH_LAYOUTS:
                raise DataError(f"--format {data_format} needs --data", fix="pass the dataset folder with --data")
            data = Path("data/synth_dfew") if data_format == "dfew" else settings.data_dir / f"synth_{data_format}"
        if data_format == "dfew":
            res = train_zoo_model(
                project_root=settings.project_root,
                arch=arch,
                data=settings.resolve(data),
                fold=1 if fold is None else fold,
                out=settings.models_dir / arch,
                seed=settings.seed,
                threads=settings.ort_threads,
                config=load_config(path=config),
                console=console,
            )
        else:
            from affectgate.datasets.selection import resolve_selection

            try:
                res = train_on_format(
                    project_root=settings.project_root,
                    arch=arch,
                    data=settings.resolve(data),
                    data_format=data_format,
                    fold=resolve_selection(fmt=data_format, fold=fold, split="train")[0],
                    out=settings.models_dir / arch,
                    seed=settings.seed,
                    threads=settings.ort_threads,
                    config=load_config(path=config),
                    console=console,
                )
            except ValueError as exc:  # e.g. a label that is not one of the card's classes
                raise DataError(
                    f"cannot train {arch} on the {data_format} set {data}: {exc}",
                    fix=f"the train split's labels must be the card's classes ({', '.join(card.labels)})",
                ) from None
    except AffectgateError as exc:
        raise _fail(exc) from None
    score = (
        f"train accuracy {res.train_accuracy:.3f}"
        if math.isfinite(res.train_accuracy)
        else f"final loss {res.final_loss:.4f}"  # no class targets (engagement signals)
    )
    console.print(f"trained {arch}: {res.epochs} epochs in {res.seconds:.1f}s, {score}")


@zoo_app.command("export")
def zoo_export(arch: Annotated[str, typer.Argument(help="Architecture id.")]) -> None:
    """Export a trained architecture to ONNX with a torch parity check and a sha256 lock file."""
    from affectgate.zoo.build import export_zoo_model

    settings = get_settings()
    try:
        res = export_zoo_model(
            project_root=settings.project_root, arch=arch, out=settings.models_dir / arch, seed=settings.seed
        )
    except AffectgateError as exc:
        raise _fail(exc) from None
    console.print(f"exported {res.onnx_path}")
    console.print(f"  parity max abs diff torch vs onnxruntime: {res.parity_max_abs_diff:.2e}")
    console.print(f"  sha256 {res.sha256}")


@zoo_app.command("quantize")
def zoo_quantize(
    arch: Annotated[str, typer.Argument(help="Architecture id (exported first with `affectgate zoo export`).")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Set whose train split gives the static calibration clips; default data/synth_dfew (dfew) or "
            "<data root>/synth_<format>."
        ),
    ] = None,
    data_format: Annotated[
        str, typer.Option("--format", help="Dataset format of --data (a registered loader; default dfew).")
    ] = "dfew",
    fold: Annotated[
        int | None, typer.Option(help="Fold whose train split gives calibration clips; default: the format's.")
    ] = None,
    n_calib: Annotated[int, typer.Option(help="Number of calibration clips (static quantisation).")] = 32,
    method: Annotated[
        str, typer.Option(help="auto (static QDQ for CNNs, dynamic MatMul for transformer/AV), static or dynamic.")
    ] = "auto",
) -> None:
    """Int8 variant of an exported model: model.int8.onnx next to it and a separate candidate folder ARCH_int8."""
    from affectgate.datasets.selection import resolve_selection
    from affectgate.errors import DataError
    from affectgate.zoo.build import quantize_zoo_model

    settings = get_settings()
    if method not in ("auto", "static", "dynamic"):
        raise _fail(ValueError(f"--method must be auto, static or dynamic, not {method!r}"))
    try:
        if data_format not in gate_formats():
            raise DataError(
                f"unknown dataset format {data_format!r}", fix=f"--format is one of {', '.join(gate_formats())}"
            )
        if data is None:
            data = Path("data/synth_dfew") if data_format == "dfew" else settings.data_dir / f"synth_{data_format}"
        res = quantize_zoo_model(
            out=settings.models_dir / arch,
            data=settings.resolve(data),
            fold=resolve_selection(fmt=data_format, fold=fold, split="train")[0],
            n_calib=n_calib,
            method=method,
            seed=settings.seed,
            threads=settings.ort_threads,
            data_format=data_format,
        )
    except AffectgateError as exc:
        raise _fail(exc) from None
    console.print(f"int8 ({res.method}) {res.sidecar_path} -> candidate folder {res.folder}")
    console.print(f"  size {res.fp32_bytes / 1e6:.2f} MB fp32 -> {res.int8_bytes / 1e6:.2f} MB int8")
    agree = "n/a" if res.top1_agreement is None else f"{res.top1_agreement:.3f}"
    console.print(f"  max abs diff vs fp32 on calibration clips: {res.max_abs_diff:.2e}, top-1 agreement {agree}")
    console.print(f"  sha256 {res.sha256}")


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
) -> list[GateResult]:
    """Run the release gate through the Prefect flow (default) or as plain functions.

    ``wait_for_review`` > 0: a ``review`` verdict pauses the flow up to that many seconds for a sign-off.
    """
    if plain and wait_for_review > 0:
        raise AffectgateError(
            "--wait-for-review needs the Prefect flow (the flow run is what pauses)", fix="drop --plain"
        )
    if plain:
        from affectgate.pipeline import run_gate

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
        )
    from affectgate.orchestration import get_flow

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
_MODEL_HELP = "Export folder with model.onnx + card.yaml (or the .onnx file), or a predictions-file card (YAML)."


@app.command("gate")
def gate(
    model: Annotated[str, typer.Option(help=_MODEL_HELP)],
    context: Annotated[list[str], typer.Option(help="Deployment context id (policies/contexts/); repeatable.")],
    data: Annotated[str, typer.Option(help="Dataset folder inside the data root.")] = "data/synth_dfew",
    data_format: Annotated[str, typer.Option("--format", "--data-format", help=_FORMAT_HELP)] = "dfew",
    fold: Annotated[int | None, typer.Option(help=_FOLD_HELP)] = None,
    split: Annotated[str | None, typer.Option(help=_SPLIT_HELP)] = None,
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
) -> None:
    """Gate a model for deployment contexts. Exit 0 promoted, 1 blocked, 2 needs review, 3 error.

    With --wait-for-review a signed-off review exits 0 (approved, alias moved) or 1 (rejected).
    """
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
        )
    except AffectgateError as exc:
        raise _fail(exc) from None
    except Exception as exc:  # a Prefect or library failure: still exit 3 with the cause
        raise _fail(exc) from None
    print_results(results, settings=settings)
    if junit is not None or summary is not None:
        from affectgate import ci_report

        report, decisions = ci_report.load_run(run_dir=settings.runs_dir / results[0].run_id, contexts=context)
        if junit is not None:
            junit.write_text(ci_report.junit_xml(results=results, decisions=decisions, report=report), encoding="utf-8")
            console.print(f"JUnit XML: {junit}")
        if summary is not None:
            text = ci_report.markdown_summary(results=results, decisions=decisions, report=report)
            summary.write_text(text, encoding="utf-8")
            console.print(f"Markdown summary: {summary}")
    raise typer.Exit(combined_exit_code(results))


@app.command("evaluate")
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
) -> None:
    """Evaluate a candidate with a suite: run folder, MLflow run, audit events; no decision, no promotion."""
    from affectgate import pipeline

    if output_format not in ("table", "json"):
        raise _fail(AffectgateError(f"unknown format {output_format!r}", fix="use table or json"))
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
        )
        evaluation = pipeline.evaluate(settings=settings, inputs=inputs)
    except AffectgateError as exc:
        pipeline.record_error(settings=settings, error=exc, subject=subject)
        raise _fail(exc) from None
    except Exception as exc:
        pipeline.record_error(settings=settings, error=exc, subject=subject)
        raise _fail(exc) from None
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


# -- audit ---------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Verify the audit log's hash chain; exit 1 on any edit, deletion, reorder or truncation."""
    from affectgate.pipeline import audit_log

    settings = get_settings()
    report = audit_log(settings).verify()
    if report.ok:
        console.print(f"audit chain OK: {report.n_events} events, head {report.head_digest}")
        raise typer.Exit(0)
    console.print(f"[bold red]audit chain BROKEN[/]: first bad event seq {report.first_bad_seq}")
    for p in report.problems:
        console.print(f"  - {p.kind}: {p.message}")
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD) or ISO time.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or ISO time.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown, html or jsonl.")] = "markdown",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of printing.")] = None,
) -> None:
    """A report a regulator can read: events, decisions, promotions, sign-offs and the chain's verification."""
    from affectgate.audit.export import audit_export_command

    try:
        res = audit_export_command(settings=get_settings(), start=start, end=end, fmt=fmt, out=out)
    except AffectgateError as exc:
        raise _fail(exc) from None
    if out is None:
        print(res.text)
    else:
        console.print(f"wrote {out}")
    raise typer.Exit(0 if res.chain_ok else 1)


@registry_app.command("reconcile")
def registry_reconcile(
    model: Annotated[list[str] | None, typer.Option(help="Only these registered models (repeatable).")] = None,
) -> None:
    """Aliases moved, set or removed outside the gate and sign-off: one finding each; exit 1 when any.

    The check itself is audited (``registry.reconciled`` with the findings), so a hand-moved alias found here
    stays on the record even after someone moves it back.
    """
    from affectgate.pipeline import audit_log
    from affectgate.registry.reconcile import reconcile

    settings = get_settings()
    try:
        findings = reconcile(settings=settings, models=model or None)
        audit_log(settings).append(
            actor=settings.actor,
            action="registry.reconciled",
            subject=f"registry:{settings.tracking_uri}",
            payload={"findings": [f.model_dump(mode="json") for f in findings], "models": model or "all"},
        )
    except AffectgateError as exc:
        raise _fail(exc) from None
    if not findings:
        console.print("every context alias is where the gate or a sign-off put it (no findings)")
        raise typer.Exit(0)
    table = Table("finding", "model", "alias (context)", "registry", "audit log", "why")
    for f in findings:
        table.add_row(
            f.kind,
            f.model,
            f.context_id,
            f"v{f.registry_version}" if f.registry_version else "unset",
            f"v{f.audit_version} (event {f.audit_seq})" if f.audit_version else "never moved",
            f.message,
        )
    console.print(table)
    raise typer.Exit(1)


def _webhook_secret(env: str) -> str:
    import os

    secret = os.environ.get(env, "")
    if not secret:
        raise _fail(AffectgateError(f"no webhook secret in ${env}", fix=f"export {env}=<a long random string>"))
    return secret


@registry_app.command("webhook")
def registry_webhook(
    url: Annotated[str, typer.Option(help="The receiver's URL (`affectgate registry watch`) as the server sees it.")],
    secret_env: Annotated[str, typer.Option(help="Environment variable holding the shared HMAC secret.")] = (
        "AFFECTGATE_WEBHOOK_SECRET"
    ),
) -> None:
    """Subscribe a receiver to the tracking server's alias webhooks (team mode: `mlflow server` delivers them)."""
    from mlflow.tracking import MlflowClient

    from affectgate.registry.webhooks import register_alias_webhook

    settings = get_settings()
    secret = _webhook_secret(secret_env)
    try:
        client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
        hook = register_alias_webhook(client=client, url=url, secret=secret)
    except Exception as exc:  # the file store has no webhooks; an unreachable server
        raise _fail(exc) from None
    console.print(f"webhook {hook}: alias created/deleted events of {settings.tracking_uri} -> {url}")


@registry_app.command("watch")
def registry_watch(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    secret_env: Annotated[str, typer.Option(help="Environment variable holding the shared HMAC secret.")] = (
        "AFFECTGATE_WEBHOOK_SECRET"
    ),
    grace: Annotated[float, typer.Option(help="Seconds to wait for the gate's own audit event of a move.")] = 10.0,
) -> None:
    """Receive alias webhooks: audit each (`registry.webhook`) and flag moves the audit log does not explain."""
    from affectgate.registry.webhooks import serve

    server = serve(settings=get_settings(), host=host, port=port, secret=_webhook_secret(secret_env), grace_s=grace)
    console.print(f"listening on http://{host}:{port}/ for MLflow alias webhooks (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


@audit_app.command("tail")
def audit_tail(n: Annotated[int, typer.Option("-n", help="Number of events.")] = 10) -> None:
    """Show the last events of the audit log."""
    from affectgate.pipeline import audit_log

    table = Table("seq", "time", "actor", "action", "subject")
    for ev in audit_log(get_settings()).events()[-n:]:
        table.add_row(str(ev.seq), ev.time.isoformat(timespec="seconds"), ev.actor, ev.action, ev.subject)
    console.print(table)


# -- demo ----------------------------------------------------------------------------------------
def _demo_phase(settings: Settings, *, tiny: bool, out: Path, plain: bool, tag: str) -> list[GateResult]:
    """One candidate through the whole job: synthesize, train, export, gate for the demo contexts."""
    from affectgate.zoo.build import export_zoo_model, train_zoo_model

    console.rule(f"{tag}1/4 synthetic data (DFEW layout{', tiny, bias and drift knobs off' if tiny else ''})")
    root = _synth(settings, None, settings.seed, tiny)
    console.rule(f"{tag}2/4 train {DEMO_ARCH} on the train split of fold 1")
    res = train_zoo_model(
        project_root=settings.project_root,
        arch=DEMO_ARCH,
        data=root,
        fold=1,
        out=out,
        seed=settings.seed,
        threads=settings.ort_threads,
        config=TINY_TRAIN_CONFIG if tiny else None,
        console=console,
    )
    console.print(f"trained in {res.seconds:.1f}s")
    console.rule(f"{tag}3/4 export to ONNX (parity vs torch)")
    exp = export_zoo_model(project_root=settings.project_root, arch=DEMO_ARCH, out=out, seed=settings.seed)
    console.print(f"{exp.onnx_path}: parity max abs diff {exp.parity_max_abs_diff:.2e}, sha256 {exp.sha256[:16]}…")
    console.rule(f"{tag}4/4 release gate" + ("" if plain else " (Prefect flow)"))
    results = run_gate_command(
        settings=settings,
        model=str(out),
        contexts=list(DEMO_CONTEXTS),
        data=str(root),
        fold=1,
        suite="release",
        as_of=None,
        plain=plain,
    )
    print_results(results, settings=settings)
    return results


@app.command("demo")
def demo(
    tiny: Annotated[bool, typer.Option(help="Only part B: the tiny balanced set (about 2 minutes).")] = False,
    plain: Annotated[bool, typer.Option(help="Run the gate without Prefect.")] = False,
    zoo: Annotated[
        bool, typer.Option(help="Part C: every classifier technique and its int8 variant through the gate.")
    ] = True,
) -> None:
    """The main job on embedded defaults: synthesize data, train + export, gate for several contexts.

    Part A trains on the demo-size set whose bias knobs under-represent one skin-tone group and lower
    its image quality (and whose last quarter drifts): the gate measures what that does to fairness.
    Part B trains on a tiny set with those knobs off: a candidate that can pass on its measured numbers.
    """
    settings = get_settings()
    started = time.perf_counter()
    try:
        if not tiny:
            _demo_phase(settings, tiny=False, out=settings.models_dir / DEMO_ARCH, plain=plain, tag="A ")
        balanced = settings.models_dir / f"{DEMO_ARCH}_balanced"
        _demo_phase(settings, tiny=True, out=balanced, plain=plain, tag="" if tiny else "B ")
        if zoo and not tiny:
            from affectgate.demo import SIGNAL_DEMOS, print_zoo_table, run_zoo_comparison

            console.rule("C the model zoo side by side: five techniques' classifiers, fp32 and int8, same gate")
            rows = run_zoo_comparison(
                settings=settings,
                data=settings.data_dir / "synth_dfew_tiny",
                fp32_models={DEMO_ARCH: balanced},
                gate=partial(run_gate_command, settings=settings, fold=1, suite="release", as_of=None, plain=plain),
                console=console,
                signal_models=SIGNAL_DEMOS,
            )
            print_zoo_table(rows, console=console)
    except AffectgateError as exc:
        raise _fail(exc) from None
    from affectgate.pipeline import audit_log

    chain = audit_log(settings).verify()
    console.print(f"audit chain: {'verified' if chain.ok else 'BROKEN'} ({chain.n_events} events)")
    console.print(f"demo finished in {time.perf_counter() - started:.0f}s; dashboard: make dashboard")


if __name__ == "__main__":  # pragma: no cover
    app()
