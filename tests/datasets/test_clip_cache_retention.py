"""The clip cache (decoded clips, face crops: biometric data) has a retention period, a size bound, an audited purge."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.datasets.cache_retention import CacheEntry, enforce_clip_cache, plan_purge
from affectgate.gate.workspace import audit_log
from conftest import own_workspace

DAY = 86400.0


def _entry(name: str, size: int, age_days: float, now: float) -> CacheEntry:
    return CacheEntry(path=Path(name), size=size, mtime=now - age_days * DAY)


def test_plan_purges_past_retention_then_oldest_past_the_bound() -> None:
    """Entries past retention go first; then the oldest of the rest until what is left fits the bound."""
    now = 1e9
    entries = [_entry("a", 10, 40, now), _entry("b", 10, 5, now), _entry("c", 10, 2, now), _entry("d", 10, 1, now)]
    aged, over, keep = plan_purge(entries=entries, now=now, older_than_s=30 * DAY, max_bytes=20)
    assert [e.path.name for e in aged] == ["a"]
    assert [e.path.name for e in over] == ["b"]
    assert [e.path.name for e in keep] == ["c", "d"]
    aged, over, keep = plan_purge(entries=entries, now=now, older_than_s=None, max_bytes=None)
    assert not aged and not over and len(keep) == 4


def _fill(cache: Path, ages_days: list[float]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for i, age in enumerate(ages_days):
        path = cache / f"clip-{i}.npy"
        np.save(path, np.zeros((2, 4, 4, 3), np.uint8))
        os.utime(path, (now - age * DAY, now - age * DAY))
    (cache / "content-state.sqlite").write_bytes(b"digests only")  # bookkeeping stays


def test_cache_purge_older_than_deletes_and_audits(tmp_path: Path, monkeypatch) -> None:
    """`affectgate cache purge --older-than 7` removes only older crops, keeps the state file, audits once."""
    with own_workspace(tmp_path, monkeypatch) as settings:
        cache = settings.workspace_dir / "cache" / "clips"
        _fill(cache, [10, 8, 1])
        res = CliRunner().invoke(app, ["cache", "purge", "--older-than", "7"])
        assert res.exit_code == 0, res.output
        assert "purged 2 cached clips/face crops" in res.output
        assert sorted(p.name for p in cache.iterdir()) == ["clip-2.npy", "content-state.sqlite"]
        events = [e for e in audit_log(settings).events() if e.action == "cache.purged"]
        assert len(events) == 1 and events[0].payload["removed_files"] == 2
        assert "requested" in events[0].payload["reason"] and "retention" in events[0].payload["reason"]
        res = CliRunner().invoke(app, ["cache", "purge"])
        assert res.exit_code == 0 and not list(cache.glob("*.npy"))
        assert len([e for e in audit_log(settings).events() if e.action == "cache.purged"]) == 2


def test_the_gate_enforces_retention_and_bound_from_settings(tmp_path: Path, monkeypatch) -> None:
    """The settings' retention and bound are applied on their own schedule; nothing due writes no event."""
    monkeypatch.setenv("AFFECTGATE_CLIP_CACHE_RETENTION_DAYS", "30")
    with own_workspace(tmp_path, monkeypatch) as settings:
        cache = settings.workspace_dir / "cache" / "clips"
        _fill(cache, [45, 3, 2])
        log = audit_log(settings)
        first = enforce_clip_cache(settings=settings, log=log)
        assert first is not None and first.removed_files == 1 and first.reason == "retention"
        again = enforce_clip_cache(settings=settings, log=log)
        assert again is not None and again.removed_files == 0
        assert len([e for e in log.events() if e.action == "cache.purged"]) == 1
        bounded = settings.model_copy(update={"clip_cache_max_bytes": 1})
        last = enforce_clip_cache(settings=bounded, log=log)
        assert last is not None and last.removed_files == 2 and last.reason == "size bound"
