"""Stores under fault: two gates at once, a kill during MLflow's first-use schema creation, SQLite locked by another
writer, a read-only workspace and a full disk (small tmpfs mounts; skipped with the reason where mounting is not
allowed)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _faultkit import (
    MODEL,
    ROOT,
    assert_clean_message,
    assert_held,
    assert_rerun_promotes,
    cli,
    events,
    gate_cmd,
    new_case,
    run,
    text_of,
)

from affectgate.audit import AuditError, AuditLog
from affectgate.audit.signing import load_or_create_signer


@pytest.fixture(scope="module")
def promoted(tiny, tmp_path_factory):
    """A workspace after one successful gate run (telehealth promoted, classroom blocked)."""
    case = new_case(tmp=tmp_path_factory.mktemp("promoted"), built=tiny)
    res = run(case, gate_cmd(case))
    assert res.returncode == 1, text_of(res)[-3000:]
    return case


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.decode(errors='replace').strip() or 'not permitted'})")


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs at ``path`` for the duration (unmounted after, also on failure)."""
    _mount_tmpfs(path, size)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _clone(promoted, dst: Path):  # noqa: ANN001, ANN202
    """The promoted workspace copied into ``dst`` with its own login token (tokens are bound to the workspace)."""
    from _faultkit import Case

    from affectgate.oversight.identity import mint_login_token, save_login_token
    from affectgate.project.settings import Settings

    shutil.copytree(promoted.settings.workspace_dir, dst, dirs_exist_ok=True)
    settings = Settings(project_root=ROOT, workspace=dst, data_root=promoted.settings.data_dir)
    save_login_token(settings=settings, token=mint_login_token(settings=settings, user="alice", role="ml-engineer"))
    return Case(settings=settings, data=promoted.data, model=promoted.model)


def test_two_gates_at_once_on_one_fresh_workspace_and_model(tiny, tmp_path):
    """Two first gates started together on a fresh workspace: both finish (exit 1), one version, one chain."""
    case = new_case(tmp=tmp_path, built=tiny)
    procs = [
        subprocess.Popen(gate_cmd(case), env=case.env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [1, 1], [o[-2000:] for o in outs]
    evs = assert_held(case)
    assert [e.action for e in evs].count("promotion") == 2 and [e.action for e in evs].count("alias.intent") == 2
    from affectgate.gate.workspace import registry

    reg = registry(case.settings)
    versions = reg.client.search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 1, "the same ONNX file was registered twice"
    from affectgate.registry.reconcile import reconcile

    assert reconcile(settings=case.settings) == []


@pytest.mark.parametrize("how", ["at-the-marker", "fault-point"])
def test_kill_during_mlflow_first_use_schema_creation_does_not_brick(tiny, tmp_path, how):
    """A kill while MLflow creates its schema leaves no half-made mlflow.db; the next command works."""
    case = new_case(tmp=tmp_path, built=tiny)
    db = case.settings.workspace_dir / "mlflow.db"
    code = (
        "from affectgate.gate.workspace import registry; from affectgate.project.settings import get_settings; "
        "registry(get_settings())"
    )
    extra = {"AFFECTGATE_FAULT_POINT": "mlflow.init"} if how == "fault-point" else {}
    proc = subprocess.Popen([sys.executable, "-c", code], env=case.env(**extra), cwd=ROOT)
    if how == "at-the-marker":
        marker = db.with_name("mlflow.db.init")
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # well inside the migrations (they take seconds)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert not db.exists(), "a half-migrated mlflow.db was left in place"
    res = cli(case, "registry", "reconcile")
    assert res.returncode == 0, text_of(res)[-2000:]
    assert db.is_file() and not db.with_name("mlflow.db.init").exists()
    assert_held(case)


def test_sqlite_locked_by_another_writer_is_a_clear_error_then_works(promoted, tmp_path):
    """MLflow's SQLite held by another writer: exit 3 naming the store, no traceback; after release it works."""
    case = _clone(promoted, tmp_path / "ws")
    before = assert_held(case)
    holder = sqlite3.connect(case.settings.workspace_dir / "mlflow.db", timeout=1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        res = cli(case, "registry", "reconcile", timeout=600)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_clean_message(res, exit_code=3, cause="database is locked", fix="write lock")
    assert_held(case, before=before)
    again = cli(case, "registry", "reconcile")
    assert again.returncode == 0, text_of(again)[-2000:]


def test_read_only_workspace_is_a_clear_error_not_a_raw_oserror(promoted, tmp_path):
    """A workspace on a read-only file system: exit 3 naming the cause and the fix; nothing changes; rw works again."""
    mnt = tmp_path / "ro"
    with tmpfs(mnt, "64m"):
        case = _clone(promoted, mnt / "ws")
        before = events(case)  # the audit file only: an open MLflow engine here would keep the mount busy
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        try:
            res = run(case, gate_cmd(case))
            text = assert_clean_message(res, exit_code=3, cause="read-only file system", fix="writable")
            assert "OSError" not in text and "Errno" not in text, text[-2000:]
            tail = cli(case, "audit", "verify")
            assert tail.returncode == 0, text_of(tail)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        assert_held(case, before=before)
        again = cli(case, "registry", "reconcile")
        assert again.returncode == 0, text_of(again)[-2000:]


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_full_disk_during_the_gate_does_not_tear_the_audit_log(promoted, tmp_path):
    """The disk fills during a gate: exit 3 naming 'no space', the chain verifies; with space a re-run promotes."""
    mnt = tmp_path / "full"
    size_mb = _du(promoted.settings.workspace_dir) // 2**20 + 8
    with tmpfs(mnt, f"{size_mb}m"):
        case = _clone(promoted, mnt / "ws")
        before = assert_held(case)
        filler = mnt / "filler"
        with filler.open("wb") as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
        # leave a few KB: enough to start, too little for a run folder and its MLflow copy
        with filler.open("r+b") as fh:
            fh.truncate(max(0, filler.stat().st_size - 24 * 1024))
        res = run(case, gate_cmd(case))
        text = assert_clean_message(res, exit_code=3, cause="no space left", fix="disk")
        assert "Traceback" not in text
        assert_held(case, before=before)
        filler.unlink()
        assert_rerun_promotes(case, before=before)


def test_audit_append_on_a_full_disk_takes_the_partial_line_back(tmp_path):
    """ENOSPC in the middle of an audit line: AuditError naming the cause, and the log still verifies."""
    mnt = tmp_path / "tiny"
    with tmpfs(mnt, "64k"):
        signer = load_or_create_signer(path=mnt / "key.pem", keys_dir=mnt / "keys")
        log = AuditLog(path=mnt / "audit.jsonl", signer=signer)
        big = {"blob": "x" * 3000}
        with pytest.raises(AuditError, match="No space left") as err:
            for _ in range(100):
                log.append(actor="gate", action="evaluation.started", subject="s", payload=big)
        assert "free disk space" in str(err.value)
        report = log.verify()
        assert report.ok, report.problems
        n = report.n_events
        assert n > 0 and log.path.read_bytes().endswith(b"\n")
