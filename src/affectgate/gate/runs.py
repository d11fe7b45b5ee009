"""Read-only access to the workspace for dashboards and CI summaries (no metric maths here)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from affectgate.audit import AuditEvent
from affectgate.core.records import EvalReport, PolicyDecision
from affectgate.project.settings import Settings


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


@dataclass(frozen=True)
class RunAudit:
    """What the audit log says about one run: who started it and which registered version it evaluated."""

    run_id: str
    submitter: str | None
    model: str | None
    version: str | None


_MODEL_SUBJECT = re.compile(r"(?:^|\s)model:(?P<name>[^\s/]+)/(?P<version>[^\s]+)")


def parse_model_subject(subject: str) -> tuple[str, str] | None:
    """(model name, version) from an audit subject such as ``model:affectgate-x/3 context:eu-telehealth``."""
    match = _MODEL_SUBJECT.search(subject)
    return None if match is None else (match["name"], match["version"])


def run_audit_index(*, events: Sequence[AuditEvent]) -> dict[str, RunAudit]:
    """Per run id: the actor of its ``evaluation.started`` event and the version named by ``evaluation.completed``."""
    submitters: dict[str, str] = {}
    versions: dict[str, tuple[str, str]] = {}
    for e in events:
        run_id = e.payload.get("run_id")
        if not isinstance(run_id, str):
            continue
        if e.action == "evaluation.started":
            submitters.setdefault(run_id, e.actor)
        elif e.action == "evaluation.completed" and (parsed := parse_model_subject(e.subject)):
            versions.setdefault(run_id, parsed)
    return {
        run_id: RunAudit(
            run_id=run_id,
            submitter=submitters.get(run_id),
            model=versions[run_id][0] if run_id in versions else None,
            version=versions[run_id][1] if run_id in versions else None,
        )
        for run_id in dict.fromkeys((*submitters, *versions))
    }


def drift_reports(*, run: RunView) -> list[Path]:
    """Evidently HTML reports saved in the run folder (``drift/drift_<window>.html``), sorted by name."""
    folder = run.folder / "drift"
    return sorted(folder.glob("*.html")) if folder.is_dir() else []
