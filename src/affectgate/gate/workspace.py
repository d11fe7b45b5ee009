"""The workspace services every gate step shares: the audit log, the MLflow registry client, the data-root guard,
error auditing.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from affectgate.audit import AuditLog, faults
from affectgate.audit.signing import load_or_create_signer
from affectgate.core.errors import DataError, RegistryError
from affectgate.datasets.paths import is_outside
from affectgate.project.settings import Settings
from affectgate.registry import MlflowRegistry

_log = logging.getLogger(__name__)


def audit_log(settings: Settings, *, create_key: bool = True) -> AuditLog:
    """The workspace's audit log, Ed25519-signed with the workspace key unless ``audit_signing`` is off.

    ``create_key``: make the key on first use (writers); readers pass False and verify with the public
    keys in ``audit/keys/``. An unwritable workspace is no error here: appending then fails with an
    AuditError naming the cause (never a raw OSError).
    """
    keys_dir = settings.audit_path.parent / "keys"
    signer = None
    try:
        settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
        if settings.audit_signing:
            signer = load_or_create_signer(path=settings.audit_signing_key_path, keys_dir=keys_dir, create=create_key)
    except OSError as exc:
        _log.warning("audit signing key not available (%s): this process cannot sign", exc)
    return AuditLog(
        path=settings.audit_path, hmac_key=settings.audit_hmac_key, signer=signer, fault=settings.fault_point
    )


@contextmanager
def workspace_lock(settings: Settings, name: str) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``<workspace>/<name>.lock`` (released by the kernel when a process dies)."""
    path = settings.workspace_dir / f"{name}.lock"
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _local_db(settings: Settings) -> Path | None:
    """The workspace's SQLite file when the tracking store is the default one (None: a server or another URI)."""
    return None if settings.mlflow_tracking_uri else settings.workspace_dir / "mlflow.db"


@lru_cache(maxsize=8)
def registry(settings: Settings) -> MlflowRegistry:
    """The workspace's MLflow registry (one client per settings; opening a store checks its schema).

    The default SQLite store is created crash-safely: MLflow's first-use schema migration runs on a
    temporary file under a workspace lock (two first gates at once wait for each other) and the finished
    database is renamed into place, so a kill during it leaves no half-migrated ``mlflow.db``.
    """
    try:
        settings.workspace_dir.mkdir(parents=True, exist_ok=True)
        db = _local_db(settings)
        if db is None:
            return MlflowRegistry(tracking_uri=settings.tracking_uri, artifact_root=settings.artifact_root)
        if not db.is_file():  # only the first use needs the lock: a finished store is renamed into place whole
            with workspace_lock(settings, "mlflow"):
                if not db.is_file():
                    _create_store(settings=settings, db=db)
        return MlflowRegistry(
            tracking_uri=settings.tracking_uri,
            artifact_root=settings.artifact_root,
            lock_path=settings.workspace_dir / "registration.lock",
            fault=settings.fault_point,
        )
    except OSError as exc:
        raise RegistryError(
            f"MLflow tracking store {settings.tracking_uri} is unavailable: the workspace is not writable "
            f"({exc.strerror or exc})",
            fix="make the workspace writable (or set AFFECTGATE_WORKSPACE to a writable folder); nothing was promoted",
        ) from None


def _create_store(*, settings: Settings, db: Path) -> None:
    """MLflow's schema (and the experiment) made in ``mlflow.db.init`` and renamed to ``db`` when complete."""
    tmp = db.with_name(db.name + ".init")
    for stale in (tmp, tmp.with_name(tmp.name + "-journal")):
        stale.unlink(missing_ok=True)  # a kill during an earlier first use: start over
    faults.hit(settings.fault_point, "mlflow.init")
    MlflowRegistry(tracking_uri=f"sqlite:///{tmp}", artifact_root=settings.artifact_root)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, db)


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


def record_special_category_access(
    *, settings: Settings, user: str, role: str, what: str, subject: str, detail: dict[str, object] | None = None
) -> None:
    """Audit one access to special-category data (GDPR Art. 9: face frames, an export containing them).

    ``what`` names the data (e.g. ``face_frames``), ``subject`` what it belongs to (a run id, a sample id);
    the event (``special_category.accessed``) carries the user and role. Raises AuditError when it cannot be
    recorded: a caller shows the data only after this returns (no access without its record).
    """
    audit_log(settings).append(
        actor=user,
        action="special_category.accessed",
        subject=subject,
        payload={"what": what, "role": role, **(detail or {})},
    )
