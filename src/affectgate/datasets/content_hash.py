"""Content digests of media files for the decoded-clip cache, remembered per file state (unchanged files not re-read).

The clip cache is keyed by what the files *contain* (BLAKE2b of the bytes, hashlib), never by names,
sizes and mtimes alone: frames replaced by others of the same size and mtime change the key. Hashing
every frame on every run would cost a full read, so each digest is remembered in a small SQLite state
file (like DVC's state database) keyed by the file's path, size, mtime_ns, inode and ctime_ns; a file
written in place or touched back to its old mtime changes its ctime (which no user can set), so its
digest is computed again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

STATE_FILE = "content-state.sqlite"
_CHUNK = 1 << 20
_lock = threading.Lock()
_conns: dict[str, sqlite3.Connection] = {}


def blake2_file(path: Path) -> str:
    """BLAKE2b-128 hex digest of the file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _conn(state_dir: Path) -> sqlite3.Connection:
    key = str(state_dir)
    conn = _conns.get(key)
    if conn is None:
        state_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(state_dir / STATE_FILE, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS state (file TEXT PRIMARY KEY, stat TEXT NOT NULL, digest TEXT)")
        _conns[key] = conn
    return conn


def file_digest(path: Path, *, state_dir: Path | None) -> str:
    """The content digest of ``path``, remembered in ``state_dir`` per (size, mtime, inode, ctime) of the file."""
    st = path.stat()
    stat_key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"
    name = os.path.abspath(path)
    if state_dir is None:
        return blake2_file(path)
    with _lock:
        try:
            row = _conn(state_dir).execute("SELECT stat, digest FROM state WHERE file = ?", (name,)).fetchone()
        except sqlite3.Error:
            row = None
    if row is not None and row[0] == stat_key:
        return str(row[1])
    digest = blake2_file(path)
    with _lock:
        try:
            conn = _conn(state_dir)
            conn.execute("INSERT OR REPLACE INTO state (file, stat, digest) VALUES (?, ?, ?)", (name, stat_key, digest))
            conn.commit()
        except sqlite3.Error:  # a state file that cannot be written only costs a re-hash next time
            pass
    return digest
