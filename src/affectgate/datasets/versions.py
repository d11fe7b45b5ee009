"""Which dataset version each report used: report digests against ``data.dvc``, the DVC cache and the folder now.

Reads files only (``data.dvc``, ``.dvc/config``, the DVC cache's ``.dir`` listings, run folders'
``report.json``) and asks git for the commit; DVC itself is not needed to answer. Behind
``affectgate data status``.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import subprocess
from pathlib import Path

import yaml
from pydantic import Field

from affectgate.core.errors import DataError
from affectgate.core.records import Record
from affectgate.datasets.digest import dir_digest

DVC_FILE = "data.dvc"
_REMOTE_SECTION = re.compile(r"""^remote\s+"(?P<name>[^"]+)"$""")


class DvcPointer(Record):
    """The ``outs`` entry of a ``.dvc`` file."""

    dvc_file: Path = Field(description="The .dvc file read.")
    path: str = Field(description="Tracked path, relative to the .dvc file's folder.")
    md5: str = Field(description="DVC md5 of the tracked folder ('<md5>.dir') or file.")
    nfiles: int | None = Field(default=None, description="Files in the tracked folder.")
    size: int | None = Field(default=None, description="Bytes in the tracked folder.")


class DvcRemote(Record):
    """A remote of ``.dvc/config``."""

    name: str = Field(description="Remote name.")
    url: str = Field(description="URL as written in the config.")
    resolved: str = Field(description="For a local remote: the absolute folder (relative URLs are from .dvc/).")
    default: bool = Field(description="True for core.remote.")


class RunDataVersion(Record):
    """The dataset version one run folder's report used, compared with DVC and the folder now."""

    run_id: str = Field(description="Run folder name.")
    candidate: str = Field(description="Candidate evaluated.")
    dataset: str = Field(description="Dataset name.")
    dataset_root: str = Field(description="Dataset folder the report names.")
    digest: str = Field(description="Dataset digest recorded in the report.")
    created: str = Field(default="", description="Report time (ISO 8601).")
    in_dvc: bool | None = Field(
        description="Digest equals data.dvc's version (of data/ or, via the DVC cache listing, of this "
        "subfolder); None when that cannot be told (no data.dvc, or no cached listing)."
    )
    matches_current: bool | None = Field(description="Digest equals the folder now; None when the folder is gone.")
    error: str | None = Field(default=None, description="Why the report could not be read, if it could not.")


def read_dvc_file(*, path: Path) -> DvcPointer | None:
    """The single ``outs`` entry of a ``.dvc`` file, or None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid YAML: {exc}", fix=f"restore it with `git checkout {path.name}`") from None
    outs = data.get("outs") if isinstance(data, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict) or "md5" not in outs[0]:
        raise DataError(f"{path} has no single 'outs' entry with an md5", fix="re-create it with `dvc add data`")
    out = outs[0]
    return DvcPointer(
        dvc_file=path,
        path=str(out.get("path", "")),
        md5=str(out["md5"]),
        nfiles=out.get("nfiles"),
        size=out.get("size"),
    )


def _dvc_config(project_root: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    for name in ("config", "config.local"):
        path = project_root / ".dvc" / name
        if path.is_file():
            try:
                parser.read(path, encoding="utf-8")
            except configparser.Error as exc:
                raise DataError(f"{path} is not a valid DVC config: {exc}", fix="repair it with `dvc remote`") from None
    return parser


def dvc_remotes(*, project_root: Path) -> tuple[DvcRemote, ...]:
    """Remotes configured in ``.dvc/config`` (and ``config.local``), the default one marked."""
    parser = _dvc_config(project_root)
    default = parser.get("core", "remote", fallback="").strip()
    out: list[DvcRemote] = []
    for section in parser.sections():
        m = _REMOTE_SECTION.match(section.strip().strip("'"))
        if not m or "url" not in parser[section]:
            continue
        url = parser[section]["url"].strip()
        local = "://" not in url
        resolved = str((project_root / ".dvc" / url).resolve()) if local and not Path(url).is_absolute() else url
        out.append(DvcRemote(name=m["name"], url=url, resolved=resolved, default=m["name"] == default))
    return tuple(out)


def _cache_dir(project_root: Path) -> Path:
    parser = _dvc_config(project_root)
    configured = parser.get("cache", "dir", fallback="").strip()
    if configured:
        return (project_root / ".dvc" / configured).resolve()
    return project_root / ".dvc" / "cache"


def cached_listing(*, project_root: Path, md5: str) -> list[dict[str, str]] | None:
    """The DVC cache's ``.dir`` listing (relpath and md5 per file) of a folder digest, or None when not cached."""
    if not md5.endswith(".dir"):
        return None
    h = md5.removesuffix(".dir")
    cache = _cache_dir(project_root)
    for path in (cache / "files" / "md5" / h[:2] / f"{h[2:]}.dir", cache / h[:2] / f"{h[2:]}.dir"):
        if path.is_file():
            try:
                entries = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                return None
            return [{"md5": str(e["md5"]), "relpath": str(e["relpath"])} for e in entries]
    return None


def listing_digest(*, listing: list[dict[str, str]], prefix: str = "") -> str | None:
    """Digest (as :func:`dir_digest`) of the files of a ``.dir`` listing under ``prefix`` ('' = all); None if none."""
    pre = prefix.strip("/") + "/" if prefix.strip("/") else ""
    entries = [{"md5": e["md5"], "relpath": e["relpath"][len(pre) :]} for e in listing if e["relpath"].startswith(pre)]
    if not entries:
        return None
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def git_state(*, project_root: Path) -> str:
    """``<short commit>`` plus ``, data.dvc modified`` when it differs from the commit; 'no git' outside a repo."""
    try:
        head = subprocess.run(
            ["git", "-C", str(project_root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if head.returncode != 0:
            return "no git commit"
        dirty = subprocess.run(
            ["git", "-C", str(project_root), "status", "--porcelain", "--", DVC_FILE],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "no git"
    state = head.stdout.strip()
    if dirty.stdout.strip():
        state += f", {DVC_FILE} " + ("untracked" if dirty.stdout.startswith("??") else "modified")
    return state


def _relative(path: Path, base: Path) -> str | None:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return None


def run_data_versions(*, runs_dir: Path, project_root: Path) -> list[RunDataVersion]:
    """One row per run folder with a ``report.json`` (oldest first), its digest compared with DVC and the folder.

    Reports are read as JSON (only run id, candidate and ``dataset``), so runs written by older
    versions of the report schema are listed too; an unreadable report is a row with ``error``.
    """
    pointer = read_dvc_file(path=project_root / DVC_FILE)
    tracked = (project_root / pointer.path) if pointer else None
    listing = cached_listing(project_root=project_root, md5=pointer.md5) if pointer else None
    current: dict[str, str | None] = {}
    rows: list[RunDataVersion] = []
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    for folder in folders:
        report = folder / "report.json"
        if not report.is_file():
            continue
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
            ds = data["dataset"]
            digest, root = str(ds["digest"]), str(ds["root"])
            candidate, name = str(data["candidate"]), str(ds.get("name", Path(root).name))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            rows.append(
                RunDataVersion(
                    run_id=folder.name,
                    candidate="?",
                    dataset="?",
                    dataset_root="",
                    digest="",
                    in_dvc=None,
                    matches_current=None,
                    error=f"{report}: {type(exc).__name__}: {exc}",
                )
            )
            continue
        if root not in current:
            current[root] = dir_digest(root=Path(root)) if Path(root).is_dir() else None
        in_dvc: bool | None = None
        if pointer is not None and tracked is not None:
            sub = _relative(Path(root), tracked)
            if digest == pointer.md5:
                in_dvc = True
            elif sub is None:  # the dataset is not under the DVC-tracked folder
                in_dvc = False
            elif listing is not None:
                in_dvc = listing_digest(listing=listing, prefix=sub) == digest
        rows.append(
            RunDataVersion(
                run_id=str(data.get("run_id", folder.name)),
                candidate=candidate,
                dataset=name,
                dataset_root=root,
                digest=digest,
                created=str(data.get("created", "")),
                in_dvc=in_dvc,
                matches_current=None if current[root] is None else current[root] == digest,
            )
        )
    return rows
