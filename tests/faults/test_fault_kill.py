"""Process death (SIGKILL) at every step boundary of the gate and inside an audit append, directly and via Prefect.

The gate runs as a real subprocess with the TEST-ONLY ``AFFECTGATE_FAULT_POINT`` (affectgate.audit.faults): it
kills itself exactly there, as a power cut would. Appends of a fresh gate: 1 evaluation.started,
2 evaluation.completed, 3 decision.made (telehealth), 4 alias.intent, 5 promotion, 6 decision.made
(classroom), 7 rejection.
"""

from __future__ import annotations

import signal
import time

import pytest
from _faultkit import (
    MODEL,
    assert_clean_message,
    assert_held,
    assert_rerun_promotes,
    cli,
    events,
    gate_cmd,
    new_case,
    registry_aliases,
    run,
    text_of,
)

#: (fault point, what is on disk when it fires)
POINTS = [
    ("evaluation.done", "the MLflow run is logged, no version registered"),
    ("registration.done", "the version is registered (with its sha256 tag), no evaluation.completed"),
    ("decision.done", "decision.made written, nothing tagged or moved"),
    ("alias.intent", "the write-ahead intent is written, the alias not moved"),
    ("alias.moved", "the alias moved, its promotion event not written"),
    ("audit.anchor:5", "the promotion line is written, the head not re-signed"),
]


@pytest.mark.parametrize(("point", "state"), POINTS, ids=[p for p, _ in POINTS])
def test_kill_at_step_boundary(tiny, tmp_path, point, state):
    """SIGKILL at a gate step boundary: no alias without its audit record, the chain verifies, a re-run promotes."""
    case = new_case(tmp=tmp_path, built=tiny)
    res = run(case, gate_cmd(case), AFFECTGATE_FAULT_POINT=point)
    assert res.returncode == -signal.SIGKILL, f"{point} ({state}) did not fire: {text_of(res)[-2000:]}"
    before = assert_held(case, allow_pending=True)
    if point in ("registration.done", "decision.done", "alias.intent", "alias.moved", "audit.anchor:5"):
        tags = _version_tags(case)
        assert tags.get("onnx_sha256"), f"version registered without its sha256 tag: {tags}"
    evs = assert_rerun_promotes(case, before=before)
    if point == "alias.moved":  # the move happened: the re-run's start recorded it from the intent
        recovered = [e for e in evs if e.action == "promotion" and e.payload.get("recovered_from_intent")]
        assert len(recovered) == 1 and recovered[0].payload["intent_seq"] == 4
    if point == "alias.intent":
        assert [e.payload["intent_seq"] for e in evs if e.action == "alias.intent.abandoned"] == [4]


def _version_tags(case) -> dict[str, str]:  # noqa: ANN001
    from affectgate.gate.workspace import registry

    return registry(case.settings).version_tags(name=MODEL, version="1")


@pytest.mark.parametrize("nth", [3, 5], ids=["decision", "promotion"])
def test_kill_inside_an_audit_append_tears_the_line_repair_recovers(tiny, tmp_path, nth):
    """Half an event line: the next gate exits 3 naming the line and `audit repair`; repair, then a re-run promotes."""
    case = new_case(tmp=tmp_path, built=tiny)
    res = run(case, gate_cmd(case), AFFECTGATE_FAULT_POINT=f"audit.torn:{nth}")
    assert res.returncode == -signal.SIGKILL, text_of(res)[-2000:]
    refused = run(case, gate_cmd(case))
    assert_clean_message(refused, exit_code=3, cause=f"line {nth}", fix="affectgate audit repair")
    verify = cli(case, "audit", "verify")
    assert verify.returncode == 1 and f"line {nth}" in text_of(verify)
    repaired = cli(case, "audit", "repair")
    assert repaired.returncode == 0 and f"quarantined the torn line {nth}" in text_of(repaired), text_of(repaired)
    before = assert_held(case, allow_pending=True)
    assert before[-1].action == "audit.repaired"
    side = case.settings.audit_path.parent / str(before[-1].payload["quarantined_file"])
    assert side.is_file() and side.stat().st_size == before[-1].payload["quarantined_bytes"]
    evs = assert_rerun_promotes(case, before=before)
    if nth == 5:  # the alias had moved; its torn confirmation is re-recorded from the intent
        assert any(e.payload.get("recovered_from_intent") for e in evs if e.action == "promotion")


def _server_pids(prefect_home: str) -> list[int]:
    import os

    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if f"PREFECT_HOME={prefect_home}".encode() in env and b"uvicorn" in cmd:
            out.append(int(pid))
    return out


def test_prefect_flow_run_killed_leaves_no_ephemeral_server(tiny, tmp_path):
    """A Prefect gate run killed mid-run (after the intent) leaves no orphaned API server; a re-run promotes."""
    case = new_case(tmp=tmp_path, built=tiny)
    res = run(case, gate_cmd(case, plain=False), AFFECTGATE_FAULT_POINT="alias.intent")
    assert res.returncode == -signal.SIGKILL, text_of(res)[-2000:]
    home = str(case.settings.workspace_dir / "prefect")
    deadline = time.monotonic() + 15
    while _server_pids(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _server_pids(home) == [], "the killed gate's ephemeral Prefect server is still running"
    before = assert_held(case, allow_pending=True)
    assert registry_aliases(case) == {}
    assert [e.action for e in events(case)][-1] == "alias.intent"
    assert_rerun_promotes(case, before=before)
