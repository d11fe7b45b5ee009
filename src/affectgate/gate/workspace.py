"""The workspace services every gate step shares: the audit log, the MLflow registry client, the data-root guard, error auditing."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from affectgate.audit import AuditLog
from affectgate.core.errors import DataError
from affectgate.datasets.paths import is_outside
from affectgate.project.settings import Settings
from affectgate.registry import MlflowRegistry

_log = logging.getLogger(__name__)


def audit_log(settings: Settings) -> AuditLog:
    """The workspace's audit log."""
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    return AuditLog(path=settings.audit_path, hmac_key=settings.audit_hmac_key)


@lru_cache(maxsize=8)
def registry(settings: Settings) -> MlflowRegistry:
    """The workspace's MLflow registry (one client per settings; opening a store checks its schema)."""
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    return MlflowRegistry(tracking_uri=settings.tracking_uri, artifact_root=settings.artifact_root)


def inside(*, path: Path, root: Path) -> Path:
    """``path`` resolved, refusing anything outside ``root`` (path traversal, symlinks out)."""
    if is_outside(path=path, root=root):
        raise DataError(
            f"dataset path {path} is outside the data root {root.resolve()}",
            fix="put the dataset under the data root or set AFFECTGATE_DATA_ROOT",
        )
    return path.resolve()


def record_error(*, settings: Settings, error: BaseException, subject: str) -> None:
    """Audit a gate error (best effort: an unwritable audit log must not hide the original error)."""
    try:
        audit_log(settings).append(
            actor=settings.actor,
            action="gate.error",
            subject=subject,
            payload={"error": str(error), "type": type(error).__name__, "promoted": False},
        )
    except Exception as exc:  # pragma: no cover - the original error is what the user needs to see
        _log.warning("could not audit the gate error on %s: %s", subject, exc)
