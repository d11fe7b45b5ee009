"""Tamper-evident audit trail: the pure hash chain (chain.py) and the file-backed log (store.py)."""

from affectgate.audit.chain import (
    GENESIS,
    AuditError,
    AuditEvent,
    ChainProblem,
    ChainReport,
    canonical_json,
    event_digest,
    make_event,
    payload_digest_of,
    verify_chain,
)
from affectgate.audit.store import AuditLog

__all__ = [
    "GENESIS",
    "AuditError",
    "AuditEvent",
    "AuditLog",
    "ChainProblem",
    "ChainReport",
    "canonical_json",
    "event_digest",
    "make_event",
    "payload_digest_of",
    "verify_chain",
]
