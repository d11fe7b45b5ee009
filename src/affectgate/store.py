"""Read-only access to the workspace for dashboards and CI summaries (no metric maths here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from affectgate.records import EvalReport, PolicyDecision
from affectgate.settings import Settings


@dataclass(frozen=True)
class RunView:
    """One run folder: its report and the decisions taken on it."""

    folder: Path
    report: EvalReport
    decisions: tuple[PolicyDecision, ...]


def list_runs(*, settings: Settings) -> list[RunView]:
    """Every run folder with a readable report, newest first."""
    runs: list[RunView] = []
    if not settings.runs_dir.is_dir():
        return runs
    for folder in sorted(settings.runs_dir.iterdir(), reverse=True):
        report_path = folder / "report.json"
        if not report_path.is_file():
            continue
        report = EvalReport.model_validate_json(report_path.read_text(encoding="utf-8"))
        decisions = tuple(
            PolicyDecision.model_validate(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("decision.*.json"))
        )
        runs.append(RunView(folder=folder, report=report, decisions=decisions))
    return runs


def latest_decisions(*, settings: Settings) -> dict[str, tuple[RunView, PolicyDecision]]:
    """The newest decision per context id, with the run it was taken on."""
    out: dict[str, tuple[RunView, PolicyDecision]] = {}
    for run in list_runs(settings=settings):
        for d in run.decisions:
            out.setdefault(d.context_id, (run, d))
    return out
