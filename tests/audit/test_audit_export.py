"""Audit export for a period (Markdown, HTML, JSONL), retention floor, and 2 x 200 concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import multiprocessing.synchronize
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from affectgate.audit import AuditError, AuditEvent, AuditLog, make_event
from affectgate.audit.export import audit_export_command, export, parse_bound
from affectgate.project.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def _settings(tmp: Path, **kw) -> Settings:
    return Settings(project_root=ROOT, workspace=tmp / "ws", data_root=tmp / "data", **kw)


def _write_events(settings: Settings, specs: list[tuple[datetime, str, str, dict]], key: str | None = None) -> None:
    """A chain with chosen times (AuditLog.append stamps 'now'; export periods need fixed times)."""
    log = AuditLog(path=settings.audit_path, hmac_key=key)
    log.path.parent.mkdir(parents=True, exist_ok=True)
    prev = None
    with log.path.open("w", encoding="utf-8") as fh:
        for when, action, subject, payload in specs:
            prev = make_event(prev=prev, time=when, actor="gate", action=action, subject=subject, payload=payload)
            fh.write(prev.model_dump_json() + "\n")
    log._write_anchor(prev)  # the store's own anchor writer, so HMAC signing is the real one


def _history(settings: Settings, key: str | None = None) -> None:
    decision = {
        "verdict": "block",
        "as_of": "2026-02-01",
        "pack_digests": {"eu_ai_act": "a" * 64},
        "outcomes": {"euaia.art5_1f": "fail", "q.uar_floor": "pass", "q.gap": "error"},
    }
    _write_events(
        settings,
        [
            (T0, "evaluation.completed", "model:m/1 dataset:d target:cpu", {"run_id": "r0"}),
            (T0 + timedelta(days=20), "decision.made", "model:m/2 context:eu-classroom", decision),
            (
                T0 + timedelta(days=20, seconds=1),
                "rejection",
                "model:m/2 context:eu-classroom",
                {"verdict": "block", "alias_holder_after": None},
            ),
            (
                T0 + timedelta(days=21),
                "promotion",
                "model:m/2 context:eu-telehealth",
                {"verdict": "allow", "alias_holder_after": "2"},
            ),
            (
                T0 + timedelta(days=22),
                "signoff.approved",
                "model:m/2 context:eu-telehealth",
                {"reason": "DPIA ref 7 | ok", "run_id": "r1"},
            ),
            (T0 + timedelta(days=25), "gate.error", "model:x contexts:eu-telehealth", {"error": "MLflow down"}),
            (T0 + timedelta(days=60), "evaluation.completed", "model:m/3 dataset:d target:cpu", {"run_id": "r9"}),
        ],
        key=key,
    )


def test_retention_setting_has_six_month_floor(tmp_path):
    """audit_retention_days defaults to 365 and refuses less than 183 days (six months)."""
    assert _settings(tmp_path).audit_retention_days == 365
    assert _settings(tmp_path, audit_retention_days=183).audit_retention_days == 183
    with pytest.raises(ValidationError, match="183"):
        _settings(tmp_path, audit_retention_days=90)


def test_parse_bound_dates_and_datetimes():
    """A --to date includes its whole day; naive datetimes are UTC; garbage names the flag."""
    assert parse_bound("2026-02-01", end=False) == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_bound("2026-02-01", end=True) == datetime(2026, 2, 2, tzinfo=UTC)
    assert parse_bound("2026-02-01T10:30", end=True) == datetime(2026, 2, 1, 10, 30, tzinfo=UTC)
    assert parse_bound("2026-02-01T10:30+02:00", end=False) == datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
    assert parse_bound(None, end=False) is None
    with pytest.raises(AuditError, match="--to"):
        parse_bound("last tuesday", end=True)


def test_markdown_export_lists_period_decisions_promotions_signoffs(tmp_path):
    """The Markdown report holds only the period's events, the failed rule ids, alias moves, sign-offs, errors."""
    s = _settings(tmp_path)
    _history(s)
    res = audit_export_command(settings=s, start="2026-01-25", end="2026-02-05")
    assert res.n_events == 5 and res.chain_ok and res.path is None
    md = res.text
    assert "Hash chain (whole log, SHA-256)**: VERIFIED: 7 events" in md
    assert "euaia.art5_1f, q.gap" in md and "q.uar_floor" not in md  # only failed/errored rules fired
    assert "| promotion | model:m/2 context:eu-telehealth | allow | 2 |" in md
    assert "| rejection | model:m/2 context:eu-classroom | block |" in md
    assert "| gate | model:m/2 context:eu-telehealth | approved | DPIA ref 7 \\| ok |" in md  # a pipe stays in its cell
    assert "MLflow down" in md
    assert "model:m/1 " not in md and "model:m/3" not in md  # outside the period
    assert "no HMAC key configured" in md and "at least 365 days" in md


def test_jsonl_export_is_stored_lines_that_link(tmp_path):
    """The JSONL export is the period's stored lines verbatim; consecutive events link by digest."""
    s = _settings(tmp_path)
    _history(s)
    out = tmp_path / "export" / "period.jsonl"
    res = audit_export_command(settings=s, start="2026-01-30", end="2026-02-03T00:00Z", fmt="jsonl", out=out)
    stored = s.audit_path.read_text(encoding="utf-8").splitlines()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert res.path == out and lines == stored[1:5]
    events = [AuditEvent.model_validate_json(line) for line in lines]
    assert [e.seq for e in events] == [2, 3, 4, 5]
    assert all(b.prev_digest == a.digest for a, b in zip(events, events[1:], strict=False))


def test_html_export_escapes_and_flags_broken_chain(tmp_path):
    """HTML is well-formed, escapes payload text, and a deleted line makes the report say BROKEN."""
    s = _settings(tmp_path)
    _history(s)
    lines = s.audit_path.read_text(encoding="utf-8").splitlines()
    s.audit_path.write_text("\n".join(lines[:2] + lines[3:]) + "\n", encoding="utf-8")  # delete seq 3
    res = audit_export_command(settings=s, fmt="html")
    assert not res.chain_ok and res.n_events == 6
    doc = ET.fromstring(res.text.removeprefix("<!DOCTYPE html>\n").replace('<meta charset="utf-8">', ""))
    text = "".join(doc.itertext())
    assert "BROKEN (deleted)" in text and "first bad event seq 3" in text
    assert "DPIA ref 7 | ok" in text


def test_hmac_status_verified_and_mismatch(tmp_path):
    """With the writer's key the anchor HMAC is reported verified; with another key as a mismatch."""
    _history(_settings(tmp_path), key="k1")
    good = export(settings=_settings(tmp_path, audit_hmac_key="k1"))
    bad = export(settings=_settings(tmp_path, audit_hmac_key="k2"))
    unchecked = export(settings=_settings(tmp_path))
    assert good.hmac.state == "verified" and good.chain.ok
    assert bad.hmac.state == "mismatch" and not bad.chain.ok and "does NOT match" in bad.text
    assert unchecked.hmac.state == "not_checked"


def test_export_rejects_bad_format_and_empty_period(tmp_path):
    """An unknown format or a --to before --from is an AuditError with a fix, not an empty report."""
    s = _settings(tmp_path)
    with pytest.raises(AuditError, match="pdf"):
        audit_export_command(settings=s, fmt="pdf")
    with pytest.raises(AuditError, match="swap"):
        audit_export_command(settings=s, start="2026-03-01", end="2026-02-01")


def test_empty_log_exports(tmp_path):
    """A workspace without an audit log exports an empty, verified report."""
    res = audit_export_command(settings=_settings(tmp_path))
    assert res.chain_ok and res.n_events == 0 and "No policy decision in this period." in res.text


def _writer(path: str, who: int, start: multiprocessing.synchronize.Event) -> None:
    log = AuditLog(path=Path(path))
    start.wait(10)
    for i in range(200):
        log.append(actor=f"gate-{who}", action="evaluation.completed", subject=f"{who}-{i}", payload={"i": i})


def test_two_processes_200_events_each_keep_one_chain(tmp_path):
    """Two processes appending 200 events each at once leave one verifying chain of 400, in each writer's order."""
    path = str(tmp_path / "audit.jsonl")
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, k, start)) for k in (1, 2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    log = AuditLog(path=Path(path))
    report = log.verify()
    assert report.ok, report.problems[:3]
    assert report.n_events == 400 and log.head() == (400, report.head_digest)
    events = log.events()
    assert [e.seq for e in events] == list(range(1, 401))
    for who in (1, 2):
        mine = [json.loads(json.dumps(e.payload))["i"] for e in events if e.actor == f"gate-{who}"]
        assert mine == list(range(200))
