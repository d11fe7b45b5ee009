"""Helpers of the fault campaign: fresh workspaces, the gate as a subprocess, the invariants every case checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from affectgate.audit import AuditEvent
from affectgate.project.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MODEL = "affectgate-mobilenet_v2_frame"
CONTEXTS = ("eu-telehealth", "eu-classroom")  # telehealth promotes on the tiny set, classroom is prohibited


@dataclass(frozen=True)
class Case:
    """One fault case's workspace, data root and the model and data it gates."""

    settings: Settings
    data: Path
    model: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a CLI subprocess on this workspace (one thread: the campaign runs on 2 cores)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AFFECTGATE_", "PREFECT_"))}
        env.update(
            {
                "AFFECTGATE_PROJECT_ROOT": str(ROOT),
                "AFFECTGATE_WORKSPACE": str(self.settings.workspace_dir),
                "AFFECTGATE_DATA_ROOT": str(self.settings.data_dir),
                "PREFECT_HOME": str(self.settings.workspace_dir / "prefect"),
                "OMP_NUM_THREADS": "1",
                **extra,
            }
        )
        return env


def new_case(*, tmp: Path, built, data: Path | None = None, model: Path | None = None) -> Case:  # noqa: ANN001
    """A fresh workspace whose gate runs are submitted by an authenticated person (a login token)."""
    from affectgate.oversight.identity import mint_login_token, save_login_token

    ws = tmp / "ws"
    settings = Settings(project_root=ROOT, workspace=ws, data_root=(data or built.data).parent)
    ws.mkdir(parents=True, exist_ok=True)
    save_login_token(settings=settings, token=mint_login_token(settings=settings, user="alice", role="ml-engineer"))
    return Case(settings=settings, data=data or built.data, model=model or built.model)


def copy_workspace(*, src: Case, dst: Path) -> Case:
    """A copy of ``src``'s workspace under ``dst`` (MLflow SQLite paths are absolute: only for read checks)."""
    shutil.copytree(src.settings.workspace_dir, dst, symlinks=True)
    settings = Settings(project_root=ROOT, workspace=dst, data_root=src.settings.data_dir)
    return Case(settings=settings, data=src.data, model=src.model)


def gate_cmd(case: Case, *extra: str, plain: bool = True) -> list[str]:
    """``affectgate gate`` on the tiny set (release suite: the one that can promote), for both contexts."""
    args = [sys.executable, "-m", "affectgate.cli", "gate"]
    args += ["--plain"] if plain else []
    args += ["--model", str(case.model), "--data", str(case.data)]
    for ctx in CONTEXTS:
        args += ["--context", ctx]
    return [*args, *extra]


def run(case: Case, cmd: list[str], *, timeout: int = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """A CLI subprocess on the case's workspace; output kept for the assertion messages."""
    return subprocess.run(cmd, env=case.env(**env), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def cli(case: Case, *args: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """``affectgate ARGS`` as a subprocess."""
    return run(case, [sys.executable, "-m", "affectgate.cli", *args], timeout=timeout, **env)


def text_of(res: subprocess.CompletedProcess[str]) -> str:
    """stdout + stderr with rich's line wrapping undone."""
    return " ".join((res.stdout + res.stderr).split())


def events(case: Case) -> list[AuditEvent]:
    """The case's audit events (raises when the log does not verify)."""
    from affectgate.gate.workspace import audit_log

    return audit_log(case.settings, create_key=False).events()


def registry_aliases(case: Case) -> dict[tuple[str, str], str]:
    """Every alias in the case's registry (empty when no MLflow store was made yet)."""
    if not (case.settings.workspace_dir / "mlflow.db").is_file():
        return {}
    from affectgate.registry.reconcile import registry_aliases as aliases

    return aliases(settings=case.settings)


def assert_held(case: Case, *, before: list[AuditEvent] = (), allow_pending: bool = False) -> list[AuditEvent]:
    """The invariants after a fault: chain verifies, no alias without its audit record, nothing recorded lost.

    ``allow_pending``: right after a kill, an alias may be explained by a still-pending write-ahead intent
    (the next start resolves it); otherwise every alias must be the last audited move's version.
    """
    from affectgate.gate.workspace import audit_log
    from affectgate.registry.reconcile import _changes, pending_intents

    log = audit_log(case.settings, create_key=False)
    report = log.verify()
    assert report.ok, [p.message for p in report.problems]
    evs = log.events()
    by_seq = {e.seq: e.digest for e in evs}
    lost = [e.seq for e in before if by_seq.get(e.seq) != e.digest]
    assert not lost, f"events recorded before the fault were lost or changed: {lost}"
    audited = {key: changes[-1].version for key, changes in _changes(evs).items()}
    pending = {
        (str(e.payload["model"]), str(e.payload["context"])): str(e.payload["version"]) for e in pending_intents(evs)
    }
    for key, version in registry_aliases(case).items():
        explained = audited.get(key) == version or (allow_pending and pending.get(key) == version)
        assert explained, (
            f"alias {key} -> v{version} has no audit record (audited: {audited.get(key)}, pending: {pending})"
        )
    return evs


def assert_clean_message(res: subprocess.CompletedProcess[str], *, exit_code: int, cause: str, fix: str) -> str:
    """Exit code, cause and fix named, no Python traceback."""
    text = text_of(res)
    assert res.returncode == exit_code, f"exit {res.returncode}, expected {exit_code}: {text[-3000:]}"
    assert "Traceback" not in text, text[-3000:]
    assert cause.lower() in text.lower(), f"cause {cause!r} not named: {text[-3000:]}"
    assert fix.lower() in text.lower(), f"fix {fix!r} not named: {text[-3000:]}"
    return text


def assert_rerun_promotes(case: Case, *, before: list[AuditEvent]) -> list[AuditEvent]:
    """A re-run of the gate succeeds (classroom blocked -> exit 1, telehealth promoted) and loses nothing."""
    res = run(case, gate_cmd(case))
    assert res.returncode == 1, text_of(res)[-3000:]
    evs = assert_held(case, before=before)
    aliases = registry_aliases(case)
    assert (MODEL, "eu-telehealth") in aliases and (MODEL, "eu-classroom") not in aliases, aliases
    from affectgate.registry.reconcile import reconcile

    assert reconcile(settings=case.settings) == []
    return evs
