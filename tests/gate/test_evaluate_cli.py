"""`affectgate evaluate`: a suite over a candidate without any decision; table or JSON report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.gate.workspace import audit_log

runner = CliRunner()


@pytest.mark.e2e
def test_evaluate_json_report_and_no_promotion(built):
    before = {e.action for e in audit_log(built.settings).events()}
    res = runner.invoke(
        app, ["evaluate", "--candidate", str(built.model), "--dataset", str(built.data), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # MLflow writes its registration messages to stderr
    assert report["suite"] == "release" and report["synthetic_data"] is True
    names = {m["name"] for r in report["results"] for m in r["measurements"]}
    assert {"war", "uar", "fairness.accuracy_max_gap"} <= names
    run_dir = built.settings.runs_dir / report["run_id"]
    assert (run_dir / "report.json").is_file() and (run_dir / "data_validation.json").is_file()
    events = audit_log(built.settings).events()
    assert events[-1].action == "evaluation.completed"
    assert not ({e.action for e in events} - before) & {"promotion", "rejection", "decision.made"}


@pytest.mark.e2e
def test_evaluate_table_lists_every_measurement_with_interval(built):
    res = runner.invoke(app, ["evaluate", "--candidate", str(built.model), "--dataset", str(built.data)])
    assert res.exit_code == 0, res.output
    assert "fairness.accuracy_max_gap" in res.output and "SYNTHETIC" in res.output and "95% CI" in res.output


def test_evaluate_unknown_suite_is_exit_3(built):
    res = runner.invoke(
        app, ["evaluate", "--candidate", str(built.model), "--dataset", str(built.data), "--suite", "relase"]
    )
    assert res.exit_code == 3 and "release" in res.output
