"""Audit log: hash-chain round trip and every kind of tampering, concurrent writers, HMAC anchor."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from affectgate.audit import AuditLog


def _log(tmp: Path, n: int = 5, key: str | None = None) -> AuditLog:
    log = AuditLog(path=tmp / "audit.jsonl", hmac_key=key)
    for i in range(n):
        log.append(actor="tester", action="decision.made", subject=f"ctx-{i}", payload={"i": i, "verdict": "allow"})
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("\n".join(lines) + "\n")


def test_round_trip_verifies(tmp_path):
    """An untouched chain verifies, with contiguous seqs and the anchor at the last event."""
    log = _log(tmp_path)
    report = log.verify()
    assert report.ok and report.n_events == 5 and report.head_seq == 5
    assert [e.seq for e in log.events()] == [1, 2, 3, 4, 5]
    assert log.head() == (5, log.events()[-1].digest)


def test_edited_actor_detected(tmp_path):
    """Changing the actor of event 3 is reported as an edit at seq 3."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[2] = lines[2].replace('"actor":"tester"', '"actor":"mallory"')
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert any(p.kind == "edited" for p in report.problems)


def test_edited_payload_detected(tmp_path):
    """Changing a payload value is reported as a payload mismatch at that event."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1] = lines[1].replace('"verdict":"allow"', '"verdict":"block"')
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 2
    assert report.problems[0].kind == "payload_mismatch"


def test_edited_time_detected(tmp_path):
    """Back-dating an event breaks its digest."""
    log = _log(tmp_path)
    event = json.loads(_lines(log)[0])
    event["time"] = "2020-01-01T00:00:00Z"
    lines = _lines(log)
    lines[0] = json.dumps(event, separators=(",", ":"))
    _write(log, lines)
    assert log.verify().first_bad_seq == 1


def test_deleted_middle_event_detected(tmp_path):
    """Removing event 3 is reported as a deletion."""
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[2]
    _write(log, lines)
    report = log.verify()
    assert not report.ok and any(p.kind == "deleted" for p in report.problems)


def test_reordered_events_detected(tmp_path):
    """Swapping events 2 and 3 is detected."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq is not None and report.first_bad_seq <= 3


def test_truncation_detected_by_anchor(tmp_path):
    """Dropping the last event is detected through the head anchor."""
    log = _log(tmp_path)
    _write(log, _lines(log)[:-1])
    report = log.verify()
    assert not report.ok and report.problems[0].kind == "truncated"


def test_malformed_line_reported_not_raised(tmp_path):
    """A line that is not JSON is a 'malformed' problem in verify()."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[3] = "{not json"
    _write(log, lines)
    report = log.verify()
    assert not report.ok and any(p.kind == "malformed" and p.line == 4 for p in report.problems)


def _writer(path: str, who: int) -> None:
    log = AuditLog(path=Path(path))
    for i in range(50):
        log.append(actor=f"w{who}", action="evaluation.completed", subject=f"{who}-{i}", payload={"i": i})


def test_concurrent_writers_keep_one_chain(tmp_path):
    """Two processes appending 50 events each leave one valid chain of 100 events."""
    path = str(tmp_path / "audit.jsonl")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, k)) for k in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    report = AuditLog(path=Path(path)).verify()
    assert report.ok, report.problems[:3]
    assert report.n_events == 100


def test_hmac_key_mismatch_detected(tmp_path):
    """Verifying with a different HMAC key than the writer's reports the anchor as edited."""
    _log(tmp_path, key="secret-1")
    assert AuditLog(path=tmp_path / "audit.jsonl", hmac_key="secret-1").verify().ok
    report = AuditLog(path=tmp_path / "audit.jsonl", hmac_key="secret-2").verify()
    assert not report.ok and report.problems[0].kind == "edited"


@given(st.integers(0, 4), st.text(min_size=1, max_size=8))
@settings(max_examples=40, deadline=None)
def test_any_payload_change_breaks_verification(tmp_path_factory, index, text):
    """Any change to any payload value of any event makes verification fail."""
    tmp = tmp_path_factory.mktemp("h")
    log = _log(tmp)
    lines = _lines(log)
    event = json.loads(lines[index])
    event["payload"]["verdict"] = event["payload"]["verdict"] + text
    lines[index] = json.dumps(event, separators=(",", ":"))
    _write(log, lines)
    assert not log.verify().ok
