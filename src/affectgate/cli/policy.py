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
from affectgate.policy.engine import decide
from affectgate.policy.lint import lint_policies
from affectgate.policy.loader import (
    DEFAULT_PACKS,
    PolicyPack,
    available_packs,
    definitions_used,
    load_context,
    load_packs,
)
from affectgate.policy.schema import Precision
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
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True, markup=True)
    return typer.Exit(code)


def _policies_root(policies: Path | None) -> Path:
    settings = get_settings()
    return settings.resolve(policies) if policies is not None else settings.project_root / "policies"


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
        ctx = load_context(root=root, context_id=context)
        packs = load_packs(root=root, names=tuple(pack) if pack else DEFAULT_PACKS)
        resolved = resolve_model(spec=model, project_root=settings.project_root) if model else None
        evaluation = read_report(path=settings.resolve(report)) if report else None
        if resolved and evaluation and resolved.onnx_sha256 and resolved.onnx_sha256 != evaluation.onnx_sha256:
            raise PolicyError(
                f"report {report} is about ONNX sha256 {evaluation.onnx_sha256[:12]}…, not the model "
                f"{resolved.onnx_sha256[:12]}…",
                fix="pass the report of this model's evaluation (or no --model)",
            )
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


def print_decision(*, decision: PolicyDecision) -> None:
    """Each outcome as a row (rule, article, severity, effective date, status, message), then verdict and digests."""
    table = Table("#", show_lines=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("article", max_width=26)
    for column in ("severity", "effective from", "status"):
        table.add_column(column)
    table.add_column("message", min_width=48)
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
    rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. euaia.art5_1f.workplace_education.")],
    policies: PoliciesOption = None,
) -> None:
    """Print a rule in full: title, article, severity, penalty, date, conditions, messages, evidence, cases."""
    try:
        root = _policies_root(policies)
        packs = load_packs(root=root, names=available_packs(root=root))
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
        ("test cases", "\n".join(rule_cases(root=root, rule_id=rule.id)) or "none"),
    ]
    table = Table("field", "value", show_header=False, show_lines=True)
    for field, value in rows:
        table.add_row(field, value.replace("[", r"\["))
    console.print(table)


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
        fix=(f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "")
        + "list the rules with `affectgate policy lint` or see policies/*/pack.yaml",
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
    result = lint_policies(root=root)
    if not result.ok:
        console.print(f"[bold red]{len(result.problems)} problem(s)[/] in {root}:")
        for problem in result.problems:
            console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(
        f"[green]OK[/]: {len(result.packs)} packs ({result.n_rules} rules), {len(result.contexts)} contexts, "
        f"{result.n_cases} cases in {root}",
        highlight=False,
    )
    for pack in result.packs:
        console.print(f"pack {pack.name} {pack.spec.version} sha256 {pack.digest}", highlight=False)
