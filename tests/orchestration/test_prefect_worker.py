"""A real Prefect server, a process work pool ``cpu`` and a real worker run a deployment of flows/prefect.yaml.

Everything Prefect runs in subprocesses with their own environment (PREFECT_HOME in a temp folder,
PREFECT_API_URL at the server), so this test neither uses nor disturbs the ephemeral server of the rest
of the suite. It skips, saying why, only when the Prefect server cannot start.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, (
        f"{' '.join(cmd[2:])} failed ({res.returncode}):\n{res.stdout[-1500:]}\n{res.stderr[-1500:]}"
    )
    return res


_TRIGGER = """
import json
from prefect.deployments import run_deployment
fr = run_deployment("smoke-host/smoke-host-cpu", parameters={"label": "from-test"}, timeout=0)
print(json.dumps({"id": str(fr.id)}))
"""

_READ = """
import json, sys
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    fr = client.read_flow_run(sys.argv[1])
    result = fr.state.result() if fr.state.is_completed() else None
    print(json.dumps({"state": fr.state.type.value, "result": result, "worker": fr.work_pool_name}))
"""


@pytest.fixture()
def prefect_server(tmp_path):
    """``prefect server start`` on a free port with its own PREFECT_HOME; yields the environment to talk to it."""
    port = _free_port()
    home = tmp_path / "prefect-home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results"),
        "PREFECT_CLI_PROMPT": "false",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.skip(f"prefect server could not start (exit {proc.returncode}): {log.read_text()[-800:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"prefect server not healthy after 90 s: {log.read_text()[-800:]}")
            time.sleep(0.5)
        yield env
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_worker_runs_deployment_and_records_host(prefect_server):
    """A flow run of the smoke-host-cpu deployment is picked up by a `cpu` pool worker and returns this host."""
    env = prefect_server
    _run([*PREFECT, "work-pool", "create", "cpu", "--type", "process"], env)
    _run([*PREFECT, "--no-prompt", "deploy", "--prefect-file", "flows/prefect.yaml", "--name", "smoke-host-cpu"], env)
    trigger = _run([sys.executable, "-c", _TRIGGER], env)
    flow_run_id = json.loads(trigger.stdout.strip().splitlines()[-1])["id"]
    worker = _run([*PREFECT, "worker", "start", "--pool", "cpu", "--run-once", "--install-policy", "never"], env, 180)
    read = _run([sys.executable, "-c", _READ, flow_run_id], env)
    info = json.loads(read.stdout.strip().splitlines()[-1])
    assert info["state"] == "COMPLETED", (info, worker.stdout[-1500:], worker.stderr[-1500:])
    assert info["worker"] == "cpu"
    assert info["result"]["label"] == "from-test"
    assert info["result"]["host"] == platform.node() and info["result"]["python"] == platform.python_version()
