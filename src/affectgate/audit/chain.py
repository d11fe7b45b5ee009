"""The audit hash chain as pure functions: canonical JSON, event digests, verification. No I/O.

``payload_digest = sha256(canonical_json(payload))`` and ``digest = sha256(canonical_json({seq, time
(isoformat), actor, action, subject, payload_digest, prev_digest}))``; the first event's
``prev_digest`` is :data:`GENESIS`. An edit changes a digest, a deletion leaves a gap in ``seq`` and a
broken link, a reorder puts a ``seq`` out of place, and truncation at the end leaves the chain behind
the (seq, digest) anchor that the store records separately.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from affectgate.core.errors import AffectgateError

GENESIS = "0" * 64
"""``prev_digest`` of the first event."""

ProblemKind = Literal[
    "edited",
    "deleted",
    "reordered",
    "truncated",
    "malformed",
    "payload_mismatch",
    "unsigned",
    "bad_signature",
    "after_head",
    "rolled_back",
]


class AuditError(AffectgateError):
    """The audit log cannot be read or written, or an event cannot be made (e.g. a non-JSON payload)."""


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"not JSON-serialisable in an audit payload: {type(obj).__name__}")


def canonical_json(obj: Any) -> bytes:
    """Deterministic UTF-8 JSON: sorted keys, no whitespace, no NaN; datetimes, paths, enums as text."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """The SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def payload_digest_of(*, payload: Mapping[str, Any]) -> str:
    """The SHA-256 hex digest of the canonical JSON of ``payload``."""
    return sha256_hex(canonical_json(dict(payload)))


class AuditEvent(BaseModel):
    """One append-only audit event, chained to its predecessor by digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1, description="1-based, contiguous sequence number.")
    time: datetime = Field(description="When it happened: timezone-aware, UTC.")
    actor: str = Field(description="Who did it: a user name or 'affectgate-gate'.")
    action: str = Field(
        description="What happened, e.g. 'evaluation.completed', 'decision.made', 'promotion', 'gate.error'."
    )
    subject: str = Field(
        description="What it is about, e.g. 'model:affectgate-mobilenet_v2_frame/3 context:eu-telehealth'."
    )
    payload: dict[str, JsonValue] = Field(
        description="The evidence (plain JSON), kept so that its digest can be re-checked."
    )
    payload_digest: str = Field(description="SHA-256 hex of the canonical JSON of the payload.")
    prev_digest: str = Field(description="Digest of the previous event; GENESIS ('0' * 64) for seq 1.")
    digest: str = Field(
        description="SHA-256 hex of the canonical JSON of {seq, time, actor, action, subject, "
        "payload_digest, prev_digest}."
    )
    key_id: str | None = Field(
        default=None, description="Id of the Ed25519 key that signed this event (audit.signing); None: unsigned."
    )
    signature: str | None = Field(
        default=None, description="Base64 Ed25519 signature of (seq, digest) by key_id; not part of the digest."
    )

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() != timedelta(0):
            raise ValueError(f"audit time must be timezone-aware UTC, got {value.isoformat()}")
        return value


def event_digest(
    *, seq: int, time: datetime, actor: str, action: str, subject: str, payload_digest: str, prev_digest: str
) -> str:
    """The digest of an event's header fields (everything but the payload itself and the digest)."""
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
    *,
    prev: AuditEvent | None,
    time: datetime,
    actor: str,
    action: str,
    subject: str,
    payload: Mapping[str, Any],
) -> AuditEvent:
    """The event after ``prev`` (None for the first); ``payload`` is normalised to plain JSON first.

    Raises :class:`AuditError` for a naive ``time`` or a payload that is not JSON (NaN, unknown types).
    """
    if time.tzinfo is None:
        raise AuditError(f"audit time {time.isoformat()} has no timezone", fix="pass datetime.now(UTC)")
    time = time.astimezone(UTC)
    try:
        plain = json.loads(canonical_json(dict(payload)))
    except (TypeError, ValueError) as exc:
        raise AuditError(
            f"audit payload for {action!r} on {subject!r} is not plain JSON: {exc}",
            fix="pass str/int/float/bool/None, lists and str-keyed dicts (finite floats only)",
        ) from None
    p_digest = sha256_hex(canonical_json(plain))
    seq = 1 if prev is None else prev.seq + 1
    prev_digest = GENESIS if prev is None else prev.digest
    digest = event_digest(
        seq=seq,
        time=time,
        actor=actor,
        action=action,
        subject=subject,
        payload_digest=p_digest,
        prev_digest=prev_digest,
    )
    return AuditEvent(
        seq=seq,
        time=time,
        actor=actor,
        action=action,
        subject=subject,
        payload=plain,
        payload_digest=p_digest,
        prev_digest=prev_digest,
        digest=digest,
    )


class ChainProblem(BaseModel):
    """One thing wrong with the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int | None = Field(description="Sequence number of the bad (or missing) event, when known.")
    line: int | None = Field(description="1-based line in the log file, when known.")
    kind: ProblemKind = Field(description="What kind of tampering or damage.")
    message: str = Field(description="One-line explanation.")


class ChainReport(BaseModel):
    """The result of verifying a chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = Field(description="True when no problem was found.")
    n_events: int = Field(description="Events that could be read (malformed lines excluded).")
    head_digest: str | None = Field(description="Digest of the last event read; None when there is none.")
    head_seq: int = Field(description="Sequence number of the last event read (0 when there is none).")
    problems: tuple[ChainProblem, ...] = Field(description="Every problem found, in file order.")
    first_bad_seq: int | None = Field(
        description="Lowest sequence number named by a problem: the first bad or missing event."
    )
    first_bad_line: int | None = Field(
        default=None, description="Lowest line number in the file named by a problem (None: no line named)."
    )
    notes: tuple[str, ...] = Field(
        default=(), description="What was checked and how (signatures, external heads), for the report."
    )


def verify_chain(
    *,
    events: Sequence[AuditEvent],
    anchor: tuple[int, str] | None = None,
    lines: Sequence[int] | None = None,
    extra_problems: Sequence[ChainProblem] = (),
    strict_head: bool = False,
    external_heads: Sequence[tuple[int, str, str]] = (),
    notes: Sequence[str] = (),
) -> ChainReport:
    """Check every digest, link and position; ``anchor`` = (head_seq, head_digest) recorded beside the log.

    ``lines`` gives each event's line in the file (default: its 1-based position); ``extra_problems``
    (e.g. malformed lines found by the reader) are merged into the report in line order.
    ``strict_head``: every event after the anchor's event is a problem (``after_head``: nothing vouches
    for it; used when events carry no signature of their own). ``external_heads``: (seq, digest, where)
    of heads recorded outside the log (MLflow version tags, exports); a head the log no longer reaches
    or contradicts is ``rolled_back``.
    """
    problems: list[ChainProblem] = list(extra_problems)
    all_seqs = {ev.seq for ev in events}
    digest_at: dict[int, str] = {}
    max_seq = 0
    for i, ev in enumerate(events):
        line = lines[i] if lines is not None else i + 1
        where = f"line {line}: event {ev.seq}"
        if payload_digest_of(payload=ev.payload) != ev.payload_digest:
            problems.append(
                ChainProblem(
                    seq=ev.seq,
                    line=line,
                    kind="payload_mismatch",
                    message=f"{where}: payload does not match its payload_digest",
                )
            )
        recomputed = event_digest(
            seq=ev.seq,
            time=ev.time,
            actor=ev.actor,
            action=ev.action,
            subject=ev.subject,
            payload_digest=ev.payload_digest,
            prev_digest=ev.prev_digest,
        )
        if recomputed != ev.digest:
            problems.append(
                ChainProblem(
                    seq=ev.seq,
                    line=line,
                    kind="edited",
                    message=f"{where}: fields were changed after it was written",
                )
            )
        expected = max_seq + 1
        if ev.seq in digest_at:
            problems.append(
                ChainProblem(seq=ev.seq, line=line, kind="reordered", message=f"{where} appears a second time")
            )
        elif ev.seq < expected:
            problems.append(
                ChainProblem(seq=ev.seq, line=line, kind="reordered", message=f"{where} comes after event {max_seq}")
            )
        elif ev.seq > expected:
            missing = range(expected, ev.seq)
            later = [m for m in missing if m in all_seqs]
            if later:
                problems.append(
                    ChainProblem(
                        seq=ev.seq,
                        line=line,
                        kind="reordered",
                        message=f"{where} comes before event {later[0]}",
                    )
                )
            else:
                span = str(expected) if ev.seq - expected == 1 else f"{expected}-{ev.seq - 1}"
                problems.append(
                    ChainProblem(
                        seq=expected,
                        line=line,
                        kind="deleted",
                        message=f"event(s) {span} missing before {where}",
                    )
                )
        else:
            expected_prev = GENESIS if ev.seq == 1 else digest_at[ev.seq - 1]
            if ev.prev_digest != expected_prev:
                problems.append(
                    ChainProblem(
                        seq=ev.seq,
                        line=line,
                        kind="edited",
                        message=f"{where} does not link to event {ev.seq - 1}",
                    )
                )
        digest_at.setdefault(ev.seq, ev.digest)
        max_seq = max(max_seq, ev.seq)

    line_of = {ev.seq: (lines[i] if lines is not None else i + 1) for i, ev in enumerate(events)}
    if anchor is not None and strict_head:
        for ev in events:
            if ev.seq > anchor[0]:
                problems.append(
                    ChainProblem(
                        seq=ev.seq,
                        line=line_of.get(ev.seq),
                        kind="after_head",
                        message=f"line {line_of.get(ev.seq)}: event {ev.seq} comes after the signed head (event "
                        f"{anchor[0]}): nothing vouches for it",
                    )
                )
    for h_seq, h_digest, where in external_heads:
        if h_seq > max_seq:
            problems.append(
                ChainProblem(
                    seq=max_seq + 1,
                    line=None,
                    kind="rolled_back",
                    message=f"{where} records the signed head at event {h_seq} but the log ends at event {max_seq}: "
                    "the log was cut and rolled back",
                )
            )
        elif h_seq in digest_at and digest_at[h_seq] != h_digest:
            problems.append(
                ChainProblem(
                    seq=h_seq,
                    line=line_of.get(h_seq),
                    kind="rolled_back",
                    message=f"{where} records event {h_seq} with digest {h_digest[:16]}, the log's event {h_seq} "
                    "differs: history was rewritten",
                )
            )
    if anchor is not None:
        a_seq, a_digest = anchor
        if max_seq < a_seq:
            problems.append(
                ChainProblem(
                    seq=max_seq + 1,
                    line=None,
                    kind="truncated",
                    message=f"log ends at event {max_seq} but the head anchor records event {a_seq}",
                )
            )
        elif a_seq in digest_at and digest_at[a_seq] != a_digest:
            problems.append(
                ChainProblem(
                    seq=a_seq,
                    line=None,
                    kind="edited",
                    message=f"event {a_seq} does not match the head anchor",
                )
            )

    problems.sort(key=lambda p: (p.line is None, p.line or 0))
    last = events[-1] if events else None
    return ChainReport(
        ok=not problems,
        n_events=len(events),
        head_digest=last.digest if last else None,
        head_seq=last.seq if last else 0,
        problems=tuple(problems),
        first_bad_seq=min((p.seq for p in problems if p.seq is not None), default=None),
        first_bad_line=min((p.line for p in problems if p.line is not None), default=None),
        notes=tuple(notes),
    )
