"""The file-backed audit log: JSONL appended under an exclusive lock, plus a head anchor file.

Files beside each other: ``audit.jsonl`` (one event per line, only ever appended to), ``audit.head``
(``{"seq", "digest", "hmac", "key_id", "signature"}`` of the last event, replaced atomically),
``audit.lock`` (the ``fcntl.flock`` that serialises writers in several processes, so the chain stays one
sequence) and ``keys/`` (every Ed25519 public key the log was signed with, ``<key_id>.pub.pem``).

With a :class:`~affectgate.audit.signing.Signer` every event line and the head are signed (Ed25519), and
:meth:`AuditLog.verify` checks them against the trusted public keys: an event appended without the private
key fails. Without one (a bare ``AuditLog(path=...)``) events are hash-linked only, and every event after
the head anchor is a problem (nothing vouches for it). :meth:`AuditLog.events` refuses to answer from a
log that does not verify; :meth:`AuditLog.repair` quarantines a torn final line (a crash mid-append).

:meth:`AuditLog.exclusive` holds that lock around a read-check-append sequence (e.g. "is this review item
still open? then record the sign-off"), so two writers cannot both pass the check. It is re-entrant per
thread: :meth:`AuditLog.append` inside it does not lock again.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from affectgate.audit.chain import (
    AuditError,
    AuditEvent,
    ChainProblem,
    ChainReport,
    make_event,
    sha256_hex,
    verify_chain,
)
from affectgate.audit.faults import armed, die, hit
from affectgate.audit.signing import KeyRing, Signer, fingerprint, load_public_key_text, public_pem, workspace_ring

__all__ = ["AuditError", "AuditLog"]

#: Lock files this thread holds (re-entrancy of AuditLog.exclusive; flock is per open file, not per thread).
_HELD = threading.local()

_FIX_TAMPER = "run `affectgate audit verify`; never edit the audit log by hand"
_FIX_BROKEN = (
    "run `affectgate audit verify` to see every problem; a torn last line (a crash mid-append): "
    "`affectgate audit repair`; anything else is tampering: restore the log from a backup"
)
#: Action of the event that introduces a new signing key (signed by the old one).
KEY_ROTATED = "audit.key_rotated"
#: Action of the event recording a repair (a quarantined torn line, a re-signed head).
REPAIRED = "audit.repaired"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or "line"
    return f"{loc}: {err.get('msg', 'invalid')}"


def _raw_seq(raw: bytes) -> int | None:
    """The ``seq`` of a line that is JSON but not a valid event, if it has an integer one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1 else None


class AuditLog:
    """Append-only, SHA-256 hash-chained audit log at ``path`` (JSONL), anchored by ``<stem>.head``.

    With ``hmac_key`` the anchor also holds HMAC-SHA256(key, head digest), which :meth:`verify` checks.
    With ``signer`` every appended event and the anchor are Ed25519-signed; ``ring`` (default: the public
    keys in ``keys/``, plus the signer's) are the keys :meth:`verify` trusts. ``fault`` is the TEST-ONLY
    fault point (:mod:`affectgate.audit.faults`).
    """

    def __init__(
        self,
        *,
        path: Path,
        hmac_key: str | None = None,
        signer: Signer | None = None,
        ring: KeyRing | None = None,
        fault: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.anchor_path = self.path.with_suffix(".head")
        self.lock_path = self.path.with_suffix(".lock")
        self.keys_dir = self.path.parent / "keys"
        self._key = hmac_key.encode("utf-8") if hmac_key else None
        self.signer = signer
        self._ring = ring
        self._fault = fault

    @property
    def ring(self) -> KeyRing:
        """The public keys this log's verification trusts (given, else ``keys/`` and the signer's)."""
        if self._ring is None:
            ring = workspace_ring(self.keys_dir)
            if self.signer is not None:
                ring.add(self.signer.public)
            self._ring = ring
        return self._ring

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writers' lock (other processes and threads wait); re-entrant within one thread."""
        held: set[str] = getattr(_HELD, "paths", None) or set()
        _HELD.paths = held
        key = str(self.lock_path.resolve())
        if key in held:
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self.lock_path.open("a")
        except OSError as exc:
            raise AuditError(
                f"cannot lock the audit log {self.path}: {exc.strerror or exc}",
                fix="make the workspace writable (or free disk space) and run the command again; nothing was "
                "recorded and nothing was promoted",
            ) from None
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            held.add(key)
            try:
                yield
            finally:
                held.discard(key)
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _last_event(self) -> AuditEvent | None:
        """The event on the last line, read from the end of the file (the file may be long)."""
        if not self.path.is_file():
            return None
        with self.path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return None
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                raise AuditError(
                    f"{self.path} does not end with a newline (a torn last line: an interrupted or foreign write)",
                    fix=_FIX_BROKEN,
                )
            block = min(size, 1 << 16)
            while True:
                fh.seek(size - block)
                parts = fh.read(block)[:-1].split(b"\n")
                if len(parts) > 1 or block == size:
                    break
                block = min(size, block * 4)
        try:
            return AuditEvent.model_validate_json(parts[-1])
        except ValidationError as exc:
            raise AuditError(
                f"last line of {self.path} is not a valid audit event ({_first_error(exc)})", fix=_FIX_TAMPER
            ) from None

    def _sign(self, digest: str) -> str | None:
        if self._key is None:
            return None
        return hmac.new(self._key, digest.encode("utf-8"), hashlib.sha256).hexdigest()

    def _write_anchor(self, event: AuditEvent) -> None:
        anchor = {
            "seq": event.seq,
            "digest": event.digest,
            "hmac": self._sign(event.digest),
            "key_id": event.key_id,
            "signature": event.signature,
        }
        tmp = self.anchor_path.with_name(self.anchor_path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(anchor, sort_keys=True))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.anchor_path)
        dir_fd = os.open(self.anchor_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def append(self, *, actor: str, action: str, subject: str, payload: Mapping[str, Any]) -> AuditEvent:
        """Append one event after the current last line (exclusive lock, fsync) and move the head anchor.

        Raises :class:`AuditError` when the last line is not a valid event (a damaged log is never extended)
        or the log cannot be written (read-only workspace, full disk: no raw OSError).
        """
        try:
            return self._append(actor=actor, action=action, subject=subject, payload=payload)
        except OSError as exc:
            raise AuditError(
                f"cannot write the audit log {self.path}: {exc.strerror or exc}",
                fix="make the workspace writable (or free disk space) and run the command again; nothing was "
                "recorded and nothing was promoted",
            ) from None

    def _append(self, *, actor: str, action: str, subject: str, payload: Mapping[str, Any]) -> AuditEvent:
        with self.exclusive():
            event = make_event(
                prev=self._last_event(),
                time=datetime.now(UTC),
                actor=actor,
                action=action,
                subject=subject,
                payload=payload,
            )
            if self.signer is not None:
                event = event.model_copy(
                    update={
                        "key_id": self.signer.key_id,
                        "signature": self.signer.sign(seq=event.seq, digest=event.digest),
                    }
                )
            self._write_line(event.model_dump_json().encode("utf-8") + b"\n")
            hit(self._fault, "audit.anchor")
            self._write_anchor(event)
        return event

    def _write_line(self, line: bytes) -> None:
        """Append one line with O_APPEND and fsync; on a full disk the partial line is cut off again."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            if armed(self._fault, "audit.torn"):
                os.write(fd, line[: len(line) // 2])
                os.fsync(fd)
                die()
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as exc:
                # ENOSPC / EIO mid-line: take the partial line back so the log is not torn
                try:
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                except OSError:
                    pass
                raise AuditError(
                    f"cannot append to the audit log {self.path}: {exc.strerror or exc}",
                    fix="free disk space / make the workspace writable and run the command again; nothing was "
                    "recorded and nothing was promoted",
                ) from None
        finally:
            os.close(fd)

    # -- reading -------------------------------------------------------------------------------
    def _read(self) -> tuple[list[AuditEvent], list[int], list[ChainProblem]]:
        events: list[AuditEvent] = []
        lines: list[int] = []
        problems: list[ChainProblem] = []
        if not self.path.is_file():
            return events, lines, problems
        with self.path.open("rb") as fh:
            for n, raw in enumerate(fh, start=1):
                try:
                    events.append(AuditEvent.model_validate_json(raw))
                    lines.append(n)
                except ValidationError as exc:
                    seq = _raw_seq(raw)
                    if seq is None:
                        seq = events[-1].seq + 1 if events else 1
                    problems.append(
                        ChainProblem(
                            seq=seq,
                            line=n,
                            kind="malformed",
                            message=f"line {n} (event {seq}?) is not an audit event: {_first_error(exc)}",
                        )
                    )
        return events, lines, problems

    def events(self) -> list[AuditEvent]:
        """Every event in file order, only from a log that verifies; otherwise :class:`AuditError` naming the line.

        A reader never answers from a damaged or tampered log (a review queue, an alias history or a
        reconcile built on it could be forged).
        """
        report, events = self._verified()
        if not report.ok:
            raise AuditError(
                f"{self.path} does not verify, refusing to read it: {describe_first_problem(report)}",
                fix=_FIX_BROKEN,
            )
        return events

    def _anchor_data(self) -> dict[str, Any] | None:
        if not self.anchor_path.is_file():
            return None
        try:
            data = json.loads(self.anchor_path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if not isinstance(data.get("seq"), int) or not isinstance(data.get("digest"), str):
                raise ValueError('needs an integer "seq" and a string "digest"')
        except ValueError as exc:
            what = f"head anchor {self.anchor_path} is unreadable: {exc}"
            raise AuditError(what, fix=_FIX_TAMPER) from None
        return data

    def head(self) -> tuple[int, str] | None:
        """(seq, digest) recorded in the head anchor, or None before the first append."""
        data = self._anchor_data()
        return None if data is None else (int(data["seq"]), str(data["digest"]))

    def signed_head(self) -> dict[str, Any] | None:
        """The head anchor as plain data (seq, digest, key_id, signature, fingerprint), to anchor outside the log.

        The gate writes it on every decision's MLflow version tags and every export carries it, so a log cut
        back to an older (validly signed) head is caught by :meth:`verify` given those heads.
        """
        data = self._anchor_data()
        if data is None:
            return None
        out = {k: data.get(k) for k in ("seq", "digest", "key_id", "signature")}
        out["fingerprint"] = self.ring.fingerprint_of(data.get("key_id"))
        return out

    def verify(
        self, *, public_keys: KeyRing | None = None, external_heads: Sequence[tuple[int, str, str]] = ()
    ) -> ChainReport:
        """Verify the chain, its signatures and the head anchor; reports, never raises.

        ``public_keys``: the keys to trust (a regulator's copy; default: this log's :attr:`ring`). Keys that
        a trusted key introduced by an ``audit.key_rotated`` event are trusted from that event on.
        ``external_heads``: (seq, digest, where) heads recorded outside the log (MLflow tags, exports).
        """
        return self._verified(public_keys=public_keys, external_heads=external_heads)[0]

    def _verified(
        self, *, public_keys: KeyRing | None = None, external_heads: Sequence[tuple[int, str, str]] = ()
    ) -> tuple[ChainReport, list[AuditEvent]]:
        events, lines, problems = self._read()
        notes: list[str] = []
        anchor: tuple[int, str] | None = None
        try:
            data = self._anchor_data()
        except AuditError as exc:
            data = None
            problems.append(ChainProblem(seq=None, line=None, kind="malformed", message=exc.what))
        else:
            if data is None and (events or problems):
                problems.append(
                    ChainProblem(
                        seq=None,
                        line=None,
                        kind="truncated",
                        message=f"head anchor {self.anchor_path} is missing: truncation cannot be ruled out",
                    )
                )
        if data is not None:
            anchor = (int(data["seq"]), str(data["digest"]))
            expected = self._sign(anchor[1])
            if expected is not None and not hmac.compare_digest(str(data.get("hmac") or ""), expected):
                problems.append(
                    ChainProblem(
                        seq=anchor[0],
                        line=None,
                        kind="edited",
                        message="head anchor HMAC does not match (another key, or a rewritten anchor)",
                    )
                )
        ring = public_keys if public_keys is not None else self.ring
        signed_mode = bool(ring)
        if signed_mode:
            ring = _copy(ring)
            sig_problems, last_signed = _signature_problems(events=events, lines=lines, ring=ring)
            problems += sig_problems
            if data is not None and anchor is not None:
                why = ring.check(
                    key_id=data.get("key_id"), signature=data.get("signature"), seq=anchor[0], digest=anchor[1]
                )
                if why is None:
                    last_signed = max(last_signed, anchor[0])
                elif why != "not signed":
                    problems.append(
                        ChainProblem(
                            seq=anchor[0],
                            line=None,
                            kind="bad_signature",
                            message=f"head anchor (event {anchor[0]}): {why}",
                        )
                    )
            for ev, line in zip(events, lines, strict=True):
                if ev.seq > last_signed and not ev.signature:
                    head_text = f"event {last_signed}" if last_signed else "none: the log was never signed"
                    problems.append(
                        ChainProblem(
                            seq=ev.seq,
                            line=line,
                            kind="after_head",
                            message=f"line {line}: event {ev.seq} is not signed and comes after the last signed head "
                            f"({head_text}): appended without the signing key",
                        )
                    )
            notes.append(f"Ed25519 signatures checked against key(s) {', '.join(ring.fingerprints())}")
            if anchor is not None and events and events[-1].seq > anchor[0] and events[-1].seq <= last_signed:
                notes.append(
                    f"events {anchor[0] + 1}-{events[-1].seq} are signed but the head anchor lags (a crash between "
                    "the line and the head); the next append re-signs the head"
                )
        else:
            notes.append("no public key known: events are hash-linked only; every event after the head is a problem")
        trusted_heads = []
        for seq, digest, where, *sig in external_heads:
            if signed_mode and sig:
                key_id, signature = (sig + [None, None])[:2]
                if ring.check(key_id=key_id, signature=signature, seq=seq, digest=digest) is not None:
                    notes.append(f"ignored the head in {where}: its signature does not verify with a trusted key")
                    continue
            trusted_heads.append((seq, digest, where))
        if external_heads:
            notes.append(f"checked {len(trusted_heads)} head(s) recorded outside the log")
        report = verify_chain(
            events=events,
            anchor=anchor,
            lines=lines,
            extra_problems=problems,
            strict_head=not signed_mode,
            external_heads=trusted_heads,
            notes=notes,
        )
        return report, events

    # -- recovery ------------------------------------------------------------------------------
    def repair(self, *, actor: str) -> AuditEvent | None:
        """Quarantine a torn final line into a side file and record the repair as an event; None: nothing to do.

        Only a crash's damage is repaired: an unfinished last line (no newline, or not an event) is moved to
        ``<stem>.torn-<UTC time>.jsonl`` beside the log (byte for byte, with its sha256 in the repair event),
        and a head anchor left behind by a crash between a line and its head is re-signed. Anything else
        (an edit, a deletion, a bad signature) is tampering: :class:`AuditError`, nothing changes.
        """
        with self.exclusive():
            raw = self.path.read_bytes() if self.path.is_file() else b""
            cut = len(raw)
            torn = b""
            if raw and not raw.endswith(b"\n"):
                cut = raw.rfind(b"\n") + 1
                torn = raw[cut:]
            elif raw:
                last_start = raw.rfind(b"\n", 0, len(raw) - 1) + 1
                try:
                    AuditEvent.model_validate_json(raw[last_start:])
                except ValidationError:
                    cut, torn = last_start, raw[last_start:]
            line_no = raw[:cut].count(b"\n") + 1
            side = None
            if torn:
                side = self.path.with_name(f"{self.path.stem}.torn-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.jsonl")
                with side.open("xb") as fh:
                    fh.write(torn)
                    fh.flush()
                    os.fsync(fh.fileno())
                fd = os.open(self.path, os.O_WRONLY)
                try:
                    os.ftruncate(fd, cut)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            report, events = self._verified()
            reanchored = None
            lagging = [p for p in report.problems if p.kind == "after_head"]
            head = self.head()
            if events and head is not None and events[-1].seq > head[0]:
                others = [p for p in report.problems if p.kind != "after_head"]
                if not others:
                    reanchored = head[0]
                    self._write_anchor(events[-1])
                    report, events = self._verified()
                    lagging = []
            if not report.ok:
                raise AuditError(
                    f"{self.path} has damage that is not a crash's torn line ({describe_first_problem(report)}); "
                    + (f"the torn line was quarantined to {side.name}; " if side else "")
                    + "refusing to repair",
                    fix="this is tampering or a lost file: restore the audit log and its head from a backup",
                )
            del lagging
            if side is None and reanchored is None:
                return None
            return self.append(
                actor=actor,
                action=REPAIRED,
                subject=f"audit:{self.path.name}",
                payload={
                    "quarantined_file": side.name if side else None,
                    "quarantined_bytes": len(torn),
                    "quarantined_sha256": sha256_hex(torn) if torn else None,
                    "line": line_no if torn else None,
                    "reanchored_from_seq": reanchored,
                    "head_seq_after_cut": events[-1].seq if events else 0,
                },
            )

    def rotate_key(self, *, actor: str, new: Signer, reason: str) -> AuditEvent:
        """Record a key rotation (signed by the current key, naming the new public key); later events use ``new``."""
        if self.signer is None:
            raise AuditError("this audit log has no signing key to rotate", fix="configure audit signing first")
        with self.exclusive():
            event = self.append(
                actor=actor,
                action=KEY_ROTATED,
                subject=f"audit:{self.path.name}",
                payload={
                    "old_key_id": self.signer.key_id,
                    "old_fingerprint": fingerprint(self.signer.public),
                    "new_key_id": new.key_id,
                    "new_fingerprint": fingerprint(new.public),
                    "new_public_key": public_pem(new.public),
                    "reason": reason,
                },
            )
            self.signer = new
            if self._ring is not None:
                self._ring.add(new.public)
        return event


def _copy(ring: KeyRing) -> KeyRing:
    out = KeyRing()
    for kid in ring.ids():
        out._keys[kid] = ring._keys[kid]  # noqa: SLF001 - same class
    return out


def _signature_problems(
    *, events: Sequence[AuditEvent], lines: Sequence[int], ring: KeyRing
) -> tuple[list[ChainProblem], int]:
    """A problem per event whose signature does not verify, and the seq of the last validly signed event.

    An unsigned event is no problem by itself when a later signed head covers it (the head's digest commits
    to every earlier event); the caller flags unsigned events after the last signed head. ``ring`` grows at
    each verified key rotation.
    """
    out = []
    last = 0
    for ev, line in zip(events, lines, strict=True):
        if not ev.signature and not ev.key_id:
            continue
        why = ring.check(key_id=ev.key_id, signature=ev.signature, seq=ev.seq, digest=ev.digest)
        if why is not None:
            message = f"line {line}: event {ev.seq}: {why}"
            out.append(ChainProblem(seq=ev.seq, line=line, kind="bad_signature", message=message))
            continue
        last = max(last, ev.seq)
        if ev.action == KEY_ROTATED and isinstance(ev.payload.get("new_public_key"), str):
            with suppress(AuditError):
                ring.add(load_public_key_text(str(ev.payload["new_public_key"]), where=f"event {ev.seq}"))
    return out, last


def describe_first_problem(report: ChainReport) -> str:
    """The first problem of a report in one line (the line and event it names)."""
    if not report.problems:
        return "no problem"
    first = min(report.problems, key=lambda p: (p.line is None, p.line or 0))
    return f"{first.kind}: {first.message}"
