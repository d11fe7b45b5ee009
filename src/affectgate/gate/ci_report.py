"""CI reports of a gate run: JUnit XML (one test case per rule outcome and per evaluator) and a Markdown summary.

Pure functions of the gate's records (no I/O): the CLI writes what they return to ``--junit`` and
``--summary``. JUnit mapping, following the conventions that Jenkins, GitLab and GitHub test
reporters read (``testsuites > testsuite > testcase`` with ``failure``/``error``/``skipped``):

* a rule outcome per context: ``fail`` -> ``<failure>``, ``error`` -> ``<error>``,
  ``not_applicable``/``not_yet_effective`` -> ``<skipped>``, ``pass`` -> a passing case;
* an evaluator: ``failed`` -> ``<failure>``, ``skipped`` -> ``<skipped>``, ``ok`` -> a passing case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from affectgate.core.errors import AffectgateError
from affectgate.core.records import EvalReport, PolicyDecision
from affectgate.gate.family import FamilySummary
from affectgate.gate.results import SYNTHETIC_NOTICE, GateResult, combined_exit_code

_EXIT_MEANING = {0: "promoted", 1: "blocked", 2: "needs human review", 3: "error"}


@dataclass(frozen=True)
class SuiteCounts:
    """Counts of one JUnit ``<testsuite>``."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0


def _suite(parent: ET.Element, *, name: str, timestamp: str, properties: dict[str, str]) -> ET.Element:
    suite = ET.SubElement(parent, "testsuite", {"name": name, "timestamp": timestamp})
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": key, "value": value})
    return suite


def _close(suite: ET.Element, counts: SuiteCounts) -> None:
    suite.set("tests", str(counts.tests))
    suite.set("failures", str(counts.failures))
    suite.set("errors", str(counts.errors))
    suite.set("skipped", str(counts.skipped))
    suite.set("time", "0")


def _add(counts: SuiteCounts, kind: str | None) -> SuiteCounts:
    return SuiteCounts(
        tests=counts.tests + 1,
        failures=counts.failures + (kind == "failure"),
        errors=counts.errors + (kind == "error"),
        skipped=counts.skipped + (kind == "skipped"),
    )


def junit_xml(*, results: Sequence[GateResult], decisions: Sequence[PolicyDecision], report: EvalReport) -> str:
    """JUnit XML of one gate run: a ``<testsuite>`` per context (its rule outcomes) and one for the evaluators.

    ``results`` give the promotion outcome per context (a property of the context's suite);
    ``decisions`` every rule outcome; ``report`` the evaluator results. Test case names are stable
    (``rule_id``, ``evaluator``) and the class name says which context or run they belong to.
    """
    by_ctx = {r.context_id: r for r in results}
    missing = [d.context_id for d in decisions if d.context_id not in by_ctx]
    if missing:
        raise AffectgateError(
            f"no gate result for context(s) {', '.join(missing)} in the JUnit report",
            fix="pass the GateResult of every decision",
        )
    stamp = report.created.strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", {"name": f"affectgate gate {report.candidate}"})
    total = SuiteCounts()
    for decision in decisions:
        result = by_ctx[decision.context_id]
        suite = _suite(
            root,
            name=f"policy.{decision.context_id}",
            timestamp=stamp,
            properties={
                "context": decision.context_id,
                "verdict": decision.verdict,
                "promoted": str(result.promoted).lower(),
                "model": f"{result.model}/{result.version}",
                "as_of": decision.as_of.isoformat(),
                "synthetic_data": str(report.synthetic_data).lower(),
                **{f"pack_digest.{k}": v for k, v in sorted(decision.pack_digests.items())},
            },
        )
        counts = SuiteCounts()
        for outcome in decision.outcomes:
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": f"affectgate.policy.{decision.context_id}", "name": outcome.rule_id, "time": "0"},
            )
            text = f"{outcome.rule_id} [{outcome.article}] ({outcome.pack}, severity {outcome.severity}): "
            text += outcome.message
            if outcome.evidence:
                text += "\nevidence: " + ", ".join(f"{k}={v}" for k, v in sorted(outcome.evidence.items()))
            kind: str | None = None
            if outcome.status == "fail":
                kind = "failure"
                el = ET.SubElement(case, "failure", {"message": outcome.message, "type": outcome.severity})
                el.text = text
            elif outcome.status == "error":
                kind = "error"
                el = ET.SubElement(case, "error", {"message": outcome.message, "type": "rule_error"})
                el.text = text
            elif outcome.status in ("not_applicable", "not_yet_effective"):
                kind = "skipped"
                reason = outcome.status.replace("_", " ")
                if outcome.status == "not_yet_effective":
                    reason += f" (effective from {outcome.effective_from.isoformat()})"
                ET.SubElement(case, "skipped", {"message": f"{reason}: {outcome.message}"})
            else:
                ET.SubElement(case, "system-out").text = text
            counts = _add(counts, kind)
        _close(suite, counts)
        total = SuiteCounts(
            tests=total.tests + counts.tests,
            failures=total.failures + counts.failures,
            errors=total.errors + counts.errors,
            skipped=total.skipped + counts.skipped,
        )

    suite = _suite(
        root,
        name="evaluators",
        timestamp=stamp,
        properties={
            "run_id": report.run_id,
            "candidate": report.candidate,
            "onnx_sha256": report.onnx_sha256,
            "dataset": report.dataset.name,
            "dataset_digest": report.dataset.digest,
            "target": report.target,
            "suite": f"{report.suite}@{report.suite_version}",
            "synthetic_data": str(report.synthetic_data).lower(),
        },
    )
    counts = SuiteCounts()
    for res in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"affectgate.evaluators.{report.suite}", "name": res.evaluator, "time": "0"},
        )
        kind = None
        if res.status == "failed":
            kind = "failure"
            el = ET.SubElement(
                case, "failure", {"message": res.error or "evaluator failed", "type": "evaluator_failed"}
            )
            el.text = res.error or "evaluator failed"
        elif res.status == "skipped":
            kind = "skipped"
            ET.SubElement(case, "skipped", {"message": res.error or "skipped"})
        else:
            lines = [
                f"{m.name}{f' [{m.group}]' if m.group else ''}{f' ({m.label})' if m.label else ''}"
                f" = {m.value} (n={m.n})"
                for m in res.measurements
            ]
            ET.SubElement(case, "system-out").text = "\n".join(lines)
        counts = _add(counts, kind)
    _close(suite, counts)
    total = SuiteCounts(
        tests=total.tests + counts.tests,
        failures=total.failures + counts.failures,
        errors=total.errors + counts.errors,
        skipped=total.skipped + counts.skipped,
    )
    root.set("tests", str(total.tests))
    root.set("failures", str(total.failures))
    root.set("errors", str(total.errors))
    root.set("skipped", str(total.skipped))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def family_markdown(summary: FamilySummary) -> list[str]:
    """A model family's per-fold rows, the mean of folds with its interval, the worst fold and the paper figures."""
    k = len(summary.folds)

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.2f}"

    lines = [
        f"**Cross-fold protocol** (`{summary.family}`, {summary.arch}): each fold's model scored on its own fold's "
        "test split.",
        "",
        "| fold | n | WAR % | UAR % | model |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.fold} | {r.n} | {pct(r.metrics.get('war'))} | {pct(r.metrics.get('uar'))} | `{r.model}` |"
        for r in summary.folds
    ]
    lines.append(
        f"| **mean of {k}** | {sum(r.n for r in summary.folds)} | **{pct(summary.mean.get('war'))}** "
        f"[{pct(summary.ci['war'][0])}, {pct(summary.ci['war'][1])}] | **{pct(summary.mean.get('uar'))}** "
        f"[{pct(summary.ci['uar'][0])}, {pct(summary.ci['uar'][1])}] | 95% t-interval over {k} folds |"
    )
    lines.append(f"| worst fold | | {pct(summary.worst.get('war'))} | {pct(summary.worst.get('uar'))} | |")
    for f in summary.paper_figures:
        lines.append(f"| paper: {_md(f.benchmark)} | | {f.value:.2f} ({_md(f.metric)}) | | {_md(f.source)} |")
    lines.append("")
    return lines


def markdown_summary(
    *,
    results: Sequence[GateResult],
    decisions: Sequence[PolicyDecision],
    report: EvalReport,
    family: FamilySummary | None = None,
) -> str:
    """Markdown for a pull-request comment: the exit code, a row per context, each reason with its article;
    for a model family, its per-fold rows, mean of folds and paper figures (:func:`family_markdown`)."""
    code = combined_exit_code(list(results))
    icon = {"allow": "✅", "block": "⛔", "review": "⚠️"}
    where = f"every fold of {len(family.folds)}" if family else f"fold {report.dataset.fold}"
    lines = [
        f"## affectgate gate: {_EXIT_MEANING.get(code, str(code))} (exit {code})",
        "",
        f"Candidate `{report.candidate}` (onnx sha256 `{report.onnx_sha256[:12]}`), data `{report.dataset.name}` "
        f"{where} ({report.dataset.n_samples} clips, digest `{report.dataset.digest[:16]}`), "
        f"target `{report.target}`, suite `{report.suite}@{report.suite_version}`, run `{report.run_id}`.",
        "",
    ]
    if report.synthetic_data:
        lines += [f"> **{SYNTHETIC_NOTICE}**", ""]
    notes = [f"> data: {_md(n)}" for n in dict.fromkeys(n for r in results for n in r.data_notes)]
    lines += [*notes, ""] if notes else []
    lines += family_markdown(family) if family is not None else []
    lines += [
        "| context | verdict | alias | WAR | UAR | group gap | rules that fired |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        alias = (
            f"`{r.context_id}` → v{r.version}"
            if r.promoted
            else (f"unchanged (v{r.alias_holder})" if r.alias_holder else "not set")
        )
        fired = "<br>".join(_md(x) for x in r.reason_rules) or "all rules pass"
        lines.append(
            f"| `{r.context_id}` | {icon.get(r.verdict, '')} {r.verdict} | {alias} | {_fmt(r.metrics.get('war'))} | "
            f"{_fmt(r.metrics.get('uar'))} | {_fmt(r.group_gap[0])}{' ' + r.group_gap[3] if r.group_gap[3] else ''} | "
            f"{fired} |"
        )
    lines.append("")
    for d in decisions:
        if d.reasons:
            lines.append(f"### `{d.context_id}`: why {d.verdict}")
            lines += [f"- **{o.rule_id}** ({o.article}, {o.status}): {_md(o.message)}" for o in d.reasons]
            lines.append("")
    bad = [r for r in report.results if r.status != "ok"]
    lines.append(
        f"Evaluators: {sum(r.status == 'ok' for r in report.results)} ok, "
        f"{sum(r.status == 'failed' for r in report.results)} failed, "
        f"{sum(r.status == 'skipped' for r in report.results)} skipped."
    )
    lines += [f"- `{r.evaluator}` {r.status}: {_md(r.error or '')}" for r in bad]
    lines.append("")
    return "\n".join(lines)


def load_run(*, run_dir: Path, contexts: Sequence[str]) -> tuple[EvalReport, list[PolicyDecision]]:
    """The report and decisions a gate run wrote into its run folder (``report.json``, ``decision.<ctx>.json``)."""
    try:
        report = EvalReport.model_validate_json((run_dir / "report.json").read_text(encoding="utf-8"))
        decisions = [
            PolicyDecision.model_validate_json((run_dir / f"decision.{c}.json").read_text(encoding="utf-8"))
            for c in contexts
        ]
    except (OSError, ValueError) as exc:
        raise AffectgateError(
            f"cannot read the gate run folder {run_dir}: {str(exc).splitlines()[0]}",
            fix="pass the run folder the gate wrote (see the audit log's evaluation.completed run_id)",
        ) from None
    return report, decisions


def smoke_problems(xml_text: str, *, blocked: str = "eu-classroom", article: str = "Art. 5(1)(f)") -> list[str]:
    """What is wrong with a smoke gate's JUnit XML (empty: it passed).

    The smoke gate (``make smoke``, run by ``.ci/run``) must finish every evaluator (none failed), hit no
    rule error, and block ``blocked`` with a failure citing ``article``; other verdicts are the model's own.
    """
    root = ET.fromstring(xml_text)
    problems: list[str] = []
    for suite in root.iter("testsuite"):
        evaluators = suite.get("name") == "evaluators"
        for case in suite.iter("testcase"):
            for bad in [*case.findall("error"), *(case.findall("failure") if evaluators else [])]:
                problems.append(f"{suite.get('name')} / {case.get('name')}: {bad.get('message')}")
    policy = next((s for s in root.iter("testsuite") if s.get("name") == f"policy.{blocked}"), None)
    if policy is None:
        return [*problems, f"no policy test suite for {blocked}"]
    props = {p.get("name"): p.get("value") for p in policy.iter("property")}
    if props.get("verdict") != "block":
        problems.append(f"{blocked} verdict is {props.get('verdict')!r}, expected 'block'")
    if not any(article in (f.text or "") for f in policy.iter("failure")):
        problems.append(f"no failure of {blocked} cites {article}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m affectgate.gate.ci_report check-smoke JUNIT.xml``: exit 0 when the smoke gate's report is right."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "check-smoke":
        print("usage: python -m affectgate.gate.ci_report check-smoke JUNIT.xml", file=sys.stderr)
        return 2
    text = Path(args[1]).read_text(encoding="utf-8")
    problems = smoke_problems(text)
    root = ET.fromstring(text)
    for suite in root.iter("testsuite"):
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        if "verdict" in props:
            print(f"smoke gate: {props['context']} -> {props['verdict']} (promoted {props['promoted']})")
    for p in problems:
        print(f"smoke gate problem: {p}", file=sys.stderr)
    print("smoke gate report OK" if not problems else f"smoke gate report has {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
