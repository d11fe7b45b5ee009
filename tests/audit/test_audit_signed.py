"""The signed audit chain: Ed25519 heads a regulator checks with the public key alone, forgery and rollback caught,
a torn last line repaired on the record, key rotation, and the gate refusing to run on a broken chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectgate.audit import AuditLog, make_event
from affectgate.audit.signing import (
    KeyRing,
    Signer,
    install_signer,
    load_or_create_signer,
    load_public_key,
    new_signer,
)
from affectgate.core.errors import AffectgateError
from affectgate.project.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]


def _signed(tmp: Path, n: int = 3) -> tuple[AuditLog, Signer]:
    keys = tmp / "audit" / "keys"
    signer = load_or_create_signer(path=tmp / "secret" / "ed25519.pem", keys_dir=keys)
    assert signer is not None
    log = AuditLog(path=tmp / "audit" / "audit.jsonl", signer=signer)
    for i in range(n):
        log.append(actor="gate", action="promotion", subject=f"model:m/{i} context:c", payload={"i": i})
    return log, signer


def _forge(log: AuditLog, *, signer: Signer | None = None) -> None:
    """Append an event with correctly recomputed digests, as an attacker with write access to the file would."""
    last = log.events()[-1]
    ev = make_event(
        prev=last,
        time=last.time,
        actor="mallory",
        action="promotion",
        subject="model:m/9 context:c",
        payload={"forged": True},
    )
    if signer is not None:
        ev = ev.model_copy(update={"key_id": signer.key_id, "signature": signer.sign(seq=ev.seq, digest=ev.digest)})
    with log.path.open("a", encoding="utf-8") as fh:
        fh.write(ev.model_dump_json() + "\n")


def test_public_key_alone_verifies_and_forgeries_fail(tmp_path):
    """A regulator with only the .pub.pem verifies the log; an appended forgery (unsigned or foreign key) fails."""
    log, signer = _signed(tmp_path)
    pub = load_public_key(tmp_path / "secret" / "ed25519.pub.pem")
    regulator = AuditLog(path=log.path)  # no private key, no HMAC secret
    assert regulator.verify(public_keys=KeyRing([pub])).ok
    assert all(e.signature for e in regulator.events())

    _forge(log)
    report = regulator.verify(public_keys=KeyRing([pub]))
    assert not report.ok and report.first_bad_line == 4
    assert [p.kind for p in report.problems] == ["after_head"] and "not signed" in report.problems[0].message

    lines = log.path.read_text().splitlines()[:3]
    log.path.write_text("\n".join(lines) + "\n")
    _forge(log, signer=new_signer())  # signed, but by a key nobody trusts
    report = regulator.verify(public_keys=KeyRing([pub]))
    assert not report.ok and [p.kind for p in report.problems] == ["bad_signature"]
    with pytest.raises(AffectgateError, match="refusing to read it"):
        regulator.events()  # readers never answer from a log that does not verify


def test_rollback_to_an_older_signed_head_is_caught_by_outside_heads(tmp_path):
    """Cutting the tail and restoring the older, validly signed anchor passes alone but fails against a kept export."""
    log, _ = _signed(tmp_path, n=2)
    old_lines = log.path.read_bytes()
    old_anchor = log.anchor_path.read_bytes()
    log.append(actor="officer", action="signoff.approved", subject="model:m/1 context:c", payload={"run_id": "r"})
    head = log.signed_head()
    assert (
        head is not None and head["seq"] == 3 and head["signature"] and str(head["fingerprint"]).startswith("SHA256:")
    )
    log.path.write_bytes(old_lines)  # the attacker rolls back: the sign-off disappears
    log.anchor_path.write_bytes(old_anchor)
    assert log.verify().ok  # on its own the rolled-back log is consistent...
    outside = [(head["seq"], head["digest"], "export of yesterday", head["key_id"], head["signature"])]
    report = log.verify(external_heads=outside)
    assert not report.ok and report.problems[0].kind == "rolled_back"  # ...but not with the head kept outside
    assert "export of yesterday" in report.problems[0].message


def test_torn_last_line_blocks_then_repair_quarantines_it_on_the_record(tmp_path):
    """A half-written last line is named by verify; `repair` moves it to a side file and records an event."""
    log, _ = _signed(tmp_path)
    before = log.path.read_bytes()
    torn = b'{"seq":4,"time":"2026-'
    with log.path.open("ab") as fh:
        fh.write(torn)
    report = log.verify()
    assert not report.ok and report.first_bad_line == 4 and report.problems[0].kind == "malformed"
    with pytest.raises(AffectgateError, match="torn last line.*audit repair"):
        log.append(actor="gate", action="x", subject="y", payload={})
    event = log.repair(actor="operator")
    assert event is not None and event.action == "audit.repaired" and event.seq == 4
    side = log.path.parent / str(event.payload["quarantined_file"])
    assert side.read_bytes() == torn and event.payload["line"] == 4
    assert log.path.read_bytes().startswith(before)  # nothing recorded was lost
    assert log.verify().ok and log.repair(actor="operator") is None


def test_crash_between_line_and_head_still_verifies_each_line_being_signed(tmp_path):
    """A kill after the line and before the head leaves a signed event past the anchor: no problem, noted."""
    log, _ = _signed(tmp_path)
    stale = log.anchor_path.read_bytes()
    log.append(actor="gate", action="promotion", subject="model:m/4 context:c", payload={})
    log.anchor_path.write_bytes(stale)
    report = log.verify()
    assert report.ok and any("lags" in n for n in report.notes)


def test_key_rotation_is_an_event_and_the_old_public_key_still_verifies(tmp_path):
    """After a rotation the regulator's old public key suffices: the signed rotation event introduces the new key."""
    log, old = _signed(tmp_path, n=2)
    old_pub = load_public_key(tmp_path / "secret" / "ed25519.pub.pem")
    new = new_signer()
    event = log.rotate_key(actor="security-officer", new=new, reason="annual")
    install_signer(path=tmp_path / "secret" / "ed25519.pem", keys_dir=log.keys_dir, new=new, old=old)
    log.append(actor="gate", action="promotion", subject="model:m/5 context:c", payload={})
    assert event.action == "audit.key_rotated" and event.key_id == old.key_id
    assert log.events()[-1].key_id == new.key_id
    assert AuditLog(path=log.path).verify(public_keys=KeyRing([old_pub])).ok
    assert not AuditLog(path=log.path).verify(public_keys=KeyRing([new_signer().public])).ok
    assert len(list(log.keys_dir.glob("*.pub.pem"))) == 2


@pytest.fixture()
def cli_ws(tmp_path, monkeypatch):
    """A workspace selected through the environment, as the CLI reads it."""
    for key, value in {
        "AFFECTGATE_PROJECT_ROOT": str(ROOT),
        "AFFECTGATE_WORKSPACE": str(tmp_path / "ws"),
        "AFFECTGATE_DATA_ROOT": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_gate_refuses_a_broken_chain_naming_the_line_and_appends_nothing(cli_ws: Settings):
    """With an event deleted the gate exits 3 naming the first bad line, and the log is left as it was."""
    from affectgate.cli import app
    from affectgate.gate.workspace import audit_log

    log = audit_log(cli_ws)
    for i in range(3):
        log.append(actor="gate", action="evaluation.started", subject=f"s{i}", payload={"i": i})
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n")  # event 2 deleted
    tampered = log.path.read_bytes()
    res = CliRunner().invoke(app, ["gate", "--plain", "--model", "m", "--data", "d", "--context", "eu-telehealth"])
    text = " ".join(res.output.split())
    assert res.exit_code == 3, text
    assert "does not verify" in text and "line 2" in text and "audit repair" in text and "Traceback" not in text
    assert log.path.read_bytes() == tampered  # not even a gate.error event on a broken chain


def test_cli_verify_export_public_key_and_repair(cli_ws: Settings, tmp_path):
    """`audit export` carries the signed head and fingerprint; `verify --public-key --export` catches a rollback."""
    from affectgate.cli import app
    from affectgate.gate.workspace import audit_log

    log = audit_log(cli_ws)
    for i in range(2):
        log.append(actor="gate", action="promotion", subject=f"model:m/{i} context:c", payload={"alias": "c"})
    saved_log, saved_head = log.path.read_bytes(), log.anchor_path.read_bytes()
    log.append(actor="officer", action="signoff.approved", subject="model:m/1 context:c", payload={})
    out = tmp_path / "export.md"
    runner = CliRunner()
    res = runner.invoke(app, ["audit", "export", "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    fingerprint = next(iter(KeyRing([log.signer.public]).fingerprints()))  # type: ignore[union-attr]
    assert "Signed head" in text and fingerprint in text and "affectgate-signed-head" in text
    pub = cli_ws.audit_signing_key_path.with_name("ed25519.pub.pem")
    ok = runner.invoke(app, ["audit", "verify", "--public-key", str(pub), "--export", str(out)])
    assert ok.exit_code == 0, ok.output
    log.path.write_bytes(saved_log)
    log.anchor_path.write_bytes(saved_head)
    rolled = runner.invoke(app, ["audit", "verify", "--public-key", str(pub), "--export", str(out)])
    assert rolled.exit_code == 1 and "rolled_back" in rolled.output, rolled.output
    with log.path.open("ab") as fh:
        fh.write(b'{"seq": 3, "ti')
    fixed = runner.invoke(app, ["audit", "repair"])
    assert fixed.exit_code == 0 and "quarantined the torn line 3" in " ".join(fixed.output.split()), fixed.output
    assert json.loads(log.path.read_text().splitlines()[-1])["action"] == "audit.repaired"
