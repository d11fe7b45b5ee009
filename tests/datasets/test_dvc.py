"""The project's DVC setup works out of the box: add, push to the local remote, lose the data, pull it back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from affectgate.datasets.digest import dir_digest
from affectgate.datasets.versions import (
    cached_listing,
    dvc_remotes,
    listing_digest,
    read_dvc_file,
    run_data_versions,
)

ROOT = Path(__file__).resolve().parents[2]
DVC = ROOT / ".venv" / "bin" / "dvc"

pytestmark = pytest.mark.skipif(not DVC.is_file() or shutil.which("git") is None, reason="dvc or git not installed")


def _run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, f"{' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def test_add_push_pull_through_the_project_remote(tmp_path: Path) -> None:
    """With the project's .dvc/config, `dvc add/push/pull` round-trips data/ and DVC's md5 equals our dir_digest."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _run("git", "init", "-q", cwd=repo)
    _run(str(DVC), "init", "-q", cwd=repo)
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")  # remote 'local' at ../.affectgate/dvc-remote
    remotes = dvc_remotes(project_root=repo)
    assert [(r.name, r.default) for r in remotes] == [("local", True)]
    remote_dir = Path(remotes[0].resolved)
    assert remote_dir == repo / ".affectgate" / "dvc-remote"
    files = {
        "tiny/EmoLabel_DataSplit/test(single-labeled)/set_1.csv": b"video_name,label\n00001,3\n",
        "tiny/Clip/clip_224x224/00001/00001_1.jpg": bytes(range(256)) * 4,
        "tiny/metadata.csv": b"video_name,subject_id\n00001,s01\n",
        "other/readme.txt": b"a second dataset\n",
    }
    for rel, content in files.items():
        (repo / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "data" / rel).write_bytes(content)
    ours = dir_digest(root=repo / "data")

    _run(str(DVC), "add", "-q", "data", cwd=repo)
    pointer = read_dvc_file(path=repo / "data.dvc")
    assert pointer is not None and pointer.path == "data" and pointer.nfiles == len(files)
    assert pointer.md5 == ours  # DVC's own digest of data/ is the digest reports carry

    _run(str(DVC), "push", "-q", cwd=repo)
    assert any(p.is_file() for p in remote_dir.rglob("*"))

    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    _run(str(DVC), "pull", "-q", cwd=repo)
    assert dir_digest(root=repo / "data") == pointer.md5
    assert {rel: (repo / "data" / rel).read_bytes() for rel in files} == files

    # a report of the sub-dataset data/tiny is recognised in data.dvc through the cached .dir listing
    listing = cached_listing(project_root=repo, md5=pointer.md5)
    assert listing is not None and len(listing) == len(files)
    tiny = dir_digest(root=repo / "data" / "tiny")
    assert listing_digest(listing=listing, prefix="tiny") == tiny
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    report = {
        "run_id": "r1",
        "candidate": "c",
        "dataset": {"name": "tiny", "root": str(repo / "data/tiny"), "digest": tiny},
    }
    (run / "report.json").write_text(json.dumps(report))
    (row,) = run_data_versions(runs_dir=tmp_path / "runs", project_root=repo)
    assert row.in_dvc is True and row.matches_current is True

    # after a change to the data, the old report no longer matches the folder, but DVC still holds its version
    (repo / "data" / "tiny" / "metadata.csv").write_bytes(b"video_name,subject_id\n00001,s02\n")
    (row,) = run_data_versions(runs_dir=tmp_path / "runs", project_root=repo)
    assert row.in_dvc is True and row.matches_current is False
