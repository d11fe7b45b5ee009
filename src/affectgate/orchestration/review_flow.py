"""The Prefect side of human review (AI Act Art. 14): a gate flow whose decision is ``review`` waits for sign-off.

Inside the release-gate flow, :func:`await_signoffs` records ``review.paused`` (run, contexts, Prefect flow
run id, timeout) in the audit log and pauses the flow run with Prefect's
``pause_flow_run(wait_for_input=SignOffNotice)``. :func:`affectgate.oversight.signoff.sign_off` (dashboard or
``affectgate review sign``) records the sign-off and then calls :func:`resume_waiting_flow`, which resumes
that flow run with a notice naming the sign-off's audit event.

The flow trusts nothing in the notice: it re-reads its run's sign-offs from the audit log, and a notice
that names no recorded sign-off is audited as ``review.resume_unverified`` while the flow keeps waiting.
It pauses in slices of ``recheck_s`` seconds and re-reads the audit log between slices, so a sign-off
whose resume call was lost (Prefect unreachable from the signer, or signed in the instant before the flow
paused) is still picked up. When every ``review`` context is signed, or the timeout passes, it records
``review.ended`` and returns the gate results with the sign-offs applied: approved -> exit 0 (the sign-off
moved the alias), rejected -> exit 1 (alias unchanged), still unsigned -> exit 2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from affectgate.audit import AuditEvent
from affectgate.oversight.queue import SignOff, signoffs
from affectgate.project.settings import Settings

if TYPE_CHECKING:  # the pipeline (onnxruntime, MLflow) is imported only where a flow runs
    from affectgate.gate.results import GateResult

PAUSED = "review.paused"
RESUMED = "review.resumed"
UNVERIFIED = "review.resume_unverified"
ENDED = "review.ended"


@lru_cache(maxsize=1)
def notice_type() -> type:
    """The Prefect ``RunInput`` a paused gate flow waits for (built lazily: Prefect is configured first)."""
    from prefect.input import RunInput

    class SignOffNotice(RunInput):
        """Sent by the signer when resuming the flow; the flow checks it against the audit log."""

        run_id: str
        context_id: str
        signoff_seq: int

    return SignOffNotice


def waiting_flows(events: Sequence[AuditEvent]) -> dict[str, str]:
    """run id -> Prefect flow run id of every gate flow paused for review and not ended (from the audit log)."""
    waiting: dict[str, str] = {}
    for e in events:
        run_id = str(e.payload.get("run_id", ""))
        if e.action == PAUSED:
            waiting[run_id] = str(e.payload.get("flow_run_id", ""))
        elif e.action == ENDED:
            waiting.pop(run_id, None)
    return waiting


def apply_signoffs(results: Sequence[GateResult], signed: dict[str, SignOff]) -> list[GateResult]:
    """The results with each review context's sign-off (by context id) written into it."""
    out: list[GateResult] = []
    for r in results:
        s = signed.get(r.context_id)
        if r.verdict != "review" or s is None:
            out.append(r)
            continue
        out.append(
            replace(
                r,
                signoff=s.decision,
                signoff_by=s.approver,
                promoted=s.alias_moved,
                alias_holder=s.version if s.alias_moved else r.alias_holder,
            )
        )
    return out


def _run_signoffs(settings: Settings, run_id: str) -> dict[str, SignOff]:
    return {s.context_id: s for s in signoffs(settings=settings) if s.run_id == run_id}


def _force_running(flow_run_id: UUID, message: str) -> None:
    """After a pause slice timed out Prefect leaves the run Paused (expired); set it Running to go on."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Running(message=message), force=True)


def await_signoffs(
    *,
    settings: Settings,
    results: Sequence[GateResult],
    timeout_s: int,
    recheck_s: int = 300,
    poll_s: int = 2,
) -> list[GateResult]:
    """Inside a Prefect flow: pause until every ``review`` result is signed off, or ``timeout_s`` passes.

    ``timeout_s <= 0`` returns the results unchanged (CI's default: exit 2 and a queue item).
    """
    pending = [r for r in results if r.verdict == "review"]
    if timeout_s <= 0 or not pending:
        return list(results)
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run
    from prefect.runtime import flow_run

    from affectgate.gate.workspace import audit_log

    run_id = pending[0].run_id
    contexts = [r.context_id for r in pending]
    flow_run_id = UUID(str(flow_run.id))
    log = audit_log(settings)
    subject = f"run:{run_id} flow_run:{flow_run_id}"
    log.append(
        actor=settings.actor,
        action=PAUSED,
        subject=subject,
        payload={"run_id": run_id, "contexts": contexts, "flow_run_id": str(flow_run_id), "timeout_s": timeout_s},
    )
    deadline = time.monotonic() + timeout_s
    slice_no = 0
    timed_out = False
    while True:
        signed = _run_signoffs(settings, run_id)
        if all(c in signed for c in contexts):
            break
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        slice_no += 1
        try:
            notice: Any = pause_flow_run(
                wait_for_input=notice_type(),
                timeout=max(1, int(min(left, recheck_s))),
                poll_interval=max(1, min(poll_s, recheck_s)),
                key=f"review-{slice_no}",  # Prefect keys: lowercase letters, digits, dashes
            )
        except FlowPauseTimeout:
            _force_running(flow_run_id, "review: re-reading the audit log for sign-offs")
            continue
        recorded = {s.seq for s in _run_signoffs(settings, run_id).values()}
        verified = notice.run_id == run_id and notice.signoff_seq in recorded
        log.append(
            actor=settings.actor,
            action=RESUMED if verified else UNVERIFIED,
            subject=subject,
            payload={"run_id": run_id, "notice": {"run_id": notice.run_id, "seq": notice.signoff_seq}},
        )
    signed = _run_signoffs(settings, run_id)
    log.append(
        actor=settings.actor,
        action=ENDED,
        subject=subject,
        payload={
            "run_id": run_id,
            "flow_run_id": str(flow_run_id),
            "signed": {c: signed[c].decision for c in contexts if c in signed},
            "open": [c for c in contexts if c not in signed],
            "timed_out": timed_out,
        },
    )
    return apply_signoffs(results, signed)


def resume_waiting_flow(*, settings: Settings, signoff: SignOff, wait_s: float = 30.0) -> str:
    """Resume the gate flow paused on the sign-off's run, if one is waiting; returns what happened, in words.

    The audit log, not Prefect's state, says whether a flow still waits (``review.paused`` without
    ``review.ended``): between pause slices a run may briefly show Running or, once a slice expired,
    Failed. Polls up to ``wait_s`` for the run to be Paused. Never raises: the sign-off is already
    recorded and the flow re-reads the audit log at its next check.
    """
    from affectgate.gate.workspace import audit_log

    log = audit_log(settings)
    flow_run_id = waiting_flows(log.events()).get(signoff.run_id)
    if not flow_run_id:
        return "no gate flow is waiting on this run"
    later = "the flow picks the sign-off up from the audit log at its next check"
    try:
        from affectgate.orchestration.prefect import configure_prefect

        configure_prefect(settings)
        from prefect.client.orchestration import get_client
        from prefect.flow_runs import resume_flow_run

        fid = UUID(flow_run_id)
        notice = {"run_id": signoff.run_id, "context_id": signoff.context_id, "signoff_seq": signoff.seq}
        deadline = time.monotonic() + wait_s
        with get_client(sync_client=True) as client:
            while True:
                state = client.read_flow_run(fid).state
                if state is not None and state.is_paused():
                    resume_flow_run(fid, run_input=notice)
                    return f"resumed the paused gate flow run {fid}"
                # Running: about to pause (read nothing more); final: a run ended, or a pause slice expired
                # (Failed) while the flow still waits: only the audit log tells the two apart
                if state is not None and state.is_final() and signoff.run_id not in waiting_flows(log.events()):
                    return f"gate flow run {fid} is no longer waiting (it ended)"
                if time.monotonic() > deadline:
                    name = state.name if state is not None else "unknown"
                    return f"gate flow run {fid} is {name}, not paused; {later}"
                time.sleep(0.5)
    except Exception as exc:  # Prefect unreachable: the sign-off stands, the flow re-reads the log
        return f"could not resume gate flow run {flow_run_id} ({type(exc).__name__}: {exc}); {later}"
