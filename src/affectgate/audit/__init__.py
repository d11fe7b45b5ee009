"""Tamper-evident audit trail: pure hash chain (chain.py) and the file-backed log (store.py)."""

from affectgate.audit.chain import (
    GENESIS,
    AuditEvent,
    ChainProblem,
    ChainReport,
    canonical_json,
    make_event,
    verify_chain,
)
from affectgate.audit.store import AuditError, AuditLog

__all__ = [
    "GENESIS",
    "AuditError",
    "AuditEvent",
    "AuditLog",
    "ChainProblem",
    "ChainReport",
    "canonical_json",
    "make_event",
    "verify_chain",
]
