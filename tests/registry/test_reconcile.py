"""Alias reconciliation against the audit log, and "which version held this alias at time T"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from affectgate.audit import AuditLog
from affectgate.core.errors import RegistryError
from affectgate.gate.workspace import audit_log
from affectgate.project.settings import Settings
from affectgate.registry.mlflow_registry import MlflowRegistry
from affectgate.registry.reconcile import alias_at, alias_history, pending_intents, reconcile, resolve_intents

ROOT = Path(__file__).resolve().parents[2]
MODEL = "affectgate-recon"


@pytest.fixture()
def ws(tmp_path):
    """A SQLite MLflow registry with three versions of one model, and an audit log."""
    settings = Settings(project_root=ROOT, workspace=tmp_path / "ws", data_root=tmp_path / "data")
    settings.workspace_dir.mkdir(parents=True)
    reg = MlflowRegistry(tracking_uri=settings.tracking_uri, artifact_root=settings.artifact_root)
    reg.client.create_registered_model(MODEL)
    for _ in range(3):
        reg.client.create_model_version(MODEL, source=(tmp_path / "m").as_uri())
    log = audit_log(settings)  # signed with the workspace key, as the gate writes it
    return settings, reg, log


def _promote(reg: MlflowRegistry, log: AuditLog, version: str, ctx: str) -> None:
    """What the gate does: move the alias, then audit the promotion."""
    reg.client.set_registered_model_alias(MODEL, ctx, version)
    log.append(
        actor="gate",
        action="promotion",
        subject=f"model:{MODEL}/{version} context:{ctx}",
        payload={"alias": ctx, "alias_holder_after": version, "verdict": "allow"},
    )


def test_clean_registry_has_no_findings(ws):
    """Aliases moved only by the gate and a sign-off reconcile to no finding; rejections move nothing."""
    settings, reg, log = ws
    _promote(reg, log, "1", "eu-telehealth")
    _promote(reg, log, "2", "eu-telehealth")
    log.append(
        actor="gate",
        action="rejection",
        subject=f"model:{MODEL}/3 context:eu-telehealth",
        payload={"alias": None, "alias_holder_after": "2", "verdict": "block"},
    )
    reg.client.set_registered_model_alias(MODEL, "us-ad-testing", "3")
    log.append(
        actor="officer",
        action="alias.moved",
        subject=f"model:{MODEL}/3 context:us-ad-testing",
        payload={"alias": "us-ad-testing", "context": "us-ad-testing", "model": MODEL, "version": "3"},
    )
    assert reconcile(settings=settings) == []


def test_hand_moved_set_and_removed_aliases_are_findings(ws):
    """A hand-moved, hand-set and hand-deleted alias each give one finding naming both versions."""
    settings, reg, log = ws
    _promote(reg, log, "1", "eu-telehealth")
    _promote(reg, log, "2", "eu-meeting-sentiment")
    reg.client.set_registered_model_alias(MODEL, "eu-telehealth", "3")  # by hand
    reg.client.set_registered_model_alias(MODEL, "eu-classroom", "1")  # by hand, never audited
    reg.client.delete_registered_model_alias(MODEL, "eu-meeting-sentiment")  # by hand
    findings = {f.context_id: f for f in reconcile(settings=settings)}
    assert set(findings) == {"eu-telehealth", "eu-classroom", "eu-meeting-sentiment"}
    moved = findings["eu-telehealth"]
    assert (moved.kind, moved.registry_version, moved.audit_version, moved.audit_seq) == (
        "moved_outside_gate",
        "3",
        "1",
        1,
    )
    assert "moved by hand" in moved.message
    assert findings["eu-classroom"].kind == "set_outside_gate" and findings["eu-classroom"].audit_version is None
    removed = findings["eu-meeting-sentiment"]
    assert (removed.kind, removed.registry_version, removed.audit_version) == ("removed_outside_gate", None, "2")
    assert reconcile(settings=settings, models=["another-model"]) == []


def test_alias_history_and_alias_at(ws):
    """The audit log answers which version held an alias at any time, including before the first move."""
    settings, reg, log = ws
    _promote(reg, log, "1", "eu-telehealth")
    _promote(reg, log, "2", "eu-classroom")
    _promote(reg, log, "3", "eu-telehealth")
    history = alias_history(settings=settings, model=MODEL, context_id="eu-telehealth")
    assert [(h.version, h.seq) for h in history] == [("1", 1), ("3", 3)]
    t1, t3 = history[0].time, history[1].time
    at = lambda when: alias_at(settings=settings, model=MODEL, context_id="eu-telehealth", when=when)  # noqa: E731
    assert at(t1 - timedelta(microseconds=1)) is None
    assert at(t1) == "1" and at(t3 - timedelta(microseconds=1)) == "1"
    assert at(t3) == "3" and at(datetime.now(UTC) + timedelta(days=1)) == "3"
    with pytest.raises(RegistryError, match="timezone"):
        at(datetime(2026, 1, 1))


def test_registry_reconcile_command_reports_and_audits_findings(ws, monkeypatch):
    """`affectgate registry reconcile` exits 1 naming a hand-moved alias, 0 when clean; both runs are audited."""
    from typer.testing import CliRunner

    from affectgate.cli import app
    from affectgate.project.settings import get_settings

    settings, reg, log = ws
    monkeypatch.setenv("AFFECTGATE_PROJECT_ROOT", str(ROOT))
    monkeypatch.setenv("AFFECTGATE_WORKSPACE", str(settings.workspace_dir))
    monkeypatch.setenv("AFFECTGATE_DATA_ROOT", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        _promote(reg, log, "1", "eu-telehealth")
        clean = CliRunner().invoke(app, ["registry", "reconcile"])
        assert clean.exit_code == 0 and "no findings" in clean.output
        reg.client.set_registered_model_alias(MODEL, "eu-telehealth", "2")  # by hand
        found = CliRunner().invoke(app, ["registry", "reconcile"])
        assert found.exit_code == 1, found.output
        assert "moved_outside_gate" in found.output and "eu-telehealth" in found.output
    finally:
        get_settings.cache_clear()
    audited = [e for e in log.events() if e.action == "registry.reconciled"]
    assert [len(e.payload["findings"]) for e in audited] == [0, 1]
    assert audited[1].payload["findings"][0]["registry_version"] == "2"
    assert log.verify().ok


def test_write_ahead_intents_of_a_dead_gate_are_resolved_from_the_registry(ws):
    """An intent whose move happened becomes a recovered promotion, one whose move did not is abandoned; no finding."""
    settings, reg, log = ws
    for version, moved in (("1", True), ("2", False)):
        ctx = "eu-telehealth" if moved else "us-ad-testing"
        log.append(
            actor="gate",
            action="alias.intent",
            subject=f"model:{MODEL}/{version} context:{ctx}",
            payload={"model": MODEL, "version": version, "context": ctx, "alias": ctx, "run_id": f"r{version}"},
        )
        if moved:  # the gate died after the move and before its confirmation
            reg.client.set_registered_model_alias(MODEL, ctx, version)
    assert [f.kind for f in reconcile(settings=settings)] == ["set_outside_gate"]  # before resolution
    resolved = resolve_intents(log=log, reg=reg, actor="affectgate-gate")
    assert [(r.intent_seq, r.outcome) for r in resolved] == [(1, "completed"), (2, "abandoned")]
    events = log.events()
    assert events[2].action == "promotion" and events[2].payload["recovered_from_intent"] is True
    assert events[3].action == "alias.intent.abandoned" and events[3].payload["intent_seq"] == 2
    assert pending_intents(events) == [] and reconcile(settings=settings) == []
    assert resolve_intents(log=log, reg=reg, actor="affectgate-gate") == []  # idempotent
    assert log.verify().ok


def test_versions_without_identity_tags_are_quarantined_once(ws):
    """A version registered without its onnx_sha256 tag is quarantined and reported once."""
    _, reg, _ = ws
    assert sorted(reg.quarantine_orphans()) == [(MODEL, "1"), (MODEL, "2"), (MODEL, "3")]
    assert reg.quarantine_orphans() == []
    assert reg.version_tags(name=MODEL, version="1")["affectgate.quarantined"].startswith("no onnx_sha256")


def test_registry_webhook_commands_need_a_secret(monkeypatch):
    """`registry webhook` / `registry watch` refuse to run without the shared HMAC secret (exit 3, says which)."""
    from typer.testing import CliRunner

    from affectgate.cli import app

    monkeypatch.delenv("AFFECTGATE_WEBHOOK_SECRET", raising=False)
    for args in (["registry", "webhook", "--url", "http://127.0.0.1:1/"], ["registry", "watch", "--port", "0"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 3 and "AFFECTGATE_WEBHOOK_SECRET" in res.output, res.output
