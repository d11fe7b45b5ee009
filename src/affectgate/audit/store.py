"""The file-backed audit log: JSONL appended under an exclusive lock, plus a head anchor file.

Files beside each other: ``audit.jsonl`` (one event per line, only ever appended to), ``audit.head``
(``{"seq", "digest", "hmac"}`` of the last event, replaced atomically) and ``audit.lock`` (the
``fcntl.flock`` that serialises writers in several processes, so the chain stays one sequence).

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from affectgate.audit.chain import AuditError, AuditEvent, ChainProblem, ChainReport, make_event, verify_chain

__all__ = ["AuditError", "AuditLog"]

#: Lock files this thread holds (re-entrancy of AuditLog.exclusive; flock is per open file, not per thread).
_HELD = threading.local()

_FIX_TAMPER = "run `affectgate audit verify`; never edit the audit log by hand"


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
    """

    def __init__(self, *, path: Path, hmac_key: str | None = None) -> None:
        self.path = Path(path)
        self.anchor_path = self.path.with_suffix(".head")
        self.lock_path = self.path.with_suffix(".lock")
        self._key = hmac_key.encode("utf-8") if hmac_key else None

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as fh:
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
                    f"{self.path} does not end with a newline (an interrupted or foreign write)",
                    fix=_FIX_TAMPER,
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
        anchor = {"seq": event.seq, "digest": event.digest, "hmac": self._sign(event.digest)}
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

        Raises :class:`AuditError` when the last line is not a valid event: a damaged log is never extended.
        """
        with self.exclusive():
            event = make_event(
                prev=self._last_event(),
                time=datetime.now(UTC),
                actor=actor,
                action=action,
                subject=subject,
                payload=payload,
            )
            line = event.model_dump_json().encode("utf-8") + b"\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._write_anchor(event)
        return event

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
        """Every event in file order; a malformed line raises :class:`AuditError` naming the file and line."""
        events, _, problems = self._read()
        if problems:
            raise AuditError(f"{self.path}: {problems[0].message}", fix=_FIX_TAMPER)
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

    def verify(self) -> ChainReport:
        """Verify the chain against the head anchor (and its HMAC given a key); reports, never raises."""
        events, lines, problems = self._read()
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
        return verify_chain(events=events, anchor=anchor, lines=lines, extra_problems=problems)
