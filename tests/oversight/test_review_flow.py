"""A `review` verdict pauses the real Prefect gate flow until a compliance officer signs it off (issue 7).

The flow runs for real (Prefect's ephemeral server on the workspace's SQLite database): a subprocess
`affectgate gate --wait-for-review` is resumed by a second subprocess `affectgate review sign`, the way an
officer resumes it from another terminal or the dashboard. In-process runs cover rejection, a forged
resume and the timeout. Concurrent sign-offs of one item: exactly one wins.

The gates run in a project whose us-ad-testing context tightens ``max_group_gap`` to 0.05 (a project
overlay, ``_dashboard_fixtures.strict_project``): the tiny model's gap interval reaches it, so the quick
suite's fairness finding is inconclusive and goes to review (the same mechanism the dashboard fixtures use).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from _dashboard_fixtures import ROOT, copy_workspace, gated_workspace, item_by, mlflow_uri_restored, strict_project
from affectgate.gate.results import EXIT_BLOCKED, EXIT_PROMOTED, EXIT_REVIEW, GateResult
from affectgate.gate.workspace import audit_log, registry
from affectgate.orchestration.review_flow import (
    ENDED,
    PAUSED,
    RESUMED,
    UNVERIFIED,
    apply_signoffs,
    waiting_flows,
)
from affectgate.oversight.queue import ReviewError
from affectgate.oversight.signoff import sign_off
from affectgate.project.settings import Settings, get_settings

MODEL = "affectgate-mobilenet_v2_frame"
CONTEXT = "us-ad-testing"


def _env(workspace: Path, data_root: Path, actor: str) -> dict[str, str]:
    return {
        "AFFECTGATE_PROJECT_ROOT": str(strict_project(workspace.parent)),
        "AFFECTGATE_WORKSPACE": str(workspace),
        "AFFECTGATE_DATA_ROOT": str(data_root),
        "AFFECTGATE_ACTOR": actor,
        "PREFECT_HOME": str(workspace / "prefect"),
    }


def _wait_for(settings: Settings, action: str, *, timeout: float, proc: subprocess.Popen | None = None):
    """The first audit event with ``action`` (polling the log), failing with the gate's output if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if settings.audit_path.is_file():
            hits = [e for e in audit_log(settings).events() if e.action == action]
            if hits:
                return hits[0]
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the gate exited ({proc.returncode}) before {action}:\n{out}")
        time.sleep(0.5)
    pytest.fail(f"no {action} event within {timeout:.0f} s")


def _actions(settings: Settings) -> list[str]:
    return [e.action for e in audit_log(settings).events()]


@pytest.mark.e2e
def test_gate_process_pauses_on_review_and_resumes_on_cli_approval(built, tmp_path):
    """`gate --wait-for-review` pauses; `review sign` in another process approves; the gate exits 0, alias moved."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "DEMO_WORKSPACE").write_text("demo\n")  # `review sign` below logs in as the demo officer
    env = {**os.environ, **_env(workspace, built.settings.data_dir, actor="engineer")}
    exe = str(Path(sys.executable).parent / "affectgate")
    gate = subprocess.Popen(
        [exe, "gate", "--model", str(built.model), "--context", CONTEXT, "--data", str(built.data)]
        + ["--suite", "quick", "--wait-for-review", "600"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        settings = Settings(project_root=ROOT, workspace=workspace, data_root=built.settings.data_dir)
        paused = _wait_for(settings, PAUSED, timeout=300, proc=gate)
        run_id = paused.payload["run_id"]
        assert paused.payload["contexts"] == [CONTEXT] and paused.actor == "engineer"
        assert waiting_flows(audit_log(settings).events()) == {run_id: paused.payload["flow_run_id"]}
        time.sleep(3.0)
        assert gate.poll() is None, "the gate must still be waiting for the sign-off"
        sign = subprocess.run(
            [exe, "review", "sign", "--run", run_id, "--context", CONTEXT, "--decision", "approve"]
            + ["--reason", "drift evidence reviewed; panel study only", "--user", "officer"],
            env={**env, "AFFECTGATE_ACTOR": "officer"},
            cwd=tmp_path,
            input="officer-demo\n",
            capture_output=True,
            text=True,
            timeout=240,
        )
        out, _ = gate.communicate(timeout=240)
    finally:
        if gate.poll() is None:
            gate.kill()
    assert sign.returncode == 0, sign.stdout + sign.stderr
    assert "approved by officer" in sign.stdout and "resumed the paused gate flow run" in sign.stdout, out
    assert gate.returncode == EXIT_PROMOTED, out
    assert "approved by officer" in out
    actions = _actions(settings)
    tail = [a for a in actions if a.startswith(("review.", "signoff.", "alias."))]
    assert tail == [PAUSED, "signoff.approved", "alias.moved", RESUMED, ENDED], actions
    ended = next(e for e in audit_log(settings).events() if e.action == ENDED)
    assert ended.payload["signed"] == {CONTEXT: "approve"} and ended.payload["open"] == []
    assert not ended.payload["timed_out"]
    with mlflow_uri_restored():
        assert registry(settings).alias_version(name=MODEL, context_id=CONTEXT) is not None
    assert audit_log(settings).verify().ok
    assert waiting_flows(audit_log(settings).events()) == {}


def _flow_in_process(built, workspace: Path, monkeypatch, **params):
    """Run the release-gate flow in this process on a fresh workspace (settings from the environment)."""
    from affectgate.orchestration.prefect import get_flow

    for key, value in _env(workspace, built.settings.data_dir, actor="engineer").items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        flow = get_flow(settings=get_settings(), module="release_gate", flow="release_gate")
        with mlflow_uri_restored():
            return flow(model=str(built.model), contexts=[CONTEXT], data=str(built.data), suite="quick", **params)
    finally:
        monkeypatch.undo()  # before the cache is cleared, so get_settings() sees the session's workspace again
        get_settings.cache_clear()


def _in_thread(fn) -> tuple[threading.Thread, list]:
    errors: list = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


@pytest.mark.e2e
def test_rejection_resumes_flow_with_exit_1_and_alias_unchanged(built, tmp_path, monkeypatch):
    """An officer's rejection (dashboard/CLI path: sign_off) resumes the paused flow; exit 1, alias untouched."""
    workspace = tmp_path / "ws"
    settings = Settings(project_root=ROOT, workspace=workspace, data_root=built.settings.data_dir)
    signed: list = []

    def officer() -> None:
        paused = _wait_for(settings, PAUSED, timeout=300)
        signed.append(
            sign_off(
                settings=settings,
                run_id=paused.payload["run_id"],
                context_id=CONTEXT,
                approver="dpo",
                role="compliance-officer",
                decision="reject",
                reason="no fairness evidence for this audience",
            )
        )

    t, errors = _in_thread(officer)
    results = _flow_in_process(built, workspace, monkeypatch, review_timeout_s=300, review_recheck_s=30)
    t.join(timeout=60)
    assert not errors, errors
    (res,) = results
    assert res.verdict == "review" and res.signoff == "reject" and res.signoff_by == "dpo"
    assert res.exit_code == EXIT_BLOCKED and not res.promoted
    assert signed[0].flow.startswith("resumed the paused gate flow run")
    with mlflow_uri_restored():
        assert registry(settings).alias_version(name=MODEL, context_id=CONTEXT) is None
    actions = _actions(settings)
    assert "alias.moved" not in actions and actions[-3:] == ["signoff.rejected", RESUMED, ENDED]
    assert audit_log(settings).verify().ok


@pytest.mark.e2e
def test_forged_resume_is_audited_and_timeout_leaves_review(built, tmp_path, monkeypatch):
    """A resume naming no recorded sign-off changes nothing (audited); at the timeout the result stays review."""
    workspace = tmp_path / "ws"
    settings = Settings(project_root=ROOT, workspace=workspace, data_root=built.settings.data_dir)

    def forger() -> None:
        from prefect.client.orchestration import get_client
        from prefect.flow_runs import resume_flow_run

        paused = _wait_for(settings, PAUSED, timeout=300)
        fid = paused.payload["flow_run_id"]
        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + 30
            while not client.read_flow_run(fid).state.is_paused():
                assert time.monotonic() < deadline, "the flow never paused"
                time.sleep(0.2)
        resume_flow_run(fid, run_input={"run_id": paused.payload["run_id"], "context_id": CONTEXT, "signoff_seq": 1})

    t, errors = _in_thread(forger)
    results = _flow_in_process(built, workspace, monkeypatch, review_timeout_s=12, review_recheck_s=12)
    t.join(timeout=60)
    assert not errors, errors
    (res,) = results
    assert res.verdict == "review" and res.signoff is None and res.exit_code == EXIT_REVIEW
    events = audit_log(settings).events()
    assert UNVERIFIED in [e.action for e in events]
    ended = events[-1]
    assert ended.action == ENDED and ended.payload["timed_out"] and ended.payload["open"] == [CONTEXT]
    # the item is still in the queue for a human
    from affectgate.oversight.queue import review_items

    assert [i.context_id for i in review_items(settings=settings)] == [CONTEXT]


def test_plain_gate_cannot_wait_for_review(built):
    """Waiting needs the flow run that pauses: --plain with --wait-for-review is refused with exit 3."""
    from typer.testing import CliRunner

    from affectgate.cli import app

    res = CliRunner().invoke(
        app,
        ["gate", "--plain", "--wait-for-review", "60", "--model", str(built.model)]
        + ["--context", CONTEXT, "--data", str(built.data)],
    )
    assert res.exit_code == 3 and "--wait-for-review needs the Prefect flow" in res.output


@pytest.fixture(scope="module")
def gated(built, tmp_path_factory):
    return gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))


def test_concurrent_signoffs_of_one_item_record_exactly_one(gated, tmp_path):
    """Two officers signing the same item at the same moment: one sign-off is recorded, the other is refused."""
    with mlflow_uri_restored():
        ws = copy_workspace(gated, tmp_path / "ws")
        item = item_by(ws, "engineer", CONTEXT)
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def sign(who: str, decision: str) -> None:
            barrier.wait()
            try:
                outcomes.append(
                    sign_off(
                        settings=ws.settings,
                        run_id=item.run_id,
                        context_id=CONTEXT,
                        approver=who,
                        role="compliance-officer",
                        decision=decision,  # type: ignore[arg-type]
                        reason=f"{who} decided",
                    )
                )
            except ReviewError as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=sign, args=a) for a in (("officer", "approve"), ("dpo", "reject"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        errors = [o for o in outcomes if isinstance(o, ReviewError)]
        assert len(outcomes) == 2 and len(errors) == 1, outcomes
        assert "no open review item" in str(errors[0])
        events = audit_log(ws.settings).events()
        key = (item.run_id, CONTEXT)
        signoffs = [
            e for e in events if e.action.startswith("signoff.") and (e.payload["run_id"], e.payload["context"]) == key
        ]
        assert len(signoffs) == 1
        assert audit_log(ws.settings).verify().ok


def test_apply_signoffs_and_exit_codes():
    """A signed-off review exits 0 when approved (alias moved) and 1 when rejected; others are unchanged."""
    from datetime import UTC, datetime

    from affectgate.oversight.queue import SignOff

    def result(ctx: str, verdict: str) -> GateResult:
        return GateResult(
            context_id=ctx, verdict=verdict, promoted=False, model=MODEL, version="3", alias_holder="2", reasons=()
        )

    def signoff(ctx: str, decision: str) -> SignOff:
        return SignOff(
            seq=9,
            time=datetime.now(UTC),
            run_id="r",
            context_id=ctx,
            model=MODEL,
            version="3",
            approver="dpo",
            decision=decision,  # type: ignore[arg-type]
            reason="x",
            alias_moved=decision == "approve",
        )

    res = [result("a", "review"), result("b", "review"), result("c", "review"), result("d", "allow")]
    out = apply_signoffs(res, {"a": signoff("a", "approve"), "b": signoff("b", "reject"), "d": signoff("d", "reject")})
    assert [r.exit_code for r in out] == [EXIT_PROMOTED, EXIT_BLOCKED, EXIT_REVIEW, EXIT_PROMOTED]
    assert out[0].promoted and out[0].alias_holder == "3" and out[0].signoff_by == "dpo"
    assert not out[1].promoted and out[1].alias_holder == "2"
    assert out[3] is res[3]  # an allow is never touched by a sign-off
