"""Read-only access to the workspace for dashboards and CI summaries (no metric maths here)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from affectgate.audit import AuditEvent
from affectgate.core.records import EvalReport, PolicyDecision, RuleOutcome
from affectgate.project.settings import Settings


@dataclass(frozen=True)
class RunView:
    """One run folder: its report and its decisions (re-derived from the audit log, see :func:`list_runs`)."""

    folder: Path
    report: EvalReport
    decisions: tuple[PolicyDecision, ...]
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditedDecision:
    """A ``decision.made`` audit event: the only record of a decision that readers trust."""

    run_id: str
    context_id: str
    verdict: str
    seq: int
    decision_sha256: str | None
    outcomes: dict[str, str]
    as_of: str
    pack_digests: dict[str, str]


#: Rule id of the finding a reader raises when a run folder's decision file and its audit event disagree.
INTEGRITY_RULE = "audit.decision_integrity"
_CONTEXT_SUBJECT = re.compile(r"(?:^|\s)context:(?P<ctx>[^\s]+)")


def audited_decisions(*, events: Sequence[AuditEvent]) -> dict[tuple[str, str], AuditedDecision]:
    """Per (run id, context id): the first ``decision.made`` event (the gate writes one per context and run)."""
    out: dict[tuple[str, str], AuditedDecision] = {}
    for e in events:
        if e.action != "decision.made":
            continue
        run_id, match = e.payload.get("run_id"), _CONTEXT_SUBJECT.search(e.subject)
        if not isinstance(run_id, str) or match is None:
            continue
        p = e.payload
        digest = p.get("decision_sha256")
        out.setdefault(
            (run_id, match["ctx"]),
            AuditedDecision(
                run_id=run_id,
                context_id=match["ctx"],
                verdict=str(p.get("verdict", "")),
                seq=e.seq,
                decision_sha256=digest if isinstance(digest, str) else None,
                outcomes={str(k): str(v) for k, v in (p.get("outcomes") or {}).items()},
                as_of=str(p.get("as_of", "")),
                pack_digests={str(k): str(v) for k, v in (p.get("pack_digests") or {}).items()},
            ),
        )
    return out


def integrity_decision(*, context_id: str, why: str, audited: AuditedDecision | None) -> PolicyDecision:
    """A block decision standing for a decision whose run-folder file cannot be trusted (the cause named)."""
    from datetime import UTC, datetime

    as_of = date.today()
    if audited is not None:
        try:
            as_of = date.fromisoformat(audited.as_of)
        except ValueError:
            as_of = datetime.now(UTC).date()
    outcome = RuleOutcome(
        rule_id=INTEGRITY_RULE,
        pack="affectgate",
        title="The decision matches its audit record",
        article="AI Act Art. 12 (record-keeping), Art. 14 (human oversight)",
        status="error",
        severity="block",
        effective_from=date(2024, 8, 1),
        message=why,
        evidence={
            "audited_verdict": audited.verdict if audited else None,
            "audit_seq": audited.seq if audited else None,
        },
    )
    return PolicyDecision(
        context_id=context_id,
        verdict="block",
        outcomes=(outcome,),
        pack_digests=audited.pack_digests if audited else {},
        as_of=as_of,
    )


def reconcile_decision(
    *, context_id: str, raw: bytes | None, audited: AuditedDecision | None, log_problem: str | None = None
) -> tuple[PolicyDecision, str | None]:
    """The decision to show for one (run, context) and the finding (None when file and audit agree).

    The audit event decides: the file's details are used only when its sha256 is the audited
    ``decision_sha256`` (events written before that field: when verdict and every rule status match).
    Anything else (no event, another digest, an unreadable file, a log that does not verify) is a
    finding and the decision is a block naming it.
    """
    if log_problem is not None:
        why = f"the audit log does not verify ({log_problem}): the decision of {context_id} cannot be trusted"
        return integrity_decision(context_id=context_id, why=why, audited=None), why
    if audited is None:
        why = f"decision.{context_id}.json has no decision.made event in the audit log (written outside the gate)"
        return integrity_decision(context_id=context_id, why=why, audited=None), why
    if raw is None:
        why = f"decision.{context_id}.json is missing; the audit log records verdict {audited.verdict!r}"
        return integrity_decision(context_id=context_id, why=why, audited=audited), why
    try:
        decision = PolicyDecision.model_validate_json(raw)
    except ValueError:
        decision = None
    if audited.decision_sha256 is not None:
        same = hashlib.sha256(raw).hexdigest() == audited.decision_sha256
    else:
        same = decision is not None and (
            decision.verdict == audited.verdict and {o.rule_id: o.status for o in decision.outcomes} == audited.outcomes
        )
    if decision is None or not same or decision.context_id != context_id or decision.verdict != audited.verdict:
        shown = decision.verdict if decision is not None else "unreadable"
        why = (
            f"decision.{context_id}.json (verdict {shown!r}) does not match the audited decision.made "
            f"(event {audited.seq}, verdict {audited.verdict!r}): the run folder was edited after the gate"
        )
        return integrity_decision(context_id=context_id, why=why, audited=audited), why
    return decision, None


def verified_events(*, settings: Settings) -> tuple[list[AuditEvent], str | None]:
    """Every audit event and, when the chain does not verify, its first problem (events then untrusted)."""
    from affectgate.gate.workspace import audit_log

    if not settings.audit_path.is_file():
        return [], None
    log = audit_log(settings)
    report = log.verify()
    if not report.ok:
        return [], report.problems[0].message if report.problems else "chain does not verify"
    return log.events(), None


def list_runs(*, settings: Settings, events: Sequence[AuditEvent] | None = None) -> list[RunView]:
    """Every run folder with a readable report, newest first; decisions re-derived from the audit log.

    ``events``: the audit events to trust (default: the workspace's log, verified first). A run folder's
    ``decision.<context>.json`` is shown only when it matches its ``decision.made`` event
    (:func:`reconcile_decision`); otherwise the run carries a finding and the decision is a block.
    """
    runs: list[RunView] = []
    if not settings.runs_dir.is_dir():
        return runs
    problem: str | None = None
    if events is None:
        events, problem = verified_events(settings=settings)
    audited = audited_decisions(events=events)
    for folder in sorted(settings.runs_dir.iterdir(), reverse=True):
        report_path = folder / "report.json"
        if not report_path.is_file():
            continue
        report = EvalReport.model_validate_json(report_path.read_text(encoding="utf-8"))
        files = {p.name[len("decision.") : -len(".json")]: p for p in folder.glob("decision.*.json")}
        contexts = sorted({*files, *(c for r, c in audited if r == report.run_id)})
        decisions, findings = [], []
        for ctx in contexts:
            raw = files[ctx].read_bytes() if ctx in files else None
            decision, finding = reconcile_decision(
                context_id=ctx, raw=raw, audited=audited.get((report.run_id, ctx)), log_problem=problem
            )
            decisions.append(decision)
            if finding is not None:
                findings.append(finding)
        runs.append(RunView(folder=folder, report=report, decisions=tuple(decisions), findings=tuple(findings)))
    return runs


def latest_decisions(*, settings: Settings) -> dict[str, tuple[RunView, PolicyDecision]]:
    """The newest decision per context id (re-derived from the audit log, see :func:`list_runs`), with its run."""
    out: dict[str, tuple[RunView, PolicyDecision]] = {}
    for run in list_runs(settings=settings):
        for d in run.decisions:
            out.setdefault(d.context_id, (run, d))
    return out


@dataclass(frozen=True)
class RunAudit:
    """What the audit log says about one run: who submitted it, who made the model, which version it evaluated."""

    run_id: str
    submitter: str | None
    model: str | None
    version: str | None
    submitter_kind: str | None = None
    submitter_method: str | None = None
    trained_by: str | None = None
    exported_by: str | None = None


_MODEL_SUBJECT = re.compile(r"(?:^|\s)model:(?P<name>[^\s/]+)/(?P<version>[^\s]+)")


def parse_model_subject(subject: str) -> tuple[str, str] | None:
    """(model name, version) from an audit subject such as ``model:affectgate-x/3 context:eu-telehealth``."""
    match = _MODEL_SUBJECT.search(subject)
    return None if match is None else (match["name"], match["version"])


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def run_audit_index(*, events: Sequence[AuditEvent]) -> dict[str, RunAudit]:
    """Per run id: submitter and lineage (``evaluation.started``), version (``evaluation.completed``).

    The submitter is the identity the gate established (payload ``submitter``), else the event's actor
    (events written before identities were recorded).
    """
    started: dict[str, AuditEvent] = {}
    versions: dict[str, tuple[str, str]] = {}
    for e in events:
        run_id = e.payload.get("run_id")
        if not isinstance(run_id, str):
            continue
        if e.action == "evaluation.started":
            started.setdefault(run_id, e)
        elif e.action == "evaluation.completed" and (parsed := parse_model_subject(e.subject)):
            versions.setdefault(run_id, parsed)
    out: dict[str, RunAudit] = {}
    for run_id in dict.fromkeys((*started, *versions)):
        ev = started.get(run_id)
        who = ev.payload.get("submitter") if ev is not None else None
        who = who if isinstance(who, dict) else {}
        lineage = ev.payload.get("lineage") if ev is not None else None
        lineage = lineage if isinstance(lineage, dict) else {}
        out[run_id] = RunAudit(
            run_id=run_id,
            submitter=_text(who.get("subject")) or (ev.actor if ev is not None else None),
            model=versions[run_id][0] if run_id in versions else None,
            version=versions[run_id][1] if run_id in versions else None,
            submitter_kind=_text(who.get("kind")),
            submitter_method=_text(who.get("method")),
            trained_by=_text(lineage.get("trained_by")),
            exported_by=_text(lineage.get("exported_by")),
        )
    return out


def drift_reports(*, run: RunView) -> list[Path]:
    """Evidently HTML reports saved in the run folder (``drift/drift_<window>.html``), sorted by name."""
    folder = run.folder / "drift"
    return sorted(folder.glob("*.html")) if folder.is_dir() else []
