"""The dataset digest is DVC's (dvc-data): equal to the md5 listing, cached per file state, honouring .dvcignore."""

from __future__ import annotations

import os
from pathlib import Path

import dvc_data.hashfile.build as dvc_build
import pytest

from affectgate.core.errors import DataError
from affectgate.datasets.digest import dir_digest, listing_digest


def _set(root: Path, n: int = 12) -> Path:
    for i in range(n):
        path = root / f"{i % 3:05d}" / f"{i % 3:05d}_{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(64) + bytes([i]))
    return root


def _count_hashing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hashed: list[str] = []
    real = dvc_build.hash_file

    def counting(path, *args, **kwargs):  # noqa: ANN001, ANN202 - dvc-data's signature
        hashed.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(dvc_build, "hash_file", counting)
    return hashed


def test_digest_equals_the_listing_and_a_second_run_hashes_nothing(tmp_path: Path, monkeypatch) -> None:
    """DVC's digest equals the hand-made md5 listing; an unchanged set is not hashed again; a changed file is."""
    root = _set(tmp_path / "repo" / "data" / "set")
    state = tmp_path / "state"
    hashed = _count_hashing(monkeypatch)
    first = dir_digest(root=root, state_dir=state)
    assert first == listing_digest(root=root) and first.endswith(".dir")
    assert len(hashed) == 12
    hashed.clear()
    assert dir_digest(root=root, state_dir=state) == first
    assert hashed == []  # the state cache answered for every file
    (root / "00001" / "00001_1.jpg").write_bytes(b"changed")
    changed = dir_digest(root=root, state_dir=state)
    assert changed != first and changed == listing_digest(root=root) and len(hashed) == 1


def test_dvcignore_at_the_repository_root_is_honoured(tmp_path: Path) -> None:
    """Files the repository's .dvcignore excludes are not part of the digest; one inside the set is refused."""
    repo = tmp_path / "repo"
    root = _set(repo / "data" / "set")
    (repo / ".dvc").mkdir()
    full = dir_digest(root=root, state_dir=tmp_path / "state")
    (root / "00000" / "notes.tmp").write_text("scratch")
    (repo / ".dvcignore").write_text("*.tmp\n")
    assert dir_digest(root=root, state_dir=tmp_path / "state") == full
    (root / ".dvcignore").write_text("*.jpg\n")
    with pytest.raises(DataError) as info:
        dir_digest(root=root, state_dir=tmp_path / "state")
    assert "repository root" in info.value.fix
