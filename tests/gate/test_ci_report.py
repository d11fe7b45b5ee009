"""CI reports: JUnit XML parses and counts every rule outcome and evaluator; the Markdown names the articles."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from affectgate.core.errors import AffectgateError
from affectgate.core.records import DatasetSpec, EvalReport, EvalResult, Measurement, PolicyDecision, RuleOutcome
from affectgate.gate.ci_report import junit_xml, load_run, markdown_summary
from affectgate.gate.results import GateResult


def _outcome(rule_id: str, status: str, severity: str = "block") -> RuleOutcome:
    return RuleOutcome(
        rule_id=rule_id,
        pack="quality",
        title=rule_id,
        article="Art. 15" if rule_id.startswith("q") else "Art. 5(1)(f)",
        status=status,
        severity=severity,
        effective_from=date(2025, 2, 2),
        message=f'{rule_id} is {status} <&> "quoted"',
        evidence={"uar": 0.71},
    )


def _report() -> EvalReport:
    ds = DatasetSpec(
        name="synth_dfew_tiny",
        format="dfew",
        root=Path("/data/synth_dfew_tiny"),
        fold=1,
        split="test",
        digest="0123456789abcdef0123.dir",
        synthetic=True,
        n_samples=12,
    )
    m = Measurement(name="uar", value=0.71, higher_is_better=True, averaging="macro over classes", n=12)
    return EvalReport(
        run_id="r1",
        candidate="affectgate-demo",
        onnx_sha256="ab" * 32,
        dataset=ds,
        target="cpu",
        suite="release",
        suite_version="3",
        results=(
            EvalResult(evaluator="accuracy", status="ok", measurements=(m,)),
            EvalResult(evaluator="latency", status="failed", error="onnxruntime crashed"),
            EvalResult(evaluator="drift", status="skipped", error="no reference window"),
        ),
        synthetic_data=True,
        created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        affectgate_version="0.1.0",
    )


def _decision(ctx: str, verdict: str, outcomes: tuple[RuleOutcome, ...]) -> PolicyDecision:
    return PolicyDecision(
        context_id=ctx, verdict=verdict, outcomes=outcomes, pack_digests={"quality": "f" * 64}, as_of=date(2026, 1, 2)
    )


def _result(ctx: str, verdict: str, decision: PolicyDecision) -> GateResult:
    return GateResult(
        context_id=ctx,
        verdict=verdict,
        promoted=verdict == "allow",
        model="affectgate-demo",
        version="3",
        alias_holder="3" if verdict == "allow" else None,
        reasons=tuple(f"{o.rule_id} [{o.article}]: {o.message}" for o in decision.reasons),
        reason_rules=tuple(f"{o.rule_id} [{o.article}]" for o in decision.reasons),
        metrics={"war": 0.8, "uar": 0.71, "fairness.accuracy_max_gap": 0.05},
        synthetic_data=True,
    )


@pytest.fixture()
def gate_run():
    tele = _decision(
        "eu-telehealth",
        "allow",
        (
            _outcome("q.uar_floor", "pass"),
            _outcome("euaia.art50", "not_yet_effective"),
            _outcome("q.warn", "fail", "warn"),
        ),
    )
    school = _decision(
        "eu-classroom",
        "block",
        (
            _outcome("euaia.art5_1f", "fail"),
            _outcome("q.gap", "error", "review"),
            _outcome("euaia.medical", "not_applicable"),
        ),
    )
    decisions = [tele, school]
    results = [_result("eu-telehealth", "allow", tele), _result("eu-classroom", "block", school)]
    return results, decisions, _report()


def test_junit_counts_match_outcomes(gate_run):
    """Every rule outcome per context and every evaluator is one test case, mapped to failure/error/skipped."""
    results, decisions, report = gate_run
    root = ET.fromstring(junit_xml(results=results, decisions=decisions, report=report))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["policy.eu-telehealth", "policy.eu-classroom", "evaluators"]
    for suite in suites.values():
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors")) == sum(c.find("error") is not None for c in cases)
        assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases)
    tele, school, ev = suites.values()
    assert (tele.get("tests"), tele.get("failures"), tele.get("errors"), tele.get("skipped")) == ("3", "1", "0", "1")
    assert (school.get("tests"), school.get("failures"), school.get("errors"), school.get("skipped")) == (
        "3",
        "1",
        "1",
        "1",
    )
    assert (ev.get("tests"), ev.get("failures"), ev.get("skipped")) == ("3", "1", "1")
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("9", "3", "1", "3")
    art5 = school.find("testcase[@name='euaia.art5_1f']")
    assert art5.get("classname") == "affectgate.policy.eu-classroom"
    assert "Art. 5(1)(f)" in art5.find("failure").text and '<&> "quoted"' in art5.find("failure").get("message")
    assert "effective from 2025-02-02" in tele.find("testcase[@name='euaia.art50']/skipped").get("message")
    props = {p.get("name"): p.get("value") for p in school.find("properties")}
    assert props["verdict"] == "block" and props["promoted"] == "false" and props["synthetic_data"] == "true"
    assert ev.find("testcase[@name='latency']/failure").get("message") == "onnxruntime crashed"


def test_junit_refuses_decision_without_result(gate_run):
    """A decision whose context has no GateResult is an error, not a silently dropped suite."""
    results, decisions, report = gate_run
    with pytest.raises(AffectgateError, match="eu-classroom"):
        junit_xml(results=results[:1], decisions=decisions, report=report)


def test_markdown_summary_names_verdicts_and_articles(gate_run):
    """The summary states the combined exit code, a row per context, every reason with its article, the notice."""
    results, decisions, report = gate_run
    md = markdown_summary(results=results, decisions=decisions, report=report)
    assert md.startswith("## affectgate gate: blocked (exit 1)")
    assert "| `eu-telehealth` | ✅ allow | `eu-telehealth` → v3 |" in md
    assert "| `eu-classroom` | ⛔ block | not set |" in md
    assert "**euaia.art5_1f** (Art. 5(1)(f), fail)" in md and "**q.gap** (Art. 15, error)" in md
    assert "SYNTHETIC DATA" in md
    assert "1 ok, 1 failed, 1 skipped" in md and "`latency` failed: onnxruntime crashed" in md


def test_load_run_round_trips_run_folder(gate_run, tmp_path):
    """The report and decisions a run folder holds load back equal; a missing decision names the folder."""
    _, decisions, report = gate_run
    (tmp_path / "report.json").write_text(report.model_dump_json(), encoding="utf-8")
    for d in decisions:
        (tmp_path / f"decision.{d.context_id}.json").write_text(d.model_dump_json(), encoding="utf-8")
    loaded, loaded_decisions = load_run(run_dir=tmp_path, contexts=["eu-telehealth", "eu-classroom"])
    assert loaded == report and loaded_decisions == decisions
    with pytest.raises(AffectgateError, match=str(tmp_path)):
        load_run(run_dir=tmp_path, contexts=["us-ad-testing"])


def test_smoke_check_names_errors_failed_evaluators_and_a_missing_block(gate_run, tmp_path, capsys):
    """The CI smoke check (make smoke) passes only without errors or failed evaluators and with the Art. 5 block."""
    from dataclasses import replace

    from affectgate.gate.ci_report import main, smoke_problems

    results, decisions, report = gate_run
    problems = smoke_problems(junit_xml(results=results, decisions=decisions, report=report))
    # the fixture has a rule error (q.gap) and a failed evaluator (latency): both named
    assert any("q.gap" in p for p in problems) and any("latency" in p for p in problems)
    assert not any("eu-classroom verdict" in p for p in problems)
    clean_report = report.model_copy(update={"results": report.results[:1]})
    school = decisions[1].model_copy(update={"outcomes": decisions[1].outcomes[:1]})
    clean = junit_xml(results=results, decisions=[decisions[0], school], report=clean_report)
    assert smoke_problems(clean) == []
    path = tmp_path / "junit.xml"
    path.write_text(clean, encoding="utf-8")
    assert main(["check-smoke", str(path)]) == 0
    assert "eu-classroom -> block" in capsys.readouterr().out
    # a classroom that was not blocked fails the smoke check
    allowed = school.model_copy(update={"verdict": "allow", "outcomes": ()})
    res = [results[0], replace(results[1], verdict="allow")]
    bad = smoke_problems(junit_xml(results=res, decisions=[decisions[0], allowed], report=clean_report))
    assert any("expected 'block'" in p for p in bad) and any("cites Art. 5(1)(f)" in p for p in bad)


def test_tiny_config_file_matches_the_cli_constant():
    """model_zoo/mobilenet_v2_frame/tiny.yaml (make smoke) trains exactly like the demo's part B and the tests."""
    import yaml

    from affectgate.demo.tiny import TINY_TRAIN_CONFIG

    path = Path(__file__).resolve().parents[2] / "model_zoo" / "mobilenet_v2_frame" / "tiny.yaml"
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == TINY_TRAIN_CONFIG
