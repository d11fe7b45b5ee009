"""Helpers shared by the benchmark loaders: problem collection, safe paths, text files, the samples table.

A problem's ``reason`` is ``"<kind>: <detail>"``; :meth:`LoadedDataset.skipped_counts` counts by kind,
so every loader uses the kinds below (``REASON_*``) for the same situation.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import pandas as pd
import yaml

from affectgate.core.errors import DataError
from affectgate.datasets.base import OPTIONAL_COLUMNS, SAMPLE_COLUMNS, Problem, problem_or_raise
from affectgate.datasets.paths import escaping_entry, is_outside

REASON_EMPTY_FILE = "empty file"
REASON_ENCODING = "undecodable text"
REASON_HEADER = "wrong header"
REASON_MALFORMED = "malformed line"
REASON_LABEL = "unknown label"
REASON_VALUE = "bad value"
REASON_DUPLICATE = "duplicate id"
REASON_OUTSIDE = "path outside root"
REASON_MISSING = "missing media"
REASON_EMPTY_FOLDER = "empty frame folder"
REASON_ZERO_BYTE = "0-byte media"
REASON_NAME = "bad file name"
REASON_MISMATCH = "inconsistent"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".avi", ".flv", ".gif", ".mkv", ".mov", ".webm")
NA_CELLS = frozenset({"", "nan", "na", "n/a", "none", "null"})
_NUM = re.compile(r"(\d+)(?=\.[A-Za-z]+$)")


class Collector:
    """Problems of one load: raised at once in strict mode, recorded (and counted) otherwise."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.problems: list[Problem] = []

    def bad(
        self, *, file: Path | str, line: int | None, kind: str, detail: str, sample_id: str | None = None, fix: str = ""
    ) -> None:
        """Report one unusable line or sample (``kind`` is one of the ``REASON_*`` constants)."""
        problem = Problem(file=str(file), line=line, reason=f"{kind}: {detail}", sample_id=sample_id)
        problem_or_raise(problems=self.problems, strict=self.strict, problem=problem, fix=fix)


def read_text_lines(*, path: Path, encoding: str, collector: Collector) -> list[str] | None:
    """The lines of a text file (no line ends); ``None`` after reporting a 0-byte or undecodable file."""
    data = path.read_bytes()
    if not data:
        collector.bad(file=path, line=None, kind=REASON_EMPTY_FILE, detail="the file is 0 bytes", fix="restore it")
        return None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        collector.bad(
            file=path,
            line=line,
            kind=REASON_ENCODING,
            detail=f"byte {data[exc.start : exc.start + 1]!r} is not {encoding}",
            fix=f"the file must be {encoding}-encoded as distributed",
        )
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.splitlines()


def is_na(cell: str) -> bool:
    """True for an empty or NaN-like cell."""
    return cell.strip().lower() in NA_CELLS


def parse_float(cell: str) -> float | None:
    """A finite float, or ``None`` for anything else (NaN, inf, text)."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def relative_path_problem(rel: str) -> str | None:
    """Why ``rel`` may not name a file inside the root (absolute, ``..``, backslashes), or ``None``."""
    if not rel or is_na(rel):
        return "empty path"
    if "\\" in rel:
        return f"{rel!r} uses backslashes; write a posix path relative to the root"
    p = PurePosixPath(rel)
    if p.is_absolute() or re.match(r"^[A-Za-z]:", rel):
        return f"{rel!r} is absolute; paths are relative to the dataset root"
    if ".." in p.parts:
        return f"{rel!r} contains '..' (path traversal)"
    return None


def media_problem(*, path: Path, root: Path, folder: bool) -> tuple[str, str] | None:
    """``(kind, detail)`` when a media file or frame folder is missing, empty, 0 bytes or outside ``root``."""
    if folder:
        if not path.is_dir():
            return REASON_MISSING, f"no frame folder {path}"
    elif not path.is_file():
        return REASON_MISSING, f"no media file {path}"
    if is_outside(path=path, root=root):
        return REASON_OUTSIDE, f"{path} resolves outside the dataset root {root}"
    if not folder:
        if path.stat().st_size == 0:
            return REASON_ZERO_BYTE, f"{path} is 0 bytes"
        return None
    escaped = escaping_entry(folder=path, root=root)  # any file, whatever its extension
    if escaped is not None:
        return REASON_OUTSIDE, f"frame {escaped} resolves outside the dataset root {root}"
    n = 0
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.lower().endswith(IMAGE_SUFFIXES):
                n += 1
    if n == 0:
        return REASON_EMPTY_FOLDER, f"{path} holds no image frames ({', '.join(IMAGE_SUFFIXES)})"
    return None


def frame_key(name: str) -> tuple[int, str]:
    """Sort key of a frame file: its last number (``00012.jpg``, ``00001_12.jpg``), then its name."""
    m = _NUM.search(name)
    return (int(m.group(1)) if m else -1, name)


def rel_posix(*, path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a posix string."""
    return path.relative_to(root).as_posix()


def samples_frame(rows: Iterable[Mapping[str, object]], *, extra: Iterable[str] = ()) -> pd.DataFrame:
    """The samples table: every ``SAMPLE_COLUMNS`` column, then the optional/extra columns any row filled."""
    rows = list(rows)
    names = list(dict.fromkeys([*SAMPLE_COLUMNS, *OPTIONAL_COLUMNS, *extra]))
    return samples_from_columns({c: [r.get(c) for r in rows] for c in names}, extra=extra)


def samples_from_columns(columns: Mapping[str, list[object]], *, extra: Iterable[str] = ()) -> pd.DataFrame:
    """The samples table from column lists; optional/extra columns that hold nothing but ``None`` are left out."""
    n = len(columns["sample_id"])
    keep = [c for c in (*OPTIONAL_COLUMNS, *extra) if c in columns and any(v is not None for v in columns[c])]
    data: dict[str, object] = {}
    for c in [*SAMPLE_COLUMNS, *dict.fromkeys(keep)]:
        values = columns.get(c, [None] * n)
        if c in ("fold", "frame"):
            data[c] = pd.array([None if v is None or pd.isna(v) else int(v) for v in values], dtype="Int64")
        elif c in ("valence", "arousal"):
            data[c] = pd.array([float("nan") if v is None else float(v) for v in values], dtype="float64")
        else:
            data[c] = pd.Series(values, dtype="object")
    return pd.DataFrame(data).reset_index(drop=True)


def read_datasheet(*, root: Path) -> dict | None:
    """``datasheet.yaml`` under ``root`` as a dict, or ``None`` when there is none."""
    path = root / "datasheet.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid YAML: {exc}", fix="repair or remove the datasheet") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} does not hold a mapping", fix="a datasheet is a YAML mapping of field: value")
    return data


def check_choice(*, name: str, value: str | None, allowed: Iterable[str]) -> None:
    """A DataError when a split/variant argument is not one of ``allowed``."""
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise DataError(f"unknown {name} {value!r}", fix=f"use one of {', '.join(allowed)}")
