"""The file-backed audit log: JSONL appended under an exclusive lock, plus a head anchor file.

Concurrent writers (several gate processes) serialise on ``fcntl.flock`` of a sibling lock file,
so the chain stays one valid sequence. The JSONL file is only ever appended to.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from affectgate.audit.chain import AuditEvent, ChainProblem, ChainReport, make_event, verify_chain
from affectgate.errors import AffectgateError


class AuditError(AffectgateError):
    """The audit log cannot be read or written."""


class AuditLog:
    """Append-only, SHA-256 hash-chained audit log at ``path`` (JSONL), anchored by ``path.head``."""

    def __init__(self, *, path: Path, hmac_key: str | None = None) -> None:
        self.path = path
        self.anchor_path = path.with_suffix(".head")
        self.lock_path = path.with_suffix(".lock")
        self._key = hmac_key.encode() if hmac_key else None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _last_event(self) -> AuditEvent | None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return None
        with self.path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            block = min(size, 1 << 16)
            while True:
                fh.seek(size - block)
                tail = fh.read(block)
                lines = tail.rstrip(b"\n").split(b"\n")
                if len(lines) > 1 or block == size:
                    break
                block = min(size, block * 4)
        try:
            return AuditEvent.model_validate_json(lines[-1])
        except ValidationError as exc:
            raise AuditError(
                f"last line of {self.path} is not a valid audit event: {str(exc).splitlines()[0]}",
                fix="run `affectgate audit verify`; never edit the audit log by hand",
            ) from None

    def _sign(self, digest: str) -> str | None:
        return hmac.new(self._key, digest.encode(), hashlib.sha256).hexdigest() if self._key else None

    def append(self, *, actor: str, action: str, subject: str, payload: Mapping[str, Any]) -> AuditEvent:
        """Append one event (locked, fsynced) and move the head anchor."""
        with self._locked():
            event = make_event(
                prev=self._last_event(), time=datetime.now(UTC), actor=actor, action=action, subject=subject,
                payload=payload,
            )
            with self.path.open("ab") as fh:
                fh.write(event.model_dump_json().encode() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            anchor = {"seq": event.seq, "digest": event.digest, "hmac": self._sign(event.digest)}
            tmp = self.anchor_path.with_suffix(".head.tmp")
            tmp.write_text(json.dumps(anchor), encoding="utf-8")
            os.replace(tmp, self.anchor_path)
        return event

    def _read(self) -> tuple[list[AuditEvent], list[int], list[ChainProblem]]:
        events: list[AuditEvent] = []
        lines: list[int] = []
        problems: list[ChainProblem] = []
        if not self.path.is_file():
            return events, lines, problems
        with self.path.open("rb") as fh:
            for n, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    events.append(AuditEvent.model_validate_json(raw))
                    lines.append(n)
                except ValidationError as exc:
                    problems.append(ChainProblem(seq=None, line=n, kind="malformed",
                                                 message=f"line {n}: {str(exc).splitlines()[0]}"))
        return events, lines, problems

    def events(self) -> list[AuditEvent]:
        """Every event in file order; a malformed line raises AuditError naming the file and line."""
        events, _, problems = self._read()
        if problems:
            raise AuditError(f"{self.path}: {problems[0].message}", fix="run `affectgate audit verify`")
        return events

    def head(self) -> tuple[int, str] | None:
        """(seq, digest) of the head anchor, or None for an empty log."""
        if not self.anchor_path.is_file():
            return None
        data = json.loads(self.anchor_path.read_text(encoding="utf-8"))
        return int(data["seq"]), str(data["digest"])

    def verify(self) -> ChainReport:
        """Verify the chain against the anchor; tampering is reported, never raised."""
        events, lines, problems = self._read()
        anchor = self.head()
        if anchor is not None and self._key is not None:
            data = json.loads(self.anchor_path.read_text(encoding="utf-8"))
            if not data.get("hmac") or not hmac.compare_digest(str(data["hmac"]), self._sign(anchor[1]) or ""):
                problems.append(ChainProblem(seq=anchor[0], line=None, kind="edited",
                                             message="head anchor HMAC does not match (wrong key or edited anchor)"))
        return verify_chain(events=events, anchor=anchor, lines=lines, extra_problems=problems)
