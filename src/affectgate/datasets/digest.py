"""Dataset digests in DVC's format: the md5 of a folder's sorted (relpath, md5) listing, suffixed '.dir'.

The same value ``dvc add data/<set>`` writes into its ``.dvc`` file, so a report's digest can be
matched against DVC history without DVC in the loop.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def file_md5(path: Path) -> str:
    """md5 hex digest of a file's bytes."""
    h = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dir_digest(*, root: Path) -> str:
    """DVC-style directory digest ``<md5>.dir`` of every file under ``root`` (symlinks not followed)."""
    entries = [
        {"md5": file_md5(p), "relpath": p.relative_to(root).as_posix()}
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    ]
    entries.sort(key=lambda e: e["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing).hexdigest() + ".dir"
