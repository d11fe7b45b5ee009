"""Retention and size bound of the clip cache: decoded clips and face crops are biometric data (GDPR Art. 9).

The cache (``<workspace>/cache/clips``) holds ``.npy`` arrays of decoded clips and of detected, aligned
face crops. They identify people as much as the source media do, so they are kept no longer than the
retention period (``AFFECTGATE_CLIP_CACHE_RETENTION_DAYS``) and the cache never grows past its bound
(``AFFECTGATE_CLIP_CACHE_MAX_BYTES``): :func:`plan_purge` picks what goes (pure), :func:`purge_cache`
deletes it and appends one ``cache.purged`` audit event per purge (counts, bytes, reason; no file names,
which derive from media content). The content-state database beside the arrays holds digests only and
stays. An entry's age is its modification time (when it was last written).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import Field

from affectgate.core.records import Record
from affectgate.project.settings import Settings

#: Cached arrays (decoded clips, face crops); everything else in the folder is bookkeeping.
CACHED_SUFFIXES = (".npy",)


class CacheEntry(Record):
    """One cached array."""

    path: Path = Field(description="The .npy file.")
    size: int = Field(ge=0, description="Bytes on disk.")
    mtime: float = Field(description="Last written, seconds since the epoch.")


class PurgeResult(Record):
    """What one purge removed and kept."""

    cache_dir: str = Field(description="The clip cache folder purged.")
    removed_files: int = Field(ge=0, description="Cached arrays deleted.")
    removed_bytes: int = Field(ge=0, description="Bytes freed.")
    kept_files: int = Field(ge=0, description="Cached arrays left.")
    kept_bytes: int = Field(ge=0, description="Bytes left.")
    older_than_days: float | None = Field(description="Age limit applied (None: none).")
    max_bytes: int | None = Field(description="Size bound applied (None: none).")
    reason: str = Field(description="Why: 'retention', 'size bound', 'requested' or a combination.")


class _Log(Protocol):
    def append(self, *, actor: str, action: str, subject: str, payload: dict) -> object: ...


def scan_cache(*, cache_dir: Path) -> list[CacheEntry]:
    """Every cached array under ``cache_dir`` (recursively), oldest first; empty when there is no cache."""
    if not cache_dir.is_dir():
        return []
    out = []
    for path in cache_dir.rglob("*"):
        if path.suffix in CACHED_SUFFIXES and path.is_file():
            st = path.stat()
            out.append(CacheEntry(path=path, size=st.st_size, mtime=st.st_mtime))
    return sorted(out, key=lambda e: (e.mtime, str(e.path)))


def plan_purge(
    *, entries: Sequence[CacheEntry], now: float, older_than_s: float | None, max_bytes: int | None
) -> tuple[list[CacheEntry], list[CacheEntry], list[CacheEntry]]:
    """(past retention, past the size bound, kept): entries older than ``older_than_s``; then, of the rest,
    the oldest until what is left fits ``max_bytes``."""
    ordered = sorted(entries, key=lambda e: (e.mtime, str(e.path)))
    aged = [e for e in ordered if older_than_s is not None and now - e.mtime >= older_than_s]
    keep = ordered[len(aged) :] if older_than_s is not None else ordered
    over: list[CacheEntry] = []
    if max_bytes is not None:
        total = sum(e.size for e in keep)
        while keep and total > max_bytes:
            oldest, keep = keep[0], keep[1:]
            over.append(oldest)
            total -= oldest.size
    return aged, over, keep


def purge_cache(
    *,
    cache_dir: Path,
    older_than_days: float | None,
    max_bytes: int | None,
    log: _Log,
    actor: str,
    requested: bool,
    now: float | None = None,
) -> PurgeResult:
    """Delete what :func:`plan_purge` picks and audit it (``cache.purged``); a purge that removes nothing on
    its own schedule (``requested`` False) writes no event. ``older_than_days=0`` with ``requested`` purges all."""
    now = time.time() if now is None else now
    older_s = None if older_than_days is None else older_than_days * 86400.0
    aged, over, keep = plan_purge(
        entries=scan_cache(cache_dir=cache_dir), now=now, older_than_s=older_s, max_bytes=max_bytes
    )
    remove = [*aged, *over]
    freed = 0
    for e in remove:
        try:
            e.path.unlink()
            freed += e.size
        except FileNotFoundError:  # another process purged it first
            continue
    reasons = [
        *(["requested"] if requested else []),
        *(["retention"] if aged else []),
        *(["size bound"] if over else []),
    ]
    result = PurgeResult(
        cache_dir=str(cache_dir),
        removed_files=len(remove),
        removed_bytes=freed,
        kept_files=len(keep),
        kept_bytes=sum(e.size for e in keep),
        older_than_days=older_than_days,
        max_bytes=max_bytes,
        reason=", ".join(dict.fromkeys(reasons)) or "nothing due",
    )
    if requested or remove:
        log.append(
            actor=actor,
            action="cache.purged",
            subject=f"clip_cache:{cache_dir}",
            payload=result.model_dump(mode="json"),
        )
    return result


def enforce_clip_cache(*, settings: Settings, log: _Log) -> PurgeResult | None:
    """The settings' retention period and size bound on the workspace's clip cache (each gate runs this before
    filling the cache); audited only when something was removed. None when the cache is off."""
    cache_dir = settings.clip_cache_dir
    if cache_dir is None:
        return None
    return purge_cache(
        cache_dir=cache_dir,
        older_than_days=settings.clip_cache_retention_days or None,
        max_bytes=settings.clip_cache_max_bytes or None,
        log=log,
        actor=settings.actor,
        requested=False,
    )


__all__ = ["CacheEntry", "PurgeResult", "enforce_clip_cache", "plan_purge", "purge_cache", "scan_cache"]
