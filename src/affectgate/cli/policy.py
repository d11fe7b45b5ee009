"""``affectgate policy check | explain | lint``: the policy engine for a compliance officer, without a gate run.

``check`` decides one deployment context (optionally for a model and an evaluation report) and prints
every rule's outcome with its article; exit codes as ``gate``: 0 allow, 1 block, 2 review, 3 error.
``explain`` prints one rule in full with its test cases. ``lint`` validates every pack, context and case.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from affectgate.core.errors import AffectgateError, PolicyError
from affectgate.core.records import EvalReport, ModelCard, PolicyDecision
from affectgate.policy.cases import case_paths, load_case
from affectgate.policy.engine import build_facts, decide, decide_facts, deciding_facts, pack_thresholds
from affectgate.policy.lint import lint_policies, lint_project
from affectgate.policy.loader import (
    PolicyPack,
    available_packs,
    context_path,
    definitions_used,
    load_context,
    load_packs,
    pack_folders,
)
from affectgate.policy.schema import Precision
from affectgate.project.content import builtin_dir, builtin_label, origin_of
from affectgate.project.settings import get_settings

app = typer.Typer(
    help="Policy packs and deployment contexts: check, explain, lint.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: Exit codes, the same as ``affectgate gate``: 0 allow, 1 block, 2 review, 3 error.
EXIT_CODES: dict[str, int] = {"allow": 0, "block": 1, "review": 2}
EXIT_ERROR = 3
#: ONNX operators that only a quantised graph contains.
QUANTISED_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearConv"}
    | {"QLinearMatMul", "QLinearAdd", "QLinearMul"}
)

_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)
_STATUS_STYLE = {
    "pass": "green",
    "fail": "red",
    "error": "magenta",
    "not_applicable": "dim",
    "not_yet_effective": "dim",
}
_VERDICT_STYLE = {"allow": "green", "block": "red", "review": "yellow"}

PoliciesOption = Annotated[
    Path | None, typer.Option("--policies", help="Policies folder (default: <project root>/policies).")
]


@dataclass(frozen=True)
class ModelInput:
    """What ``--model`` resolved to: the card, the ONNX outputs read from the graph, the precision, the source."""

    card: ModelCard
    onnx_outputs: tuple[str, ...]
    precision: Precision | None
    onnx_sha256: str | None
    source: str


def fail(exc: Exception, *, code: int = EXIT_ERROR) -> typer.Exit:
    """A user's error on stderr (:func:`affectgate.cli.common.print_error`) and the exit that ends the command."""
    from affectgate.cli.common import print_error

    print_error(exc)
    return typer.Exit(code)


def _policies_root(policies: Path | None) -> Path | None:
    """``--policies``: one policies folder (contexts in its contexts/); None = resolve the project's content."""
    return get_settings().resolve(policies) if policies is not None else None


def _project_root() -> Path | None:
    return get_settings().project_root


def origin(*, path: Path) -> str:
    """Where a content file came from: 'built-in affectgate X (...)' or 'user project: <file>'."""
    return origin_of(path=path, project_root=_project_root())


# -- check ---------------------------------------------------------------------------------------
def resolve_model(*, spec: str, project_root: Path) -> ModelInput:
    """``--model``: an export folder (card.yaml + model.onnx) or a .onnx file, else a zoo arch id.

    A relative path is taken from the project root, as ``affectgate gate --model`` takes it.
    An export is loaded as the gate loads a candidate (sha256 lock, card checked against the graph), its
    output names come from the ONNX graph and its precision from the graph's operators. A zoo arch id
    gives only the card (``model_zoo/<arch>/card.yaml``): no graph, so no output names to verify.
    """
    from affectgate.zoo.runtime import load_candidate

    path = Path(spec)
    path = path if path.is_absolute() else (project_root / path)
    if path.exists() and (path.is_dir() or path.suffix == ".onnx"):
        candidate = load_candidate(path=path)
        declared: Precision = getattr(candidate, "precision", "fp32")
        return ModelInput(
            card=candidate.card,
            onnx_outputs=candidate.onnx_outputs,
            precision="int8" if declared == "int8" else graph_precision(onnx_path=candidate.onnx_path),
            onnx_sha256=candidate.onnx_sha256,
            source=f"{candidate.onnx_path} (ONNX outputs read from the graph)",
        )
    card_path = project_root / "model_zoo" / spec / "card.yaml"
    if "/" not in spec and card_path.is_file():
        from affectgate.zoo.card import load_card

        return ModelInput(
            card=load_card(path=card_path),
            onnx_outputs=(),
            precision=None,
            onnx_sha256=None,
            source=f"{card_path} (card only: no ONNX graph to read outputs from)",
        )
    archs = sorted(p.parent.name for p in (project_root / "model_zoo").glob("*/card.yaml"))
    close = difflib.get_close_matches(spec, archs, n=1)
    raise PolicyError(
        f"--model {spec!r} is neither an export folder / .onnx file nor a model-zoo architecture",
        fix=(f"did you mean {close[0]!r}? " if close else "")
        + f"architectures: {', '.join(archs) or 'none'}; or pass an export folder with card.yaml and model.onnx",
    )


def graph_precision(*, onnx_path: Path) -> Precision:
    """``int8`` when the ONNX graph holds quantised operators (QDQ or integer kernels), else ``fp32``."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    ops = {node.op_type for node in graph.node}
    return "int8" if ops & QUANTISED_OPS else "fp32"


def read_report(*, path: Path) -> EvalReport:
    """An evaluation report (``<run dir>/report.json``); a missing or invalid file is a PolicyError naming it."""
    if not path.is_file():
        raise PolicyError(f"evaluation report {path} does not exist", fix="pass <run dir>/report.json of a gate run")
    try:
        return EvalReport.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise PolicyError(f"{path} is not a valid evaluation report: {first}", fix="pass a report.json") from None


@app.command("check")
def check(
    context: Annotated[str, typer.Option(help="Deployment context id (policies/contexts/<id>.yaml).")],
    model: Annotated[
        str | None, typer.Option(help="Export folder with card.yaml + model.onnx, a .onnx file, or a zoo arch id.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Evaluation report (<run dir>/report.json).")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Evaluate the rules as of this date (YYYY-MM-DD); default today.")
    ] = None,
    pack: Annotated[list[str] | None, typer.Option(help="Policy pack to apply; repeatable (default: all).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the decision as JSON (for CI) instead of a table.")
    ] = False,
    policies: PoliciesOption = None,
) -> None:
    """Decide one context and print every rule's outcome. Exit 0 allow, 1 block, 2 review, 3 error."""
    settings = get_settings()
    try:
        root = _policies_root(policies)
        when = _parse_date(as_of) if as_of else datetime.now(UTC).date()
        ctx = load_context(root=root, project_root=_project_root(), context_id=context)
        packs = load_packs(root=root, project_root=_project_root(), names=tuple(pack) if pack else None)
        resolved = resolve_model(spec=model, project_root=settings.root) if model else None
        evaluation = read_report(path=settings.resolve(report)) if report else None
        if resolved and evaluation:
            check_report_model(model=resolved, report=evaluation, report_path=report, spec=model or "")
        decision = decide(
            context=ctx,
            card=resolved.card if resolved else None,
            onnx_outputs=resolved.onnx_outputs if resolved else (),
            report=evaluation,
            packs=packs,
            as_of=when,
            precision=resolved.precision if resolved else None,
        )
    except AffectgateError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(decision.model_dump_json(indent=2))
        raise typer.Exit(EXIT_CODES[decision.verdict])
    console.print(f"context  {ctx.id}: {ctx.title}", highlight=False)
    console.print(f"model    {resolved.source if resolved else 'none (judging the context alone)'}", highlight=False)
    console.print(
        f"report   {report if evaluation else 'none (quality rules wait for an evaluation)'}"
        + (f" [suite {evaluation.suite} {evaluation.suite_version}, run {evaluation.run_id}]" if evaluation else ""),
        highlight=False,
        markup=False,
    )
    if evaluation and evaluation.synthetic_data:
        console.print("[bold yellow]SYNTHETIC DATA: the report is not evidence about real people.[/]")
    print_decision(decision=decision)
    raise typer.Exit(EXIT_CODES[decision.verdict])


def check_report_model(*, model: ModelInput, report: EvalReport, report_path: Path | None, spec: str) -> None:
    """Refuse a report produced by another model than ``--model``, naming both identities.

    An export is identified by its ONNX sha256; a zoo arch id (card only) by the candidate name the gate
    registers for it (``affectgate-<arch>``, ``-int8`` for its int8 variant).
    """
    reported = f"candidate {report.candidate!r} (ONNX sha256 {report.onnx_sha256[:12]}…, run {report.run_id})"
    if model.onnx_sha256 is not None:
        if model.onnx_sha256 != report.onnx_sha256:
            raise PolicyError(
                f"report {report_path} is about {reported}, not the model --model {spec} (arch {model.card.arch}, "
                f"ONNX sha256 {model.onnx_sha256[:12]}…)",
                fix="pass the report of this model's evaluation (or no --model)",
            )
        return
    expected = {f"affectgate-{model.card.arch}", f"affectgate-{model.card.arch}-int8"}
    if report.candidate not in expected:
        raise PolicyError(
            f"report {report_path} is about {reported}, not the model --model {spec} (arch {model.card.arch}, "
            f"registered as {' or '.join(sorted(expected))})",
            fix="pass the report of this architecture's evaluation, or --model <export folder> to match by ONNX digest",
        )


def print_decision(*, decision: PolicyDecision) -> None:
    """Each outcome as a row (rule, article, severity, effective date, status, message), then verdict and digests."""
    table = Table("#", show_lines=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("article", max_width=22)
    for column in ("severity", "effective from", "status"):
        table.add_column(column)
    table.add_column("message", min_width=30)
    for number, o in enumerate(decision.outcomes, start=1):
        style = _STATUS_STYLE.get(o.status, "")
        table.add_row(
            str(number),
            o.rule_id,
            o.article,
            o.severity,
            o.effective_from.isoformat(),
            f"[{style}]{o.status}[/]",
            o.message.replace("[", r"\["),
        )
    console.print(table)
    counts: dict[str, int] = {}
    for o in decision.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    style = _VERDICT_STYLE[decision.verdict]
    console.print(
        f"verdict: [bold {style}]{decision.verdict}[/] for {decision.context_id} as of {decision.as_of.isoformat()} "
        f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})"
    )
    for reason in decision.reasons:
        console.print(f"  - {reason.rule_id} ({reason.article}): {reason.message}", highlight=False, markup=False)
    for name, digest in decision.pack_digests.items():
        console.print(f"pack {name} sha256 {digest}", highlight=False)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PolicyError(f"--as-of {text!r} is not a date", fix="write it as YYYY-MM-DD, e.g. 2027-12-02") from None


# -- explain -------------------------------------------------------------------------------------
@app.command("explain")
def explain(
    rule_id: Annotated[
        str | None, typer.Argument(help="Rule id, e.g. euaia.art5_1f.workplace_education (with --context: optional).")
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(help="Decide this context and show, for every outcome, the declared facts that decided it."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="With --context: evaluate as of YYYY-MM-DD (default today).")
    ] = None,
    policies: PoliciesOption = None,
) -> None:
    """Print a rule in full (where it comes from, conditions, messages, cases), or with --context the deciding facts."""
    try:
        root = _policies_root(policies)
        if root is not None:
            packs = load_packs(root=root, names=available_packs(root=root))
        else:
            packs = load_packs(project_root=_project_root(), names=sorted(pack_folders(project_root=_project_root())))
        if context is not None:
            explain_context(
                packs=packs, context_id=context, rule_id=rule_id, root=root, as_of=_parse_date(as_of) if as_of else None
            )
            return
        if rule_id is None:
            raise PolicyError(
                "explain needs a rule id or --context", fix="e.g. affectgate policy explain euaia.art12.logging"
            )
        found = find_rule(packs=packs, rule_id=rule_id)
    except AffectgateError as exc:
        raise fail(exc, code=1) from None
    pack, index = found
    compiled = pack.rules[index]
    rule = compiled.spec
    rows: list[tuple[str, str]] = [
        ("id", rule.id),
        ("title", rule.title),
        ("pack", f"{pack.name} {pack.spec.version} (sha256 {pack.digest})"),
        (
            "source",
            origin(path=pack.file_of(rule.id)) + (f"; overlaid by {origin(path=pack.overlay)}" if pack.overlay else ""),
        ),
        ("position", f"rule {index + 1} of {len(pack.rules)}" + (f", stage {rule.stage}" if rule.stage else "")),
        ("article", rule.article),
        ("severity", rule.severity + _SEVERITY_MEANING[rule.severity]),
        ("penalty tier", rule.penalty_tier or "none stated"),
        ("effective from", f"{rule.effective_from.isoformat()} (earlier when the context sets enforce_early: true)"),
        ("applies when", compiled.applies_when.source),
        ("fails when", compiled.fails_when.source),
    ]
    rows += [(f"defs.{d.name}", d.program.source) for d in definitions_used(pack=pack, rule=rule)]
    rows += [
        ("message (fail)", rule.message.strip()),
        ("message (pass)", rule.pass_message.strip() or "(default)"),
        ("message (not applicable)", rule.not_applicable_message.strip() or "(default)"),
        ("evidence", "\n".join(rule.evidence) or "none"),
        (
            "thresholds",
            ", ".join(f"{k}={v:g}" for k, v in pack.defaults.items() if f"thresholds.{k}" in _all(rule)) or "none",
        ),
        ("test cases", "\n".join(rule_cases(root=root or builtin_dir("packs"), rule_id=rule.id)) or "none"),
    ]
    table = Table("field", "value", show_header=False, show_lines=True)
    for field, value in rows:
        table.add_row(field, value.replace("[", r"\["))
    console.print(table)


def explain_context(
    *, packs: tuple[PolicyPack, ...], context_id: str, rule_id: str | None, root: Path | None, as_of: date | None
) -> None:
    """Every outcome for a context (or one rule's) with the declared facts that decided it, in plain words."""
    ctx = load_context(root=root, project_root=_project_root(), context_id=context_id)
    where = (
        root / "contexts" / f"{context_id}.yaml"
        if root is not None
        else context_path(project_root=_project_root(), context_id=context_id)
    )
    when = as_of or datetime.now(UTC).date()
    facts = build_facts(
        context=ctx, card=None, onnx_outputs=(), report=None, thresholds=pack_thresholds(packs=packs), as_of=when
    )
    decision = decide_facts(facts=facts, packs=packs)
    if rule_id is not None:
        find_rule(packs=packs, rule_id=rule_id)
    words: dict[str, list[str]] = {}
    for pack in packs:
        words.update(deciding_facts(facts=facts, pack=pack))
    console.print(f"context  {ctx.id}: {ctx.title}", highlight=False, markup=False)
    console.print(f"source   {origin(path=where)}", highlight=False, markup=False)
    console.print(f"verdict  {decision.verdict} as of {when.isoformat()} (no model, no report)", highlight=False)
    for outcome in decision.outcomes:
        if rule_id is not None and outcome.rule_id != rule_id:
            continue
        console.print(
            f"\n{outcome.rule_id} [{outcome.status}, {outcome.severity}] {outcome.article}",
            highlight=False,
            markup=False,
        )
        console.print(f"  {outcome.message}", highlight=False, markup=False, soft_wrap=True)
        for line in words.get(outcome.rule_id, []):
            console.print(f"  - {line}", highlight=False, markup=False, soft_wrap=True)


_SEVERITY_MEANING = {
    "block": " (a failure blocks the release)",
    "review": " (a failure sends the release to human review)",
    "warn": " (a failure is reported; the verdict is unchanged)",
}


def _all(rule: object) -> str:
    from affectgate.policy.loader import rule_sources

    return " ".join(rule_sources(rule=rule))  # type: ignore[arg-type]


def find_rule(*, packs: tuple[PolicyPack, ...], rule_id: str) -> tuple[PolicyPack, int]:
    """The pack holding ``rule_id`` and the rule's index; an unknown id is a PolicyError with a suggestion."""
    ids: list[str] = []
    for pack in packs:
        for index, rule in enumerate(pack.rules):
            if rule.spec.id == rule_id:
                return pack, index
            ids.append(rule.spec.id)
    close = difflib.get_close_matches(rule_id, ids, n=3, cutoff=0.5)
    raise PolicyError(
        f"unknown rule id {rule_id!r}",
        fix=(f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + f"rules: {', '.join(ids)}",
    )


def rule_cases(*, root: Path, rule_id: str) -> list[str]:
    """'<pack>/<case>: <expected status>' for every case that expects an outcome of ``rule_id``."""
    lines: list[str] = []
    for path in case_paths(policies_root=root):
        expected = load_case(path=path).expect.outcomes.get(rule_id)
        if expected is not None:
            lines.append(f"{path.parent.parent.name}/{path.stem}: {expected}")
    return lines


# -- lint ----------------------------------------------------------------------------------------
@app.command("lint")
def lint(policies: PoliciesOption = None) -> None:
    """Validate every pack, context and case; exit 1 listing each problem."""
    try:
        root = _policies_root(policies)
    except AffectgateError as exc:
        raise fail(exc, code=1) from None
    result = lint_policies(root=root) if root is not None else lint_project(project_root=_project_root())
    where = root or (f"project {_project_root()}" if _project_root() else f"{builtin_label()} (no project)")
    if not result.ok:
        console.print(f"[bold red]{len(result.problems)} problem(s)[/] in {where}:")
        for problem in result.problems:
            console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(
        f"[green]OK[/]: {len(result.packs)} packs ({result.n_rules} rules), {len(result.contexts)} contexts, "
        f"{result.n_cases} cases in {where}",
        highlight=False,
    )
    for pack in result.packs:
        console.print(
            f"pack {pack.name} {pack.spec.version} sha256 {pack.digest}: {origin(path=pack.path)}"
            + (f", overlaid by {origin(path=pack.overlay)}" if pack.overlay else ""),
            highlight=False,
            markup=False,
        )
        for rule_id, path in pack.rule_files:
            console.print(f"  rule {rule_id}: {origin(path=path)}", highlight=False, markup=False)
    for ctx in result.contexts:
        path = (
            root / "contexts" / f"{ctx.id}.yaml"
            if root is not None
            else context_path(project_root=_project_root(), context_id=ctx.id)
        )
        console.print(f"context {ctx.id}: {origin(path=path)}", highlight=False, markup=False)
