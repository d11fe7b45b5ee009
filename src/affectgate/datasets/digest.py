"""Dataset digests in DVC's format, computed by DVC's own hashing (dvc-data) with its state cache and ``.dvcignore``.

:func:`dir_digest` is the value ``dvc add data/<set>`` writes into its ``.dvc`` file (the md5 of the
folder's sorted ``(relpath, md5)`` listing, suffixed ``.dir``), so a report's digest matches DVC history.
It is built by ``dvc_data.hashfile.build`` (dry run: nothing is copied) with a ``dvc_data`` ``State``
database in the workspace (``<workspace>/cache/dvc-state``): every file's md5 is remembered per
(inode, mtime, size), so the second gate on an unchanged set re-hashes nothing, and a changed file is
hashed again. Files that the DVC repository's ``.dvcignore`` excludes are left out, as ``dvc add`` does
(the ignore file sits at the repository root or in a folder above the set; DVC refuses one inside the
collected folder, and so does this). :func:`listing_digest` is the hashlib oracle the tests compare with.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from affectgate.core.errors import DataError

IGNORE_FILE = ".dvcignore"


def file_md5(path: Path) -> str:
    """md5 hex digest of a file's bytes."""
    h = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def listing_digest(*, root: Path) -> str:
    """The same digest by hand (hashlib, no state, no ignore file): every file under ``root``, symlinks not followed."""
    entries = [
        {"md5": file_md5(p), "relpath": p.relative_to(root).as_posix()}
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    ]
    entries.sort(key=lambda e: e["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing).hexdigest() + ".dir"


def _ignore_root(root: Path) -> Path:
    """The folder DVC reads ``.dvcignore`` files from: the DVC repository root above ``root`` (a ``.dvc`` folder),
    else the nearest folder above holding a ``.dvcignore``, else ``root``'s parent."""
    for folder in root.resolve().parents:
        if (folder / ".dvc").is_dir():
            return folder
    for folder in root.resolve().parents:
        if (folder / IGNORE_FILE).is_file():
            return folder
    return root.resolve().parent


def _state_dir() -> Path:
    from affectgate.project.settings import get_settings

    return get_settings().workspace_dir / "cache" / "dvc-state"


def dir_digest(*, root: Path, state_dir: Path | None = None) -> str:
    """DVC's directory digest ``<md5>.dir`` of ``root`` (dvc-data, its state cache, the repository's ``.dvcignore``).

    ``state_dir``: where dvc-data's state database lives (default ``<workspace>/cache/dvc-state``).
    """
    from dvc.fs import LocalFileSystem
    from dvc.ignore import DvcIgnoreFilter
    from dvc_data.hashfile.build import IgnoreInCollectedDirError, build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_data.hashfile.state import State

    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}", fix="check the --data path")
    state_dir = _state_dir() if state_dir is None else state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    fs = LocalFileSystem()
    ignore_root = _ignore_root(root)
    state = State(root_dir=str(ignore_root), tmp_dir=str(state_dir))
    odb = HashFileDB(fs, str(state_dir / "staging"), state=state)
    try:
        _, _, obj = build(
            odb, str(root.resolve()), fs, "md5", dry_run=True, ignore=DvcIgnoreFilter(fs, str(ignore_root))
        )
    except IgnoreInCollectedDirError:
        raise DataError(
            f"{root / IGNORE_FILE} is inside the dataset folder",
            fix="DVC reads .dvcignore from the repository root (or a folder above the set): move it there",
        ) from None
    finally:
        state.close()
    return str(obj.hash_info.value)


__all__ = ["dir_digest", "file_md5", "listing_digest"]
