"""A run folder's decision file is shown only when it matches its audited decision.made; otherwise it is a block."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from affectgate.core.records import PolicyDecision, RuleOutcome
from affectgate.gate.runs import INTEGRITY_RULE, AuditedDecision, reconcile_decision


def _decision(verdict: str) -> PolicyDecision:
    outcome = RuleOutcome(
        rule_id="euaia.art5_1f.workplace_education",
        pack="eu_ai_act",
        title="No emotion inference at work or school",
        article="Art. 5(1)(f)",
        status="fail" if verdict == "block" else "pass",
        severity="block",
        effective_from=date(2025, 2, 2),
        message="prohibited",
    )
    return PolicyDecision(
        context_id="eu-classroom", verdict=verdict, outcomes=(outcome,), pack_digests={}, as_of=date(2026, 1, 1)
    )


def _audited(raw: bytes | None, *, verdict: str = "block", digest: bool = True) -> AuditedDecision:
    return AuditedDecision(
        run_id="r1",
        context_id="eu-classroom",
        verdict=verdict,
        seq=7,
        decision_sha256=hashlib.sha256(raw).hexdigest() if digest and raw is not None else None,
        outcomes={"euaia.art5_1f.workplace_education": "fail"},
        as_of="2026-01-01",
        pack_digests={},
    )


def test_matching_file_is_shown():
    """The file whose sha256 is the audited digest is the decision shown, with no finding."""
    raw = _decision("block").model_dump_json(indent=2).encode()
    decision, finding = reconcile_decision(context_id="eu-classroom", raw=raw, audited=_audited(raw))
    assert finding is None and decision.verdict == "block" and decision.outcomes[0].article == "Art. 5(1)(f)"


@pytest.mark.parametrize("digest", [True, False])
def test_block_edited_to_review_is_a_block_finding(digest):
    """Edited verdict (with or without a recorded digest): a block carrying the integrity finding."""
    original = _decision("block").model_dump_json(indent=2).encode()
    edited = original.replace(b'"verdict": "block"', b'"verdict": "review"')
    audited = _audited(original, digest=digest)
    decision, finding = reconcile_decision(context_id="eu-classroom", raw=edited, audited=audited)
    assert decision.verdict == "block" and decision.outcomes[0].rule_id == INTEGRITY_RULE
    assert finding is not None and "verdict 'review'" in finding and "event 7, verdict 'block'" in finding


def test_message_edited_keeps_the_verdict_but_is_a_finding():
    """Even an edit that keeps the verdict (a reworded message) breaks the digest: a finding, shown as block."""
    original = _decision("review").model_dump_json(indent=2).encode()
    edited = original.replace(b"prohibited", b"all fine")
    decision, finding = reconcile_decision(context_id="eu-classroom", raw=edited, audited=_audited(original))
    assert decision.verdict == "block" and finding is not None


@pytest.mark.parametrize(
    ("raw", "audited", "problem", "needle"),
    [
        (b"{}", None, None, "no decision.made event"),
        (None, "yes", None, "is missing"),
        (b"not json", "yes", None, "'unreadable'"),
        (b"{}", "yes", "line 3: edited", "does not verify"),
    ],
)
def test_untrusted_cases_are_blocks(raw, audited, problem, needle):
    """No event, no file, an unreadable file or a log that does not verify: a block naming the cause."""
    good = _decision("allow").model_dump_json().encode()
    event = _audited(good, verdict="allow") if audited else None
    decision, finding = reconcile_decision(context_id="eu-classroom", raw=raw, audited=event, log_problem=problem)
    assert decision.verdict == "block" and finding is not None and needle in finding
