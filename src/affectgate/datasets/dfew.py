"""DFEW loader: split CSVs ``video_name,label`` (labels 1..7) and frame folders, read exactly as distributed.

Layout: ``EmoLabel_DataSplit/{train,test}(single-labeled|single_labeled)/set_{1..5}.csv`` and
``Clip/clip_224x224/<id>/<id>_<n>.jpg`` (or the 16-frame ``clip_224x224_16f``). Every problem is a
:class:`DataError` naming the file (and line); nothing is silently dropped.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from affectgate.core.errors import DataError
from affectgate.datasets.labels import DFEW_LABELS
from affectgate.datasets.paths import escaping_entry, is_outside

SPLIT_SPELLINGS = ("{split}(single-labeled)", "{split}(single_labeled)")
FRAME_FOLDERS = ("clip_224x224", "clip_224x224_16f")
LABEL_FIX = "labels are 1..7 = Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear"
NA_CELLS = frozenset({"nan", "na", "n/a", "none", "null"})
_ID = re.compile(r"[0-9]+")
_LABEL = re.compile(r"[0-9]+(\.0+)?")


class DFEWSample(BaseModel):
    """One clip of a split."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    video_name: str = Field(description="5-digit zero-padded clip id.")
    label: str = Field(description="Canonical emotion name.")
    frame_dir: Path = Field(description="Folder of the clip's frames.")


class DFEWSplit(BaseModel):
    """The clips of one split of one fold."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    root: Path = Field(description="Dataset root.")
    fold: int = Field(description="Fold number (set_N).")
    split: Literal["train", "test"] = Field(description="train or test.")
    csv_path: Path = Field(description="The split CSV read.")
    samples: tuple[DFEWSample, ...] = Field(description="Clips in file order.")


def _split_csv(root: Path, fold: int, split: str) -> Path:
    base = root / "EmoLabel_DataSplit"
    for spelling in SPLIT_SPELLINGS:
        path = base / spelling.format(split=split) / f"set_{fold}.csv"
        if path.is_file():
            return path
    raise DataError(
        f"no {split} split for fold {fold} under {base}",
        fix=f"expected {base}/{split}(single-labeled)/set_{fold}.csv (or the single_labeled spelling)",
    )


def _frames_root(root: Path) -> Path:
    for name in FRAME_FOLDERS:
        path = root / "Clip" / name
        if path.is_dir():
            return path
    raise DataError(f"no frame folder under {root / 'Clip'}", fix=f"expected Clip/{FRAME_FOLDERS[0]}/<id>/<id>_<n>.jpg")


def _check_frame_dir(*, frame_dir: Path, name: str, where: str, real_root: Path, root: Path) -> None:
    """The clip's folder exists, holds a jpg, and neither it nor any frame resolves outside the root."""
    if not frame_dir.is_dir():
        raise DataError(
            f"clip {name} ({where}) has no frame folder {frame_dir}",
            fix="restore the clip's frames or remove the clip from the split CSV",
        )
    if is_outside(path=frame_dir, root=real_root):
        raise DataError(
            f"frame folder {frame_dir} of clip {name} ({where}) resolves outside the dataset root {root}",
            fix="replace the symlink or '..' with the real frames inside the dataset root",
        )
    escaped = escaping_entry(folder=frame_dir, root=real_root)  # any file, whatever its extension
    if escaped is not None:
        raise DataError(
            f"frame {escaped} of clip {name} ({where}) resolves outside the dataset root {root}",
            fix="replace the symlink with the real frame inside the dataset root",
        )
    n_jpg = 0
    with os.scandir(frame_dir) as entries:
        for entry in entries:
            if entry.name.lower().endswith(".jpg"):
                n_jpg += 1
    if n_jpg == 0:
        raise DataError(
            f"clip {name} ({where}) has an empty frame folder {frame_dir} (no .jpg frames)",
            fix="restore the clip's frames or remove the clip from the split CSV",
        )


def load_dfew_split(*, root: Path, fold: int, split: Literal["train", "test"]) -> DFEWSplit:
    """Read one split CSV and check every clip's frames; any problem raises DataError naming file and line."""
    if split not in ("train", "test"):
        raise DataError(f"unknown DFEW split {split!r}", fix="use 'train' or 'test'")
    if fold < 1:
        raise DataError(f"DFEW fold {fold} does not exist", fix="folds are numbered from 1 (set_1.csv)")
    path = _split_csv(root, fold, split)
    frames_root = _frames_root(root)
    real_root = root.resolve()
    samples: list[DFEWSample] = []
    seen: dict[str, int] = {}
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # name the line, never a traceback
        line_no = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line_no}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            fix="save the split CSV as UTF-8 (e.g. `iconv -f latin1 -t utf-8`); DFEW's CSVs are plain ASCII",
        ) from None
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["video_name", "label"]:
            found = "nothing (empty file)" if header is None else repr(",".join(header))
            raise DataError(f"{path}: header is {found}, expected 'video_name,label'", fix="restore the DFEW header")
        for line, row in enumerate(reader, start=2):
            if not row:  # a blank line holds no clip
                continue
            cells = [c.strip() for c in row]
            if len(cells) != 2 or any(c == "" or c.lower() in NA_CELLS for c in cells):
                raise DataError(
                    f"{path}:{line}: expected 'video_name,label' both filled, got {','.join(row)!r}",
                    fix="fill or remove the row; nothing is skipped silently",
                )
            name_raw, label_raw = cells
            if not _ID.fullmatch(name_raw):
                raise DataError(
                    f"{path}:{line}: video_name {name_raw!r} is not a numeric clip id",
                    fix="DFEW clip ids are integers, e.g. 00001 or 1",
                )
            name = name_raw.zfill(5)
            if not _LABEL.fullmatch(label_raw) or int(float(label_raw)) not in DFEW_LABELS:
                raise DataError(f"{path}:{line}: label {label_raw!r} is not an integer 1..7", fix=LABEL_FIX)
            label_int = int(float(label_raw))
            if name in seen:
                raise DataError(
                    f"{path}:{line}: duplicate video_name {name} (first on line {seen[name]})",
                    fix="each clip may appear once per split CSV",
                )
            seen[name] = line
            frame_dir = frames_root / name
            _check_frame_dir(
                frame_dir=frame_dir, name=name, where=f"{path.name}:{line}", real_root=real_root, root=root
            )
            samples.append(DFEWSample(video_name=name, label=DFEW_LABELS[label_int], frame_dir=frame_dir))
    return DFEWSplit(root=root, fold=fold, split=split, csv_path=path, samples=tuple(samples))


def load_metadata(*, root: Path) -> pd.DataFrame | None:
    """``metadata.csv`` (subject, groups, quarter, consent) indexed by the 5-digit video_name, or None."""
    path = root / "metadata.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "video_name" not in frame.columns:
        raise DataError(f"{path} has no video_name column", fix="the first column must be video_name")
    frame["video_name"] = frame["video_name"].str.strip().str.zfill(5)
    dup = frame["video_name"][frame["video_name"].duplicated()]
    if len(dup):
        raise DataError(f"{path}:{int(dup.index[0]) + 2}: duplicate video_name {dup.iloc[0]}", fix="one row per clip")
    for col in ("synthetic", "low_quality"):
        if col in frame.columns:
            values = frame[col].str.strip().str.lower()
            bad = values[~values.isin(["true", "false"])]
            if len(bad):
                raise DataError(
                    f"{path}:{int(bad.index[0]) + 2}: {col} is {frame[col].iloc[bad.index[0]]!r}",
                    fix=f"{col} must be True or False",
                )
            frame[col] = values.eq("true")
    return frame.set_index("video_name")


def is_synthetic(*, root: Path) -> bool:
    """True when the dataset's ``datasheet.yaml`` says ``synthetic: true``."""
    path = root / "datasheet.yaml"
    if not path.is_file():
        return False
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid YAML: {exc}", fix="repair or remove the datasheet") from None
    return isinstance(data, dict) and data.get("synthetic") is True


def n_folds(*, root: Path) -> int:
    """Number of folds with a test split present."""
    return sum(1 for k in range(1, 11) if any((root / "EmoLabel_DataSplit").glob(f"test*/set_{k}.csv")))


__all__ = [
    "DFEWSample",
    "DFEWSplit",
    "is_synthetic",
    "load_dfew_split",
    "load_metadata",
    "n_folds",
]


# -- registry adapter (``affectgate data validate --format dfew``) ---------------------------------
from affectgate.datasets.base import (  # noqa: E402 - the adapter sits below the loader it wraps
    OPTIONAL_COLUMNS,
    SAMPLE_COLUMNS,
    LoadedDataset,
    Problem,
    empty_samples,
    problem_or_raise,
    register_loader,
)
from affectgate.datasets.labels import DFEW_ORDER  # noqa: E402
from affectgate.datasets.loading import read_datasheet  # noqa: E402

#: Metadata columns that are group attributes (special-category when present).
_DFEW_GROUP_COLUMNS = ("skin_tone_group", "race", "ethnicity", "sex", "age_band")


def _blank_to_none(values: pd.Series) -> np.ndarray:
    """Metadata cells as objects, empty strings (and clips missing from metadata.csv) as None."""
    return values.astype(object).where(values.notna() & values.ne(""), None).to_numpy()


@register_loader("dfew")
def load_dfew(*, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False) -> LoadedDataset:
    """DFEW as a :class:`LoadedDataset`: split CSVs via :func:`load_dfew_split`, joined with ``metadata.csv``.

    ``fold=N`` selects set_N (1..n_folds): its train and test splits, or only ``split``. Without a
    fold, the test splits of every fold are read (each clip once, ``fold`` = the set it is tested
    in); ``split="train"`` then needs a fold, since train splits overlap across folds. In non-strict
    mode a split CSV that :func:`load_dfew_split` rejects becomes one :class:`Problem` (its clips are
    left out); ``strict`` raises it. Subject, group, quarter and consent columns come from
    ``metadata.csv`` when present; a clip missing there keeps empty (NaN) values.
    """
    if split not in (None, "train", "test"):
        raise DataError(f"DFEW has no split {split!r}", fix="use --split train or --split test (or none for both)")
    folds_present = n_folds(root=root)
    if fold is not None and not 1 <= fold <= max(folds_present, 1):
        raise DataError(
            f"DFEW fold {fold} does not exist under {root} ({folds_present} folds found)",
            fix=f"pass a fold in 1..{folds_present}" if folds_present else "check EmoLabel_DataSplit/",
        )
    if fold is None and split == "train":
        raise DataError("DFEW train splits overlap across folds", fix="pass --fold N with --split train")
    if fold is None:
        wanted = [(k, "test") for k in range(1, folds_present + 1)]
    else:
        wanted = [(fold, s) for s in ((split,) if split else ("train", "test"))]
    if not wanted:
        raise DataError(f"no DFEW split CSVs under {root / 'EmoLabel_DataSplit'}", fix="expected test*/set_1.csv")
    problems: list[Problem] = []
    parts: list[DFEWSplit] = []
    for k, s in wanted:
        try:
            parts.append(load_dfew_split(root=root, fold=k, split=s))  # type: ignore[arg-type]
        except DataError as exc:
            try:
                where = str(_split_csv(root, k, s))
            except DataError:
                where = str(root / "EmoLabel_DataSplit")
            problem_or_raise(
                problems=problems,
                strict=strict,
                problem=Problem(file=where, line=None, reason=f"split rejected: {exc.what}"),
                fix=exc.fix,
            )
            continue
    return loaded_from_splits(root=root, splits=parts, problems=problems)


def loaded_from_splits(
    *, root: Path, splits: Sequence[DFEWSplit], problems: list[Problem] | None = None
) -> LoadedDataset:
    """Already-read DFEW splits as a :class:`LoadedDataset` (joined with ``metadata.csv``), without reading them again.

    The gate validates exactly the split it evaluates this way; :func:`load_dfew` reads the splits first.
    """
    rows: list[dict[str, object]] = []
    for part in splits:
        for sample in part.samples:
            rows.append(
                {
                    "sample_id": sample.video_name,
                    "split": part.split,
                    "fold": part.fold,
                    "media_path": sample.frame_dir.relative_to(root).as_posix(),
                    "label": sample.label,
                    "valence": float("nan"),
                    "arousal": float("nan"),
                    "subject_id": None,
                }
            )
    samples = pd.DataFrame(rows) if rows else empty_samples()
    samples["fold"] = samples["fold"].astype("Int64")
    meta = load_metadata(root=root)
    special = False
    if meta is not None and len(samples):
        extra = [c for c in OPTIONAL_COLUMNS if c in meta.columns]
        joined = meta.reindex(samples["sample_id"].to_numpy())
        if "subject_id" in meta.columns:
            samples["subject_id"] = _blank_to_none(joined["subject_id"])
        for col in extra:
            samples[col] = _blank_to_none(joined[col])
        special = any(c in meta.columns for c in _DFEW_GROUP_COLUMNS)
    ordered = [*SAMPLE_COLUMNS, *(c for c in samples.columns if c not in SAMPLE_COLUMNS)]
    return LoadedDataset(
        format="dfew",
        root=root,
        samples=samples[ordered].reset_index(drop=True),
        label_names=DFEW_ORDER,
        problems=problems if problems is not None else [],
        special_category=special,
        datasheet=read_datasheet(root=root),
    )


__all__ += ["load_dfew"]
