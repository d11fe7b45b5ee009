"""Review queue and sign-off on a real gated workspace: separation of duties, reasons, roles, alias and audit."""

from __future__ import annotations

import pytest

from _dashboard_fixtures import copy_workspace, gated_workspace, item_by, mlflow_uri_restored
from affectgate.gate.runs import list_runs, parse_model_subject, run_audit_index
from affectgate.gate.workspace import audit_log, registry
from affectgate.oversight.queue import ReviewError, can_sign, review_items, signoffs
from affectgate.oversight.signoff import sign_off

MODEL = "affectgate-mobilenet_v2_frame"


@pytest.fixture(scope="module")
def base(built, tmp_path_factory):
    """The session's gated dashboard workspace (never modified here)."""
    return gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))


@pytest.fixture()
def ws(base, tmp_path):
    """A fresh copy of the gated workspace for one test."""
    with mlflow_uri_restored():
        yield copy_workspace(base, tmp_path / "ws")


def _alias(ws, context_id: str) -> str | None:
    return registry(ws.settings).alias_version(name=MODEL, context_id=context_id)


def test_review_items_come_from_review_decisions_with_submitter_and_version(ws):
    """Every stored `review` decision without sign-off is an item naming its submitter and registered version."""
    items = review_items(settings=ws.settings)
    assert {(i.submitter, i.context_id) for i in items} == {
        ("engineer", "eu-telehealth"),
        ("engineer", "us-ad-testing"),
        ("officer", "us-ad-testing"),
    }
    for item in items:
        assert item.model == MODEL and item.version == "1"
        assert item.reasons and item.synthetic_data
        decision = (ws.settings.runs_dir / item.run_id / f"decision.{item.context_id}.json").read_text()
        assert '"verdict": "review"' in decision
    # allow and block decisions (the prohibited classroom) never become items
    assert all(i.context_id != "eu-classroom" for i in items)
    release = [d for r in list_runs(settings=ws.settings) for d in r.decisions if d.verdict != "review"]
    assert any(d.context_id == "eu-classroom" and d.verdict == "block" for d in release)


def test_officer_approval_moves_alias_and_audits(ws):
    """Approving moves the context alias to the version and appends signoff.approved + alias.moved; chain verifies."""
    item = item_by(ws, "engineer", "us-ad-testing")
    # v1 may hold the alias already (if the release run allowed it): clear it to see the move
    registry(ws.settings).client.delete_registered_model_alias(MODEL, "us-ad-testing")
    assert _alias(ws, "us-ad-testing") is None
    n = len(audit_log(ws.settings).events())
    done = sign_off(
        settings=ws.settings,
        run_id=item.run_id,
        context_id="us-ad-testing",
        approver="dpo",
        role="compliance-officer",
        decision="approve",
        reason="latency evidence reviewed offline; panel study only",
    )
    assert done.alias_moved and done.version == "1"
    assert _alias(ws, "us-ad-testing") == "1"
    events = audit_log(ws.settings).events()
    assert [e.action for e in events[n:]] == ["signoff.approved", "alias.moved"]
    approved, moved = events[n:]
    assert approved.actor == "dpo" and approved.payload["reason"].startswith("latency evidence")
    expected = {"run_id": item.run_id, "context": "us-ad-testing", "model": MODEL, "version": "1"}
    assert {k: approved.payload[k] for k in expected} == expected
    assert moved.payload["alias"] == "us-ad-testing" and moved.payload["signoff_seq"] == approved.seq
    assert parse_model_subject(moved.subject) == (MODEL, "1")
    assert audit_log(ws.settings).verify().ok
    # the item is closed and shows in the history
    assert all(i.run_id != item.run_id or i.context_id != "us-ad-testing" for i in review_items(settings=ws.settings))
    assert [(s.approver, s.decision, s.alias_moved) for s in signoffs(settings=ws.settings)] == [
        ("dpo", "approve", True)
    ]


def test_rejection_keeps_alias(ws):
    """Rejecting records signoff.rejected, closes the item and leaves the alias where it was."""
    item = item_by(ws, "engineer", "eu-telehealth")
    reg = registry(ws.settings)
    reg.client.set_registered_model_alias(MODEL, "eu-telehealth", "1")
    n = len(audit_log(ws.settings).events())
    done = sign_off(
        settings=ws.settings,
        run_id=item.run_id,
        context_id="eu-telehealth",
        approver="officer",
        role="compliance-officer",
        decision="reject",
        reason="no fairness evidence in the drift audit",
    )
    assert not done.alias_moved
    assert _alias(ws, "eu-telehealth") == "1"
    events = audit_log(ws.settings).events()
    assert [e.action for e in events[n:]] == ["signoff.rejected"]
    assert audit_log(ws.settings).verify().ok
    assert all(i.context_id != "eu-telehealth" for i in review_items(settings=ws.settings))
    with pytest.raises(ReviewError, match="no open review item"):
        sign_off(
            settings=ws.settings,
            run_id=item.run_id,
            context_id="eu-telehealth",
            approver="dpo",
            role="compliance-officer",
            decision="approve",
            reason="second try",
        )


def test_submitter_cannot_approve(ws):
    """The compliance officer who submitted the evaluation cannot sign it off (separation of duties)."""
    item = item_by(ws, "officer")
    assert can_sign(item=item, user="officer", role="compliance-officer")[0] is False
    n = len(audit_log(ws.settings).events())
    with pytest.raises(ReviewError, match="submitted this evaluation"):
        sign_off(
            settings=ws.settings,
            run_id=item.run_id,
            context_id=item.context_id,
            approver="officer",
            role="compliance-officer",
            decision="approve",
            reason="looks fine to me",
        )
    assert len(audit_log(ws.settings).events()) == n


@pytest.mark.parametrize("role", ["viewer", "ml-engineer", "admin", ""])
def test_wrong_role_is_refused(ws, role):
    """Only the compliance-officer role may sign off; nothing is written otherwise."""
    item = item_by(ws, "engineer", "eu-telehealth")
    n = len(audit_log(ws.settings).events())
    with pytest.raises(ReviewError, match="compliance-officer"):
        sign_off(
            settings=ws.settings,
            run_id=item.run_id,
            context_id="eu-telehealth",
            approver="someone",
            role=role,
            decision="approve",
            reason="fine",
        )
    assert len(audit_log(ws.settings).events()) == n and item_by(ws, "engineer", "eu-telehealth")


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_empty_reason_is_refused(ws, reason):
    """A sign-off without a reason is refused before anything is written."""
    item = item_by(ws, "engineer", "eu-telehealth")
    n = len(audit_log(ws.settings).events())
    with pytest.raises(ReviewError, match="needs a reason"):
        sign_off(
            settings=ws.settings,
            run_id=item.run_id,
            context_id="eu-telehealth",
            approver="dpo",
            role="compliance-officer",
            decision="reject",
            reason=reason,
        )
    assert len(audit_log(ws.settings).events()) == n


def test_unknown_item_and_decision_are_refused(ws):
    """An audited block, an unknown run or an unknown decision word cannot be signed off."""
    release_run = next(
        r
        for r, a in run_audit_index(events=audit_log(ws.settings).events()).items()
        if a.submitter == "affectgate-gate"
    )
    with pytest.raises(ReviewError, match=r"audited verdict .* is 'block'.*overridden by nothing"):
        sign_off(
            settings=ws.settings,
            run_id=release_run,
            context_id="eu-classroom",
            approver="dpo",
            role="compliance-officer",
            decision="approve",
            reason="override the prohibition",
        )
    with pytest.raises(ReviewError, match="unknown sign-off decision"):
        sign_off(
            settings=ws.settings,
            run_id=release_run,
            context_id="eu-telehealth",
            approver="dpo",
            role="compliance-officer",
            decision="maybe",
            reason="x",
        )  # type: ignore[arg-type]
    assert _alias(ws, "eu-classroom") is None


def test_on_signed_hook_gets_the_signoff(ws):
    """The hook for the paused flow (issue 7) is called once with the recorded sign-off."""
    item = item_by(ws, "engineer", "eu-telehealth")
    seen = []
    done = sign_off(
        settings=ws.settings,
        run_id=item.run_id,
        context_id="eu-telehealth",
        approver="dpo",
        role="compliance-officer",
        decision="reject",
        reason="stop",
        on_signed=seen.append,
    )
    assert seen == [done]


def test_run_audit_index_reads_submitter_and_version(ws):
    """Submitter (evaluation.started actor) and version (evaluation.completed subject) per run id."""
    index = run_audit_index(events=audit_log(ws.settings).events())
    assert len(index) == 5  # the five gate runs of _dashboard_fixtures.gated_workspace
    assert sorted(a.submitter for a in index.values()) == [
        "affectgate-gate",
        "affectgate-gate",
        "engineer",
        "engineer",
        "officer",
    ]
    assert {(a.model, a.version) for a in index.values()} == {(MODEL, "1")}
    assert parse_model_subject("model:m-1/12 context:x") == ("m-1", "12")
    assert parse_model_subject("candidate:x dataset:y") is None


def test_review_cli_lists_and_signs_with_password_and_file_role(ws):
    """`affectgate review sign` checks the password against the bcrypt file and takes the role from it."""
    from typer.testing import CliRunner

    from _dashboard_fixtures import dashboard_env
    from affectgate.cli import app

    runner = CliRunner()
    item = item_by(ws, "engineer", "us-ad-testing")
    args = ["review", "sign", "--run", item.run_id, "--context", "us-ad-testing", "--reason", "checked the evidence"]
    with dashboard_env(ws):
        listed = runner.invoke(app, ["review", "list"])
        assert listed.exit_code == 0 and item.run_id in listed.output
        wrong = runner.invoke(app, [*args, "--decision", "approve", "--user", "officer", "--password", "nope"])
        assert wrong.exit_code == 3 and "wrong password" in wrong.output
        viewer = runner.invoke(app, [*args, "--decision", "approve", "--user", "viewer", "--password", "viewer-demo"])
        assert viewer.exit_code == 3 and "compliance" in viewer.output  # role from the file, not a flag
        ok = runner.invoke(app, [*args, "--decision", "reject", "--user", "officer"], input="officer-demo\n")
        assert ok.exit_code == 0, ok.output
        assert "rejected by officer" in ok.output and "alias unchanged" in ok.output
    assert audit_log(ws.settings).events()[-1].action == "signoff.rejected"
