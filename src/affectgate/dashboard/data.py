"""Data behind the dashboard pages: pure functions from workspace records to DataFrames and report text.

No Streamlit here and no metric maths: every number comes from a stored :class:`EvalReport`, a
:class:`PolicyDecision`, the MLflow registry or the audit log. The one exception is labelled as such:
intersectional fairness re-runs the release suite's own ``fairness`` evaluator on the stored predictions,
and per-group accuracy intervals come from :func:`scipy.stats.binomtest`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import pandas as pd

from affectgate.audit import AuditEvent, ChainReport
from affectgate.core.records import EvalReport, EvalResult, PolicyDecision, UseContext
from affectgate.gate.runs import RunAudit, RunView, parse_model_subject
from affectgate.oversight.queue import ROLES, ReviewItem, SignOff

#: Leaderboard column -> report metric name (the first measurement without group).
LEADERBOARD_METRICS: dict[str, str] = {
    "WAR": "war",
    "UAR": "uar",
    "CCC": "ccc_mean",
    "kappa": "kappa",
    "p95 latency (ms)": "latency.p95_ms",
    "throughput (clips/s)": "throughput.clips_per_s",
    "cost per 1k (USD)": "cost.per_1k_usd",
}
SYNTHETIC_LABEL = "SYNTHETIC"
EMPTY_HINT = "Run `make demo` (or `affectgate gate --model ... --context ... --data ...`) to create evaluation runs."


def _value(report: EvalReport, name: str) -> float | None:
    m = report.metric(name)
    return None if m is None or m.value is None else float(m.value)


def result_of(report: EvalReport, evaluator: str) -> EvalResult | None:
    """The report's result of one evaluator, or None."""
    return next((r for r in report.results if r.evaluator == evaluator), None)


# -- login: roles ------------------------------------------------------------------------------------
def highest_role(roles: Sequence[str] | None) -> str:
    """The most privileged of a user's roles (``viewer`` when none is a known role)."""
    ranked = [r for r in ROLES if r in (roles or [])]
    return ranked[-1] if ranked else "viewer"


def _claim_values(value: object) -> list[str]:
    """A claim as a list of strings (a single string, a list, or a space/comma separated string)."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def _verified(claims: Mapping[str, object]) -> bool:
    """Whether the identity provider vouches for the e-mail (absent ``email_verified`` counts as vouched)."""
    flag = claims.get("email_verified", True)
    return flag is True or str(flag).lower() == "true"


def oidc_role(
    claims: Mapping[str, object],
    *,
    users: Mapping[str, Mapping[str, object]],
    role_claim: str | None = None,
    claim_roles: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """The dashboard role of an OpenID Connect identity and where it came from, least privilege first.

    1. ``users`` (the role file's ``credentials.usernames``): the entry whose ``email`` equals the
       identity's ``email`` claim, unless the provider says ``email_verified: false``;
    2. else ``role_claim`` (e.g. ``groups``): its values mapped through ``claim_roles`` (IdP group ->
       role), or taken as role names when no mapping is given; unknown values grant nothing;
    3. else ``viewer``.

    Several matching roles give the most privileged one (as for password users).
    """
    email = str(claims.get("email") or "").strip().lower()
    if email and _verified(claims):
        for user in users.values():
            if str(user.get("email") or "").strip().lower() == email:
                roles = user.get("roles")
                return highest_role(_claim_values(roles)), "role file (e-mail)"
    if role_claim:
        values = _claim_values(claims.get(role_claim))
        mapped = [claim_roles.get(v) for v in values] if claim_roles else values
        roles = [r for r in mapped if r in ROLES]
        if roles:
            return highest_role(roles), f"claim `{role_claim}`"
    return "viewer", "default (not mapped)"


# -- overview ---------------------------------------------------------------------------------------
def overview_table(
    *,
    latest: dict[str, tuple[RunView, PolicyDecision]],
    holders: dict[tuple[str, str], str | None],
    index: dict[str, RunAudit],
    open_items: Sequence[ReviewItem],
) -> pd.DataFrame:
    """One row per context: latest verdict, the evaluated version, who holds the alias, open review items.

    ``holders`` maps (model name, context id) to the version holding the alias (None: nobody).
    """
    rows = []
    for ctx, (run, decision) in sorted(latest.items()):
        info = index.get(run.report.run_id)
        model = info.model if info and info.model else run.report.candidate
        holder = holders.get((model, ctx))
        rows.append(
            {
                "context": ctx,
                "latest verdict": decision.verdict,
                "evaluated model": f"{model} v{info.version}" if info and info.version else model,
                "alias holder": f"{model} v{holder}" if holder else "none",
                "open review items": sum(1 for i in open_items if i.context_id == ctx),
                "decided as of": decision.as_of.isoformat(),
                "run": run.report.run_id,
                "data": SYNTHETIC_LABEL if run.report.synthetic_data else "real",
                "reasons": "; ".join(f"{o.rule_id} ({o.article})" for o in decision.reasons) or "all rules pass",
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "context",
            "latest verdict",
            "evaluated model",
            "alias holder",
            "open review items",
            "decided as of",
            "run",
            "data",
            "reasons",
        ],
    )


def chain_summary(report: ChainReport) -> tuple[bool, str]:
    """(ok, one-line text) for the audit-chain status badge."""
    if report.ok:
        return True, f"Audit chain verified: {report.n_events} events, head #{report.head_seq}."
    first = report.problems[0].message if report.problems else "unknown problem"
    return False, f"Audit chain BROKEN at event #{report.first_bad_seq}: {first}"


# -- candidates -------------------------------------------------------------------------------------
def leaderboard(*, runs: Sequence[RunView], index: dict[str, RunAudit], techniques: dict[str, str]) -> pd.DataFrame:
    """One row per run: candidate, technique, dataset, target and the leaderboard metrics (None = not measured).

    ``techniques`` maps model name to technique (from the registry's version tags).
    """
    rows = []
    for run in runs:
        rep = run.report
        info = index.get(rep.run_id)
        row: dict[str, object] = {
            "run": rep.run_id,
            "candidate": rep.candidate,
            "version": info.version if info else None,
            "technique": techniques.get(rep.candidate, "unknown"),
            "dataset": rep.dataset.name,
            "data": SYNTHETIC_LABEL if rep.synthetic_data else "real",
            "target": rep.target,
            "suite": f"{rep.suite}@{rep.suite_version}",
        }
        for col, name in LEADERBOARD_METRICS.items():
            row[col] = _value(rep, name)
        row["verdicts"] = ", ".join(f"{d.context_id}: {d.verdict}" for d in run.decisions)
        row["created"] = rep.created.strftime("%Y-%m-%d %H:%M")
        rows.append(row)
    columns = [
        "run",
        "candidate",
        "version",
        "technique",
        "dataset",
        "data",
        "target",
        "suite",
        *LEADERBOARD_METRICS,
        "verdicts",
        "created",
    ]
    return pd.DataFrame(rows, columns=columns)


def per_class_table(report: EvalReport) -> pd.DataFrame:
    """Per-class recall, precision and F1 of the accuracy evaluator, in label order."""
    acc = result_of(report, "accuracy")
    rows: dict[str, dict[str, object]] = {}
    if acc is not None:
        for m in acc.measurements:
            if m.label is None or m.group is not None or m.name not in ("recall", "precision", "f1"):
                continue
            row = rows.setdefault(m.label, {"class": m.label, "n": m.n})
            row[m.name] = m.value
        order = list(acc.label_order)
        ordered = [rows[lbl] for lbl in order if lbl in rows] + [v for k, v in rows.items() if k not in order]
    else:
        ordered = []
    return pd.DataFrame(ordered, columns=["class", "recall", "precision", "f1", "n"])


def evaluator_status(report: EvalReport) -> pd.DataFrame:
    """Each evaluator's status and error (a crash is data)."""
    return pd.DataFrame(
        [{"evaluator": r.evaluator, "status": r.status, "note": r.error or ""} for r in report.results],
        columns=["evaluator", "status", "note"],
    )


def abstention_curve_of(predictions: pd.DataFrame) -> pd.DataFrame:
    """Selective accuracy vs rejection rate of a run's stored predictions (the abstention evaluator's own curve)."""
    from affectgate.evaluators.abstention import abstention_curve, confidence_of, correct_of

    return abstention_curve(confidence=confidence_of(predictions), correct=correct_of(predictions))


def clip_frames(*, report: EvalReport, sample_ids: Sequence[str], data_root: Path, limit: int = 6) -> list[Path]:
    """The first frame of up to ``limit`` clips of the run's dataset (raw face frames: biometric data).

    Only paths inside ``data_root`` are returned; the caller decides whether the user may see them.
    """
    from affectgate.core.errors import AffectgateError
    from affectgate.datasets.dfew import load_dfew_split
    from affectgate.datasets.loading import IMAGE_SUFFIXES
    from affectgate.datasets.paths import is_outside
    from affectgate.datasets.selection import select_for_gate

    ds = report.dataset
    if not ds.root.is_dir() or is_outside(path=ds.root, root=data_root):
        return []
    try:
        if ds.format == "dfew":
            samples = load_dfew_split(root=ds.root, fold=ds.fold or 1, split=ds.split).samples
        else:  # any other registered format: the selection the gate evaluated
            samples = select_for_gate(fmt=ds.format, root=ds.root, fold=ds.fold, split=ds.split)[1].samples
    except AffectgateError:  # the dataset changed or moved since the run: no frames rather than an error
        return []
    by_id = {smp.video_name: smp.frame_dir for smp in samples}
    out: list[Path] = []
    for sid in sample_ids:
        media = by_id.get(str(sid))
        if media is None:
            continue
        if media.is_dir():  # a frame folder: its first frame
            first = next(iter(sorted(f for f in media.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)), None)
        else:  # one frame image; a video file has no frame to show without decoding it
            first = media if media.is_file() and media.suffix.lower() in IMAGE_SUFFIXES else None
        if first is not None and not is_outside(path=first, root=data_root):
            out.append(first)
        if len(out) >= limit:
            break
    return out


# -- fairness ---------------------------------------------------------------------------------------
FindingState = str  # "not shown to exceed" | "inconclusive" | "exceeds"


def finding_state(*, ci_low: float | None, ci_high: float | None, threshold: float, small_groups: float = 0.0) -> str:
    """The quality pack's three states for a gap judged on its CI (mirrors quality.fairness.* rules).

    ``exceeds`` when the CI's lower bound is at or above the threshold, ``inconclusive`` when the upper
    bound reaches it, small groups were excluded or no CI exists, else ``not shown to exceed``.
    """
    if ci_low is None or ci_high is None:
        return "inconclusive"
    if ci_low >= threshold:
        return "exceeds"
    if ci_high >= threshold or small_groups > 0:
        return "inconclusive"
    return "not shown to exceed"


def gap_source(report: EvalReport) -> tuple[EvalResult | None, str]:
    """The result holding a run's judged group gaps and their kind: the ``fairness`` evaluator's accuracy gap,
    else the ``engagement`` evaluator's error gap (a run with group attributes), else ``(None, "accuracy")``."""
    res = result_of(report, "fairness")
    if res is not None:
        return res, "accuracy"
    res = result_of(report, "engagement")
    if res is not None and res.params.get("attributes"):
        return res, "error"
    return None, "accuracy"


def group_table(report: EvalReport, *, alpha: float = 0.05) -> pd.DataFrame:
    """Per attribute and group: accuracy with its Clopper-Pearson interval (scipy), UAR and group size.

    For an engagement run (error gap): the group's MAE of the judged signal (``mae``) and its size instead.
    """
    from scipy.stats import binomtest

    res, kind = gap_source(report)
    if kind == "error":
        judged = f"mae_{res.params.get('fairness_signal', 'attention')}" if res is not None else ""
        rows = [
            {"attribute": m.group.split("=", 1)[0], "group": m.group.split("=", 1)[1], "n": m.n, "mae": m.value}
            for m in (res.measurements if res is not None else ())
            if m.name == judged and m.group is not None and "=" in m.group
        ]
        return pd.DataFrame(rows, columns=["attribute", "group", "n", "mae"])
    rows_by: dict[tuple[str, str], dict[str, object]] = {}
    if res is not None:
        for m in res.measurements:
            if m.group is None or "=" not in m.group or m.name not in ("accuracy", "uar"):
                continue
            attr, grp = m.group.split("=", 1)
            row = rows_by.setdefault((attr, grp), {"attribute": attr, "group": grp, "n": m.n})
            row[m.name] = m.value
            if m.name == "accuracy" and m.value is not None and m.n > 0:
                ci = binomtest(round(m.value * m.n), m.n).proportion_ci(confidence_level=1 - alpha, method="exact")
                row["accuracy ci_low"], row["accuracy ci_high"] = float(ci.low), float(ci.high)
    return pd.DataFrame(
        list(rows_by.values()),
        columns=["attribute", "group", "n", "accuracy", "accuracy ci_low", "accuracy ci_high", "uar"],
    )


def gap_table(report: EvalReport, *, threshold: float) -> pd.DataFrame:
    """Per attribute (and overall): the group gap (accuracy, or engagement-score MAE for an engagement run),
    its 95% CI, the threshold and the three-state finding."""
    columns = ["attribute", "gap", "ci_low", "ci_high", "threshold", "finding", "n", "gated"]
    res, kind = gap_source(report)
    if res is None or res.status != "ok":
        return pd.DataFrame(columns=columns)
    gated = set(res.params.get("gated_attributes") or ["skin_tone_group"])  # type: ignore[arg-type]
    small_name = "fairness.small_groups" if kind == "accuracy" else f"fairness.{kind}_small_groups"
    small = next((m.value for m in res.measurements if m.name == small_name), None) or 0.0
    prefix = f"fairness.{kind}_max_gap"
    rows = []
    for m in res.measurements:
        if not m.name.startswith(prefix):
            continue
        attr = m.name.removeprefix(prefix).lstrip(".") or "overall (gated)"
        is_gated = attr in gated or attr == "overall (gated)"
        rows.append(
            {
                "attribute": attr,
                "gap": m.value,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "threshold": threshold,
                "finding": finding_state(
                    ci_low=m.ci_low, ci_high=m.ci_high, threshold=threshold, small_groups=small if is_gated else 0.0
                ),
                "n": m.n,
                "gated": is_gated,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def intersection_result(*, predictions: pd.DataFrame, attributes: Sequence[str], params: dict) -> EvalResult:  # type: ignore[type-arg]
    """The release suite's ``fairness`` evaluator run on one intersection column (e.g. skin_tone_group x sex).

    Not part of any gate decision: the dashboard shows it as additional evidence. Raises ValueError
    (from the evaluator) when no two intersection groups are large enough to judge.
    """
    from affectgate.evaluators import run_evaluator

    name = " x ".join(attributes)
    frame = predictions.copy()
    frame[name] = frame[list(attributes)].astype(str).agg(" & ".join, axis=1)
    p = {k: v for k, v in params.items() if k not in ("attributes", "gated_attributes")}
    p |= {"attributes": [name], "gated_attributes": [name]}
    return run_evaluator(name="fairness", predictions=frame, params=p, model=None)


# -- drift ------------------------------------------------------------------------------------------
def _window(group: str | None) -> str | None:
    return group.split("=", 1)[1] if group and group.startswith("window=") else None


def drift_windows(report: EvalReport) -> pd.DataFrame:
    """Per window: share of drifted features, drift detected, rows compared."""
    res = result_of(report, "drift")
    rows: dict[str, dict[str, object]] = {}
    if res is not None:
        for m in res.measurements:
            w = _window(m.group)
            if w is None or m.name not in ("drift.share_drifted_features", "drift.detected"):
                continue
            row = rows.setdefault(w, {"window": w, "n": m.n})
            row["share drifted" if m.name == "drift.share_drifted_features" else "drift detected"] = m.value
    return pd.DataFrame(list(rows.values()), columns=["window", "share drifted", "drift detected", "n"])


def drift_features(report: EvalReport) -> pd.DataFrame:
    """Per window and input statistic: the drift test's p-value and whether it counts as drifted."""
    res = result_of(report, "drift")
    if res is None:
        return pd.DataFrame(columns=["window", "feature", "p_value", "drifted"])
    threshold = float(res.params.get("threshold", 0.05) or 0.05)  # type: ignore[arg-type]
    rows = [
        {
            "window": _window(m.group),
            "feature": m.label,
            "p_value": m.value,
            "drifted": m.value is not None and m.value < threshold,
        }
        for m in res.measurements
        if m.name == "drift.feature_p_value" and _window(m.group)
    ]
    return pd.DataFrame(rows, columns=["window", "feature", "p_value", "drifted"])


def drift_class_metrics(report: EvalReport) -> pd.DataFrame:
    """Per window and class: precision and recall (the drift evaluator's label metrics)."""
    res = result_of(report, "drift")
    rows: dict[tuple[str, str], dict[str, object]] = {}
    if res is not None:
        for m in res.measurements:
            w = _window(m.group)
            if w is None or m.label is None or m.name not in ("drift.precision", "drift.recall"):
                continue
            row = rows.setdefault((w, m.label), {"window": w, "class": m.label})
            row[m.name.removeprefix("drift.")] = m.value
    return pd.DataFrame(list(rows.values()), columns=["window", "class", "precision", "recall"])


# -- policy -----------------------------------------------------------------------------------------
def outcomes_table(decision: PolicyDecision) -> pd.DataFrame:
    """Every rule outcome with article, severity, status, effective_from, message and evidence."""
    return pd.DataFrame(
        [
            {
                "rule": o.rule_id,
                "pack": o.pack,
                "article": o.article,
                "status": o.status,
                "severity": o.severity,
                "effective from": o.effective_from.isoformat(),
                "message": o.message,
                "evidence": "; ".join(f"{k} = {v}" for k, v in o.evidence.items()),
            }
            for o in decision.outcomes
        ],
        columns=["rule", "pack", "article", "status", "severity", "effective from", "message", "evidence"],
    )


def context_table(context: UseContext) -> pd.DataFrame:
    """The deployment context declaration as (field, value, meaning) rows."""
    rows = []
    for name, info in type(context).model_fields.items():
        value = getattr(context, name)
        if isinstance(value, tuple):
            value = ", ".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        rows.append({"field": name, "value": "-" if value is None else str(value), "meaning": info.description or ""})
    return pd.DataFrame(rows, columns=["field", "value", "meaning"])


# -- audit trail ------------------------------------------------------------------------------------
def events_table(events: Sequence[AuditEvent], *, query: str = "", actions: Sequence[str] = ()) -> pd.DataFrame:
    """Audit events, newest first, filtered by action and a case-insensitive text query over all fields."""
    q = query.strip().lower()
    rows = []
    for e in reversed(events):
        if actions and e.action not in actions:
            continue
        payload = json.dumps(e.payload, sort_keys=True)
        if q and q not in f"{e.seq} {e.actor} {e.action} {e.subject} {payload}".lower():
            continue
        rows.append(
            {
                "seq": e.seq,
                "time": e.time.strftime("%Y-%m-%d %H:%M:%S"),
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "payload": payload,
                "digest": e.digest[:16],
            }
        )
    return pd.DataFrame(rows, columns=["seq", "time", "actor", "action", "subject", "payload", "digest"])


def alias_history(events: Sequence[AuditEvent]) -> pd.DataFrame:
    """Every alias movement in the audit log: gate promotions and approved sign-offs, oldest first."""
    rows = []
    for e in events:
        if e.action == "promotion" and e.payload.get("alias"):
            parsed = parse_model_subject(e.subject)
            if parsed:
                rows.append(
                    {
                        "time": e.time,
                        "model": parsed[0],
                        "alias": str(e.payload["alias"]),
                        "version": parsed[1],
                        "seq": e.seq,
                        "actor": e.actor,
                        "how": "gate promotion",
                    }
                )
        elif e.action == "alias.moved":
            rows.append(
                {
                    "time": e.time,
                    "model": str(e.payload.get("model")),
                    "alias": str(e.payload.get("alias")),
                    "version": str(e.payload.get("version")),
                    "seq": e.seq,
                    "actor": e.actor,
                    "how": "sign-off",
                }
            )
    return pd.DataFrame(rows, columns=["time", "model", "alias", "version", "seq", "actor", "how"])


def alias_holder_at(history: pd.DataFrame, *, model: str, alias: str, when: datetime) -> pd.Series | None:
    """The history row of the version that held ``alias`` of ``model`` at ``when`` (None: nobody held it)."""
    if history.empty:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    rows = history[(history["model"] == model) & (history["alias"] == alias) & (history["time"] <= when)]
    return None if rows.empty else rows.iloc[-1]


def end_of_day(day: date) -> datetime:
    """The last instant of ``day`` in UTC."""
    return datetime.combine(day, time.max, tzinfo=UTC)


# -- export -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditReport:
    """Everything an audit report for one context and period holds."""

    context: UseContext | None
    context_id: str
    start: date
    end: date
    generated: datetime
    decisions: tuple[tuple[RunView, PolicyDecision], ...]
    decision_events: tuple[AuditEvent, ...]
    signoffs: tuple[SignOff, ...]
    alias_moves: pd.DataFrame
    chain: ChainReport
    synthetic_data: bool


def build_audit_report(
    *,
    context_id: str,
    context: UseContext | None,
    start: date,
    end: date,
    runs: Sequence[RunView],
    events: Sequence[AuditEvent],
    signoffs: Sequence[SignOff],
    chain: ChainReport,
    now: datetime | None = None,
) -> AuditReport:
    """Select the period's decisions, decision events, sign-offs and alias moves of one context."""
    lo, hi = datetime.combine(start, time.min, tzinfo=UTC), end_of_day(end)
    decisions = tuple(
        (run, d) for run in runs for d in run.decisions if d.context_id == context_id and lo <= run.report.created <= hi
    )
    devents = tuple(
        e
        for e in events
        if e.action
        in ("decision.made", "promotion", "rejection", "signoff.approved", "signoff.rejected", "alias.moved")
        and f"context:{context_id}" in e.subject.split()
        and lo <= e.time <= hi
    )
    history = alias_history(events)
    moves = history[(history["alias"] == context_id) & (history["time"] >= lo) & (history["time"] <= hi)]
    return AuditReport(
        context=context,
        context_id=context_id,
        start=start,
        end=end,
        generated=now or datetime.now(UTC),
        decisions=decisions,
        decision_events=devents,
        signoffs=tuple(s for s in signoffs if s.context_id == context_id and lo <= s.time <= hi),
        alias_moves=moves.reset_index(drop=True),
        chain=chain,
        synthetic_data=any(run.report.synthetic_data for run, _ in decisions),
    )


def _fmt(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def report_sections(report: AuditReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report as (title, header, rows) tables: the same content for the HTML and the PDF."""
    ok, chain_text = chain_summary(report.chain)
    sections: list[tuple[str, list[str], list[list[str]]]] = [
        (
            "Scope",
            ["item", "value"],
            [
                ["context", report.context_id + (f" - {report.context.title}" if report.context else "")],
                ["period", f"{report.start.isoformat()} to {report.end.isoformat()}"],
                ["generated", report.generated.strftime("%Y-%m-%d %H:%M UTC")],
                ["audit chain", chain_text],
                ["data", "SYNTHETIC DATA: not evidence about real people" if report.synthetic_data else "as stored"],
            ],
        )
    ]
    decision_rows = []
    evidence_rows = []
    rule_rows = []
    for run, d in report.decisions:
        rep = run.report
        decision_rows.append(
            [rep.run_id, rep.candidate, d.verdict, d.as_of.isoformat(), "; ".join(o.rule_id for o in d.reasons) or "-"]
        )
        evidence_rows.append(
            [
                rep.run_id,
                f"{rep.dataset.name} ({rep.dataset.digest[:12]})",
                f"{rep.suite}@{rep.suite_version}",
                *(_fmt(_value(rep, n)) for n in ("war", "uar", "fairness.accuracy_max_gap")),
                "yes" if rep.synthetic_data else "no",
            ]
        )
        for o in d.outcomes:
            rule_rows.append(
                [rep.run_id[:22], o.rule_id, o.article, o.status, o.severity, o.effective_from.isoformat()]
            )
    sections += [
        ("Decisions", ["run", "candidate", "verdict", "as of", "reasons"], decision_rows),
        ("Evidence", ["run", "dataset", "suite", "WAR", "UAR", "max group gap", "synthetic"], evidence_rows),
        ("Rule outcomes", ["run", "rule", "article", "status", "severity", "effective from"], rule_rows),
        (
            "Sign-offs",
            ["time", "approver", "decision", "version", "reason"],
            [
                [s.time.strftime("%Y-%m-%d %H:%M"), s.approver, s.decision, f"{s.model} v{s.version}", s.reason]
                for s in report.signoffs
            ],
        ),
        (
            "Alias movements",
            ["time", "model", "version", "how", "actor"],
            [
                [r.time.strftime("%Y-%m-%d %H:%M"), r.model, r.version, r.how, r.actor]
                for r in report.alias_moves.itertuples()
            ],
        ),
        (
            "Audit events",
            ["seq", "time", "actor", "action", "subject"],
            [
                [str(e.seq), e.time.strftime("%Y-%m-%d %H:%M"), e.actor, e.action, e.subject]
                for e in report.decision_events
            ],
        ),
        (
            "Chain verification",
            ["status", "events", "head", "problems"],
            [
                [
                    "verified" if ok else "BROKEN",
                    str(report.chain.n_events),
                    f"#{report.chain.head_seq} {(report.chain.head_digest or '')[:16]}",
                    "; ".join(p.message for p in report.chain.problems) or "none",
                ]
            ],
        ),
    ]
    return sections


def render_html(report: AuditReport) -> str:
    """A self-contained HTML audit report."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>affectgate audit report - {html.escape(report.context_id)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #999;padding:3px 6px;font-size:12px;text-align:left}"
        ".synthetic{background:#fde68a;padding:.5em;font-weight:bold}</style></head><body>",
        f"<h1>affectgate audit report: {html.escape(report.context_id)}</h1>",
    ]
    if report.synthetic_data:
        parts.append("<p class='synthetic'>SYNTHETIC DATA: the evidence below comes from generated faces.</p>")
    for title, header, rows in report_sections(report):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if not rows:
            parts.append("<p>none in this period</p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render_pdf(report: AuditReport, *, font: Path | None = _FONT) -> bytes:
    """The same report as PDF (fpdf2). Uses DejaVu Sans when present, else Helvetica with latin-1 text."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    unicode_font = font is not None and font.is_file()
    if unicode_font:
        pdf.add_font("body", fname=str(font))
        family = "body"
    else:
        family = "helvetica"

    def text(value: str) -> str:
        return value if unicode_font else value.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.cell(0, 10, text(f"affectgate audit report: {report.context_id}"), new_x="LMARGIN", new_y="NEXT")
    if report.synthetic_data:
        pdf.set_font(family, size=11)
        pdf.set_fill_color(253, 230, 138)
        pdf.cell(
            0, 8, "SYNTHETIC DATA: the evidence comes from generated faces.", fill=True, new_x="LMARGIN", new_y="NEXT"
        )
    for title, header, rows in report_sections(report):
        pdf.set_font(family, size=13)
        pdf.ln(3)
        pdf.cell(0, 8, text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=8)
        if not rows:
            pdf.cell(0, 6, "none in this period", new_x="LMARGIN", new_y="NEXT")
            continue
        with pdf.table(headings_style=FontFace(emphasis=None, fill_color=(220, 220, 220))) as table:
            head = table.row()
            for h in header:
                head.cell(text(h))
            for r in rows:
                row = table.row()
                for c in r:
                    row.cell(text(str(c))[:400])
    return bytes(pdf.output())
