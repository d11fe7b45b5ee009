"""Failure behaviour of the real gate CLI: killed between evaluation and promotion, and MLflow unreachable.

The gate runs as a real subprocess (``python -m affectgate.cli gate --plain``) on its own workspace, so
a SIGKILL hits a real process and nothing in this test process is shared with it. No hooks: the test
watches the audit log and kills the gate as soon as ``evaluation.completed`` is written, i.e. after the
evaluation was logged and registered and before any decision moved an alias.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from affectgate.audit import AuditLog
from affectgate.project.settings import Settings
from affectgate.registry.mlflow_registry import MlflowRegistry

ROOT = Path(__file__).resolve().parents[2]
MODEL = "affectgate-mobilenet_v2_frame"
# eu-classroom first: its rejection (tags only) comes before eu-telehealth's promotion, so the gap between
# evaluation.completed and the first alias move holds two policy decisions and one registry write.
CONTEXTS = ("eu-classroom", "eu-telehealth")


def _env(built, workspace: Path, **extra: str) -> dict[str, str]:
    # the session's CI identity (tests/_identity.py) stays: a service identity alone would send telehealth to review
    keep = ("AFFECTGATE_OIDC_TOKEN", "AFFECTGATE_OIDC_JWKS_FILE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFFECTGATE_") or k in keep}
    env.update(
        {
            "AFFECTGATE_PROJECT_ROOT": str(ROOT),
            "AFFECTGATE_WORKSPACE": str(workspace),
            "AFFECTGATE_DATA_ROOT": str(built.settings.data_dir),
            "OMP_NUM_THREADS": "1",
            **extra,
        }
    )
    return env


def _cmd(built) -> list[str]:
    args = ["gate", "--plain", "--model", str(built.model), "--data", str(built.data)]
    for ctx in CONTEXTS:
        args += ["--context", ctx]
    return [sys.executable, "-m", "affectgate.cli", *args]


def _last_event(path: Path) -> tuple[str, str] | None:
    """(action, subject) of the last complete line (the file is small; a half-written line is skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    lines = data.split(b"\n")
    if len(lines) < 2:
        return None
    try:
        event = json.loads(lines[-2])
    except ValueError:
        return None
    return str(event.get("action")), str(event.get("subject"))


def _in_window(event: tuple[str, str] | None) -> bool:
    """After the evaluation was registered and before eu-telehealth's decision (the first that could promote)."""
    if event is None:
        return False
    action, subject = event
    return action == "evaluation.completed" or (
        action in ("decision.made", "rejection") and subject.endswith("context:eu-classroom")
    )


def _settings(built, workspace: Path) -> Settings:
    return Settings(project_root=ROOT, workspace=workspace, data_root=built.settings.data_dir)


@pytest.mark.e2e
def test_gate_killed_after_evaluation_moves_no_alias_and_rerun_completes(built, tmp_path):
    """SIGKILL right after evaluation.completed: no alias, no promotion event, the chain verifies; a re-run promotes."""
    workspace = tmp_path / "ws"
    settings = _settings(built, workspace)
    audit = settings.audit_path
    env = _env(built, workspace)
    # the gate at the lowest priority, the watcher polling at ours: the kill lands inside the window
    proc = subprocess.Popen(
        ["nice", "-n", "19", *_cmd(built)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    seen = None
    deadline = time.monotonic() + 1200  # a busy machine runs the niced gate slowly
    while proc.poll() is None and time.monotonic() < deadline:
        seen = _last_event(audit)
        if _in_window(seen):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    if proc.poll() is None and not _in_window(seen):
        proc.kill()  # deadline passed: end the gate before reading its output
    out = proc.communicate(timeout=120)[0].decode(errors="replace")
    assert _in_window(seen), f"the gate ended before it could be killed (last event: {seen}):\n{out[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    log = AuditLog(path=audit)
    actions = [e.action for e in log.events()]
    assert "promotion" not in actions, f"the kill came too late (window missed): {actions}"
    chain = log.verify()
    assert chain.ok, chain.problems
    reg = MlflowRegistry(tracking_uri=settings.tracking_uri, artifact_root=settings.artifact_root)
    assert reg.alias_version(name=MODEL, context_id="eu-telehealth") is None
    assert reg.alias_version(name=MODEL, context_id="eu-classroom") is None

    rerun = subprocess.run(_cmd(built), env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 1, rerun.stdout[-2000:] + rerun.stderr[-2000:]  # classroom blocks, telehealth promotes
    version = reg.alias_version(name=MODEL, context_id="eu-telehealth")
    assert version is not None and reg.alias_version(name=MODEL, context_id="eu-classroom") is None
    after = log.events()
    assert [e.action for e in after].count("promotion") == 1
    assert log.verify().ok
    from affectgate.registry.reconcile import reconcile

    assert reconcile(settings=settings) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.mark.e2e
def test_dead_tracking_server_is_exit_3_with_cause(built, tmp_path):
    """A tracking URI nobody listens on ends in exit 3 naming the store, a gate.error event, and no alias."""
    workspace = tmp_path / "ws"
    uri = f"http://127.0.0.1:{_closed_port()}"
    env = _env(
        built,
        workspace,
        AFFECTGATE_MLFLOW_TRACKING_URI=uri,
        # fail fast: MLflow's default retries a refused connection with backoff for minutes
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="10",
    )
    res = subprocess.run(_cmd(built), env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    text = " ".join((res.stdout + res.stderr).split())  # rich wraps long lines
    assert res.returncode == 3, text[-2000:]
    assert uri in text and "unavailable" in text and "nothing was promoted" in text
    log = AuditLog(path=_settings(built, workspace).audit_path)
    events = log.events()
    assert events[-1].action == "gate.error" and uri in events[-1].payload["error"]
    assert events[-1].payload["promoted"] is False
    assert "promotion" not in [e.action for e in events] and log.verify().ok
