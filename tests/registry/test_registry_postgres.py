"""Team mode: an MLflow tracking server on a real PostgreSQL, used by the registry adapter and the real gate.

The session fixture starts Debian's PostgreSQL (``/usr/lib/postgresql/*/bin``) in a temporary folder on a
free port (as the ``postgres`` user when the tests run as root: PostgreSQL refuses to run as root), then
``mlflow server --backend-store-uri postgresql+psycopg2://...`` with a local artifact destination. The
tests skip, saying why, only when PostgreSQL itself is not installed or cannot start.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from affectgate.project.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MODEL = "affectgate-mobilenet_v2_frame"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    """The newest Debian PostgreSQL bin folder that has initdb and pg_ctl."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    found = [p for p in found if (p / "pg_ctl").is_file()]
    return found[-1] if found else None


@dataclass(frozen=True)
class Postgres:
    """A running throwaway PostgreSQL cluster."""

    bin: Path
    root: Path
    port: int
    runas: tuple[str, ...]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool as the cluster's owner."""
        return subprocess.run([*self.runas, *args], capture_output=True, text=True, check=check, timeout=120)

    def url(self, db: str) -> str:
        """SQLAlchemy URL of a database over TCP (psycopg2 driver)."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """initdb + pg_ctl start in a temp folder (socket there too); skipped only when PostgreSQL cannot start."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb missing): apt-get install postgresql"
        )
    runas: tuple[str, ...] = ()
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        if runuser is None:
            pytest.skip("running as root and runuser(1) is missing: PostgreSQL refuses to run as root")
        runas = (runuser, "-u", "postgres", "--")
    root = Path(tempfile.mkdtemp(prefix="ag-pg-"))  # under /tmp: the postgres user can reach it
    if runas:
        shutil.chown(root, user="postgres")
    port = _free_port()
    pg = Postgres(bin=bin_dir, root=root, port=port, runas=runas)
    data = root / "data"
    init = pg.run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-sync",
        check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed, PostgreSQL cannot start here: {init.stderr.strip()[-400:]}")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    start = pg.run(
        str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "pg.log"), "-w", "start", check=False
    )
    if start.returncode != 0:
        log = (root / "pg.log").read_text(errors="replace")[-600:] if (root / "pg.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed, PostgreSQL cannot start here: {start.stderr.strip()[-300:]} {log}")
    try:
        pg.run(str(bin_dir / "createdb"), "-h", str(root), "-p", str(port), "-U", "postgres", "mlflow")
        yield pg
    finally:
        pg.run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Server:
    """A running ``mlflow server`` on PostgreSQL."""

    url: str
    artifacts: Path


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy after {timeout:.0f} s:\n{log.read_text(errors='replace')[-2000:]}")


@contextmanager
def _running_mlflow_server(*, backend: str, folder: Path) -> Iterator[Server]:
    """``mlflow server`` on ``backend`` (artifacts and log in ``folder``) on a free port, stopped afterwards.

    It delivers webhooks to a receiver on 127.0.0.1 over plain http (MLflow's default allows https to
    public addresses only) and refreshes its webhook list every second (60 s by default).
    """
    artifacts = folder / "artifacts"
    port = _free_port()
    log = folder / "server.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend]
    cmd += ["--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # no background job consumers (GenAI jobs): the registry needs none, and they cost a core
    env = {
        **os.environ,
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield Server(url=url, artifacts=artifacts)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="session")
def mlflow_server(postgres: Postgres, tmp_path_factory) -> Iterator[Server]:
    """``mlflow server`` on the PostgreSQL database, artifacts in a temp folder, on a free port."""
    with _running_mlflow_server(backend=postgres.url("mlflow"), folder=tmp_path_factory.mktemp("mlflow-server")) as srv:
        yield srv


@pytest.fixture(scope="module")
def team(mlflow_server: Server, built, tmp_path_factory) -> Iterator[Settings]:
    """Settings whose tracking URI is the server; the experiment is created by the server (its artifact store)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from affectgate import gate as pipeline

    previous = mlflow.get_tracking_uri()
    MlflowClient(tracking_uri=mlflow_server.url).create_experiment("affectgate")
    settings = Settings(
        project_root=ROOT,
        workspace=tmp_path_factory.mktemp("team") / ".affectgate",
        data_root=built.settings.data_dir,
        mlflow_tracking_uri=mlflow_server.url,
    )
    yield settings
    # MlflowRegistry sets mlflow's process-wide tracking URI; give the rest of the session its store back.
    pipeline.registry.cache_clear()
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)


@pytest.mark.e2e
def test_registry_round_trip_on_postgres(team, built, mlflow_server):
    """Evaluation run, registered version, tags and context alias written through the server read back equal."""
    from affectgate import gate as pipeline
    from affectgate.core.records import PolicyDecision

    inputs = pipeline.prepare(settings=team, model=str(built.model), contexts=["eu-telehealth"], data=str(built.data))
    evaluation = pipeline.evaluate(settings=team, inputs=inputs)
    reg = pipeline.registry(team)
    assert reg.tracking_uri == mlflow_server.url
    version = evaluation.version
    assert version.name == MODEL and version.version == "1"
    decision = PolicyDecision(
        context_id="eu-telehealth",
        verdict="allow",
        outcomes=(),
        pack_digests={"quality": "ab" * 32},
        as_of=datetime.now(UTC).date(),
    )
    assert reg.record_decision(version=version, decision=decision, report=evaluation.report, audit_head="c0ffee")
    assert reg.alias_version(name=MODEL, context_id="eu-telehealth") == "1"
    tags = reg.version_tags(name=MODEL, version="1")
    assert tags["verdict.eu-telehealth"] == "allow" and tags["audit_chain_head"] == "c0ffee"
    assert tags["suite_version"] == f"{evaluation.report.suite}@{evaluation.report.suite_version}"
    assert tags["dataset_digest"] == evaluation.report.dataset.digest
    assert tags["onnx_sha256"] == inputs.candidate.onnx_sha256
    uar = evaluation.report.metric("uar")
    assert reg.version_metrics(name=MODEL, version="1")["uar"] == pytest.approx(uar.value)
    report = reg.run_report(run_id=version.run_id)
    assert report["run_id"] == evaluation.report.run_id and report["onnx_sha256"] == inputs.candidate.onnx_sha256
    stored = list(mlflow_server.artifacts.rglob("report.json"))
    assert stored, "the run's artifacts must land in the server's artifact store"
    # the server's registry is what a second client sees (nothing cached in this process)
    from mlflow.tracking import MlflowClient

    fresh = MlflowClient(tracking_uri=mlflow_server.url)
    assert fresh.get_model_version_by_alias(MODEL, "eu-telehealth").version == "1"


@pytest.mark.e2e
def test_real_gate_against_postgres_server(team, built):
    """The plain gate promotes EU telehealth and blocks EU classroom with the registry on the Postgres server."""
    from affectgate import gate as pipeline
    from affectgate.registry.reconcile import reconcile

    results = pipeline.run_gate(
        settings=team, model=str(built.model), contexts=["eu-telehealth", "eu-classroom"], data=str(built.data)
    )
    by_ctx = {r.context_id: r for r in results}
    tele, school = by_ctx["eu-telehealth"], by_ctx["eu-classroom"]
    assert tele.verdict == "allow" and tele.promoted, tele.reasons
    assert school.verdict == "block" and not school.promoted
    reg = pipeline.registry(team)
    assert reg.alias_version(name=MODEL, context_id="eu-telehealth") == tele.version
    assert reg.alias_version(name=MODEL, context_id="eu-classroom") is None
    assert pipeline.audit_log(team).verify().ok
    # the round-trip test set the alias without an audit event; the gate's promotion is audited
    assert [f.kind for f in reconcile(settings=team)] == []


@pytest.fixture()
def fresh_server(tmp_path) -> Iterator[str]:
    """A fresh ``mlflow server`` (SQLite backend) of its own.

    In a server that already served the other tests' alias events, a new webhook was not delivered
    within a minute; a fresh one delivers at once.
    """
    with _running_mlflow_server(backend=f"sqlite:///{tmp_path / 'mlflow.db'}", folder=tmp_path) as srv:
        yield srv.url


@pytest.mark.xfail(
    reason="known regression of 2026-12-07 (to fix with issue 17, team mode): since the signed audit chain and the "
    "write-ahead alias intents landed, the watcher records no registry.webhook event within the test's wait",
    strict=False,
)
def test_alias_webhook_from_the_server_flags_a_hand_move(fresh_server: str, tmp_path):
    """The server's alias webhooks reach affectgate's receiver: an audited gate move is explained, a hand move
    becomes ``alias.unexpected_move``; a delivery with a wrong signature is refused (401)."""
    import threading
    import urllib.error

    from mlflow.tracking import MlflowClient

    from affectgate.audit import AuditLog
    from affectgate.registry.webhooks import register_alias_webhook, serve

    settings = Settings(project_root=ROOT, workspace=tmp_path / "ws", data_root=tmp_path / "data")
    log = AuditLog(path=settings.audit_path)
    port = _free_port()
    receiver = serve(settings=settings, host="127.0.0.1", port=port, secret="s3cret", grace_s=1.0)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        client = MlflowClient(tracking_uri=fresh_server, registry_uri=fresh_server)
        model = "affectgate-webhook-check"
        client.create_registered_model(model)
        run = client.create_run(client.create_experiment(f"webhook-check-{os.getpid()}"))
        for _ in range(2):
            client.create_model_version(model, source=f"{run.info.artifact_uri}/m", run_id=run.info.run_id)
        hook = register_alias_webhook(client=client, url=f"http://127.0.0.1:{port}/", secret="s3cret")
        assert hook
        # what the gate does: move the alias, then audit the promotion
        client.set_registered_model_alias(model, "eu-telehealth", "1")
        log.append(
            actor="gate",
            action="promotion",
            subject=f"model:{model}/1 context:eu-telehealth",
            payload={"alias": "eu-telehealth", "alias_holder_after": "1", "verdict": "allow"},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e.action == "registry.webhook" for e in log.events()):
            time.sleep(0.5)
        client.set_registered_model_alias(model, "eu-telehealth", "2")  # by hand, never audited
        while time.monotonic() < deadline and not any(e.action == "alias.unexpected_move" for e in log.events()):
            time.sleep(0.5)
        hooks = [e for e in log.events() if e.action == "registry.webhook"]
        assert [(e.payload["version"], e.payload["explained"]) for e in hooks] == [("1", True), ("2", False)]
        (finding,) = [e for e in log.events() if e.action == "alias.unexpected_move"]
        assert finding.payload["audited_version"] == "1" and finding.payload["alias"] == "eu-telehealth"
        assert log.verify().ok
        forged = urllib.request.Request(
            f"http://127.0.0.1:{port}/",
            data=b'{"entity": "model_version_alias", "action": "created", "data": {}}',
            headers={"X-MLflow-Signature": "v1,AAAA", "X-MLflow-Timestamp": str(int(time.time()))},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(forged, timeout=5)
        assert err.value.code == 401
    finally:
        receiver.shutdown()
