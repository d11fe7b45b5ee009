"""Audit log: hash-chain round trip, every kind of tampering, concurrent writers, HMAC anchor."""

from __future__ import annotations

import json
import multiprocessing as mp
import multiprocessing.synchronize
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectgate.audit import GENESIS, AuditError, AuditEvent, AuditLog, make_event, verify_chain

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _log(tmp: Path, n: int = 5, key: str | None = None) -> AuditLog:
    log = AuditLog(path=tmp / "audit.jsonl", hmac_key=key)
    for i in range(n):
        payload = {"i": i, "verdict": "allow"}
        log.append(actor="tester", action="decision.made", subject=f"ctx-{i}", payload=payload)
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text(encoding="utf-8").splitlines()


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _kinds(log: AuditLog) -> set[str]:
    return {p.kind for p in log.verify().problems}


# -- pure chain ------------------------------------------------------------------------------------
def test_make_event_links_to_previous():
    """The first event links to GENESIS and every later event to its predecessor's digest."""
    first = make_event(prev=None, time=T0, actor="a", action="x", subject="s", payload={"p": 1})
    t1 = T0 + timedelta(seconds=1)
    second = make_event(prev=first, time=t1, actor="a", action="x", subject="s", payload={})
    assert (first.seq, first.prev_digest) == (1, GENESIS)
    assert (second.seq, second.prev_digest) == (2, first.digest)
    report = verify_chain(events=[first, second], anchor=(2, second.digest))
    assert report.ok and report.head_seq == 2 and report.head_digest == second.digest


def test_make_event_rejects_naive_time_and_nan():
    """A naive time or a NaN in the payload raises AuditError instead of writing an unverifiable event."""
    with pytest.raises(AuditError, match="timezone"):
        make_event(prev=None, time=datetime(2025, 1, 1), actor="a", action="x", subject="s", payload={})
    with pytest.raises(AuditError, match="plain JSON"):
        make_event(prev=None, time=T0, actor="a", action="x", subject="s", payload={"v": float("nan")})


def test_make_event_normalises_payload_and_time():
    """Paths, enums-as-values, tuples and non-UTC times are stored as plain JSON and UTC."""
    plus2 = T0.astimezone(timezone(timedelta(hours=2)))
    ev = make_event(
        prev=None,
        time=plus2,
        actor="a",
        action="x",
        subject="s",
        payload={"path": Path("/a/b"), "pair": (1, 2), "when": T0},
    )
    assert ev.payload == {"path": "/a/b", "pair": [1, 2], "when": T0.isoformat()}
    assert ev.time.utcoffset() == timedelta(0) and ev.time == T0
    assert AuditEvent.model_validate_json(ev.model_dump_json()) == ev


# -- file-backed log -------------------------------------------------------------------------------
def test_round_trip_verifies(tmp_path):
    """An untouched chain verifies, with contiguous seqs and the anchor at the last event."""
    log = _log(tmp_path)
    report = log.verify()
    assert report.ok and report.n_events == 5 and report.head_seq == 5 and report.first_bad_seq is None
    events = log.events()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert log.head() == (5, events[-1].digest) == (report.head_seq, report.head_digest)
    assert events[2].payload == {"i": 2, "verdict": "allow"}


def test_empty_log_verifies(tmp_path):
    """A log that was never written verifies as an empty chain with no head."""
    log = AuditLog(path=tmp_path / "audit.jsonl")
    report = log.verify()
    assert report.ok and report.n_events == 0 and report.head_digest is None and log.head() is None


def test_edited_actor_detected(tmp_path):
    """Changing the actor of event 3 is reported as an edit at seq 3."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[2] = lines[2].replace('"actor":"tester"', '"actor":"mallory"')
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert [(p.kind, p.seq, p.line) for p in report.problems] == [("edited", 3, 3)]


def test_edited_payload_detected(tmp_path):
    """Changing a payload value of event 2 is reported as a payload mismatch at seq 2."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1] = lines[1].replace('"verdict":"allow"', '"verdict":"block"')
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 2
    assert [(p.kind, p.seq) for p in report.problems] == [("payload_mismatch", 2)]


def test_edited_time_detected(tmp_path):
    """Back-dating event 1 breaks its digest and is reported as an edit at seq 1."""
    log = _log(tmp_path)
    lines = _lines(log)
    event = json.loads(lines[0])
    event["time"] = "2020-01-01T00:00:00Z"
    lines[0] = json.dumps(event, separators=(",", ":"))
    _write(log, lines)
    report = log.verify()
    assert report.first_bad_seq == 1 and report.problems[0].kind == "edited"


def test_deleted_middle_event_detected(tmp_path):
    """Removing event 3 is reported as a deletion of seq 3."""
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[2]
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", 3)]


def test_reordered_events_detected(tmp_path):
    """Swapping events 2 and 3 is reported as a reorder starting at seq 2, not as a deletion."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 2
    assert {p.kind for p in report.problems} == {"reordered"}


def test_duplicated_event_detected(tmp_path):
    """Replaying event 2's line at the end is detected as an out-of-place event."""
    log = _log(tmp_path)
    lines = _lines(log)
    _write(log, [*lines, lines[1]])
    assert "reordered" in _kinds(log)


def test_truncation_detected_by_anchor(tmp_path):
    """Dropping the last event is detected through the head anchor, naming seq 5."""
    log = _log(tmp_path)
    _write(log, _lines(log)[:-1])
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 5
    assert [p.kind for p in report.problems] == ["truncated"]


def test_missing_anchor_detected(tmp_path):
    """Deleting the head anchor of a non-empty log fails verification, as truncation cannot be ruled out."""
    log = _log(tmp_path)
    log.anchor_path.unlink()
    assert _kinds(log) == {"truncated"}


def test_malformed_line_reported_not_raised(tmp_path):
    """A non-JSON line is a 'malformed' problem in verify() and an AuditError naming file+line in events()."""
    log = _log(tmp_path)
    lines = _lines(log)
    lines[3] = "{not json"
    _write(log, lines)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 4
    assert any(p.kind == "malformed" and p.line == 4 for p in report.problems)
    with pytest.raises(AuditError, match=r"audit\.jsonl.*line 4"):
        log.events()


def test_append_refuses_damaged_tail(tmp_path):
    """append() raises AuditError instead of extending a log whose last line is not a valid event."""
    log = _log(tmp_path, n=2)
    with log.path.open("a", encoding="utf-8") as fh:
        fh.write('{"seq": 3, "partial"\n')
    with pytest.raises(AuditError, match="last line"):
        log.append(actor="a", action="x", subject="s", payload={})


def _writer(path: str, who: int, start: multiprocessing.synchronize.Event) -> None:
    log = AuditLog(path=Path(path))
    start.wait(10)
    for i in range(50):
        log.append(actor=f"w{who}", action="evaluation.completed", subject=f"{who}-{i}", payload={"i": i})


def test_concurrent_writers_keep_one_chain(tmp_path):
    """Two processes appending 50 events each at once leave one valid chain of 100 events."""
    path = str(tmp_path / "audit.jsonl")
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, k, start)) for k in (1, 2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    log = AuditLog(path=Path(path))
    report = log.verify()
    assert report.ok, report.problems[:3]
    assert report.n_events == 100 and log.head() == (100, report.head_digest)
    actors = [e.actor for e in log.events()]
    assert actors.count("w1") == actors.count("w2") == 50


def test_hmac_key_mismatch_detected(tmp_path):
    """Verifying with a different HMAC key than the writer's reports the anchor as edited."""
    _log(tmp_path, key="secret-1")
    assert AuditLog(path=tmp_path / "audit.jsonl", hmac_key="secret-1").verify().ok
    report = AuditLog(path=tmp_path / "audit.jsonl", hmac_key="secret-2").verify()
    assert not report.ok and [p.kind for p in report.problems] == ["edited"]


def test_hmac_detects_rewritten_anchor(tmp_path):
    """Truncating the log and rewriting the anchor to match passes without a key but fails with it."""
    log = _log(tmp_path, key="secret-1")
    lines = _lines(log)
    _write(log, lines[:-1])
    last = json.loads(lines[-2])
    log.anchor_path.write_text(json.dumps({"seq": last["seq"], "digest": last["digest"], "hmac": None}))
    assert AuditLog(path=log.path).verify().ok
    assert _kinds(log) == {"edited"}


# -- property ----------------------------------------------------------------------------------------
_KEYS = st.text(alphabet="abcdefghij", min_size=1, max_size=5).map(lambda s: f"k_{s}")
_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=1,
    max_size=12,
)
_PAYLOADS = st.dictionaries(_KEYS, st.one_of(_TEXT, st.integers(-(10**9), 10**9)), min_size=1, max_size=4)


@given(data=st.data())
@settings(max_examples=50, deadline=None)
def test_any_payload_byte_change_breaks_verification(data):
    """Any single-byte change in a payload value of any event of a random chain makes verify fail."""
    payloads = data.draw(st.lists(_PAYLOADS, min_size=1, max_size=5), label="payloads")
    with tempfile.TemporaryDirectory() as tmp:
        log = AuditLog(path=Path(tmp) / "audit.jsonl")
        for i, payload in enumerate(payloads):
            log.append(actor="tester", action="evaluation.completed", subject=f"s{i}", payload=payload)
        assert log.verify().ok
        lines = log.path.read_bytes().split(b"\n")
        idx = data.draw(st.integers(0, len(payloads) - 1), label="event index")
        key = data.draw(st.sampled_from(sorted(payloads[idx])), label="key")
        value = json.dumps(payloads[idx][key]).encode()
        needle = json.dumps(key).encode() + b":" + value
        at = lines[idx].index(needle, lines[idx].index(b'"payload":')) + len(needle) - len(value)
        lo, hi = (1, len(value) - 2) if value.startswith(b'"') else (0, len(value) - 1)
        pos = at + data.draw(st.integers(lo, hi), label="byte in value")
        old = lines[idx][pos]
        new = data.draw(st.integers(0, 255).filter(lambda b: b != old), label="new byte")
        line = bytearray(lines[idx])
        line[pos] = new
        lines[idx] = bytes(line)
        log.path.write_bytes(b"\n".join(lines))
        assert not log.verify().ok
