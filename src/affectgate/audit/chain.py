"""The audit hash chain as pure functions: canonical JSON, event digests, verification.

digest(event) = sha256(canonical JSON of {seq, time, actor, action, subject, payload_digest,
prev_digest}); payload_digest = sha256(canonical JSON of the payload); the first event's
prev_digest is GENESIS. Any edit, deletion, reorder or (with the head anchor) truncation breaks it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GENESIS = "0" * 64


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"not JSON-serialisable in an audit payload: {type(obj).__name__}")


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def sha256_hex(data: bytes) -> str:
    """sha256 hex digest."""
    return hashlib.sha256(data).hexdigest()


class AuditEvent(BaseModel):
    """One append-only audit event, chained to its predecessor by digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1, description="1-based, contiguous sequence number.")
    time: datetime = Field(description="UTC time of the event.")
    actor: str = Field(description="Who did it: a user name or 'affectgate-gate'.")
    action: str = Field(description="What happened, e.g. 'decision.made', 'promotion', 'gate.error'.")
    subject: str = Field(description="What it is about, e.g. 'model:NAME/3 context:eu-telehealth'.")
    payload: dict[str, Any] = Field(description="The evidence, kept so its digest can be re-checked.")
    payload_digest: str = Field(description="sha256 of the canonical JSON of the payload.")
    prev_digest: str = Field(description="Digest of the previous event; GENESIS for the first.")
    digest: str = Field(description="sha256 of this event's header fields (see module docstring).")


def event_digest(
    *, seq: int, time: datetime, actor: str, action: str, subject: str, payload_digest: str, prev_digest: str
) -> str:
    """The digest of an event's header fields."""
    header = {
        "seq": seq,
        "time": time.isoformat(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "payload_digest": payload_digest,
        "prev_digest": prev_digest,
    }
    return sha256_hex(canonical_json(header))


def make_event(
    *, prev: AuditEvent | None, time: datetime, actor: str, action: str, subject: str, payload: Mapping[str, Any]
) -> AuditEvent:
    """The next event after ``prev`` (None for the first)."""
    plain = json.loads(canonical_json(dict(payload)))
    payload_digest = sha256_hex(canonical_json(plain))
    seq = 1 if prev is None else prev.seq + 1
    prev_digest = GENESIS if prev is None else prev.digest
    digest = event_digest(
        seq=seq, time=time, actor=actor, action=action, subject=subject,
        payload_digest=payload_digest, prev_digest=prev_digest,
    )
    return AuditEvent(
        seq=seq, time=time, actor=actor, action=action, subject=subject, payload=plain,
        payload_digest=payload_digest, prev_digest=prev_digest, digest=digest,
    )


ProblemKind = Literal["edited", "deleted", "reordered", "truncated", "malformed", "payload_mismatch"]


class ChainProblem(BaseModel):
    """One thing wrong with the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int | None = Field(description="Sequence number of the bad event, if known.")
    line: int | None = Field(description="1-based line in the log file, if known.")
    kind: ProblemKind = Field(description="What kind of tampering or damage.")
    message: str = Field(description="Explanation.")


class ChainReport(BaseModel):
    """The result of verifying a chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ok: bool = Field(description="True when no problem was found.")
    n_events: int = Field(description="Events read.")
    head_seq: int = Field(description="Sequence number of the last event (0 when empty).")
    head_digest: str | None = Field(description="Digest of the last event.")
    problems: tuple[ChainProblem, ...] = Field(description="Every problem found, in file order.")
    first_bad_seq: int | None = Field(description="Sequence number of the first bad event.")


def verify_chain(
    *,
    events: Sequence[AuditEvent],
    anchor: tuple[int, str] | None = None,
    lines: Sequence[int] | None = None,
    extra_problems: Sequence[ChainProblem] = (),
) -> ChainReport:
    """Check digests, links and order; ``anchor`` = (head_seq, head_digest) recorded beside the log."""
    problems: list[ChainProblem] = list(extra_problems)
    prev: AuditEvent | None = None
    for i, ev in enumerate(events):
        line = lines[i] if lines else i + 1
        if sha256_hex(canonical_json(ev.payload)) != ev.payload_digest:
            problems.append(ChainProblem(seq=ev.seq, line=line, kind="payload_mismatch",
                                         message=f"event {ev.seq}: payload does not match its digest"))
        recomputed = event_digest(
            seq=ev.seq, time=ev.time, actor=ev.actor, action=ev.action, subject=ev.subject,
            payload_digest=ev.payload_digest, prev_digest=ev.prev_digest,
        )
        if recomputed != ev.digest:
            problems.append(ChainProblem(seq=ev.seq, line=line, kind="edited",
                                         message=f"event {ev.seq}: fields were changed after it was written"))
        expected_seq = 1 if prev is None else prev.seq + 1
        expected_prev = GENESIS if prev is None else prev.digest
        if ev.seq != expected_seq:
            kind: ProblemKind = "deleted" if ev.seq > expected_seq else "reordered"
            problems.append(ChainProblem(seq=ev.seq, line=line, kind=kind,
                                         message=f"event {ev.seq} found where event {expected_seq} was expected"))
        elif ev.prev_digest != expected_prev:
            problems.append(ChainProblem(seq=ev.seq, line=line, kind="edited",
                                         message=f"event {ev.seq} does not link to its predecessor"))
        prev = ev
    head_seq = prev.seq if prev else 0
    head_digest = prev.digest if prev else None
    if anchor is not None:
        a_seq, a_digest = anchor
        if head_seq < a_seq:
            problems.append(ChainProblem(seq=head_seq + 1, line=None, kind="truncated",
                                         message=f"log ends at event {head_seq} but the head anchor records {a_seq}"))
        elif head_seq == a_seq and head_digest != a_digest:
            problems.append(ChainProblem(seq=head_seq, line=None, kind="edited",
                                         message=f"last event {head_seq} does not match the head anchor"))
    first_bad = min((p.seq for p in problems if p.seq is not None), default=None)
    return ChainReport(
        ok=not problems, n_events=len(events), head_seq=head_seq, head_digest=head_digest,
        problems=tuple(problems), first_bad_seq=first_bad,
    )
