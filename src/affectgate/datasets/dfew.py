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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from affectgate.datasets.labels import DFEW_LABELS
from affectgate.datasets.paths import is_outside
from affectgate.errors import DataError

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
    n_jpg = 0
    with os.scandir(frame_dir) as entries:
        for entry in entries:
            if not entry.name.lower().endswith(".jpg"):
                continue
            n_jpg += 1
            if entry.is_symlink() and is_outside(path=Path(entry.path), root=real_root):
                raise DataError(
                    f"frame {entry.path} of clip {name} ({where}) resolves outside the dataset root {root}",
                    fix="replace the symlink with the real frame inside the dataset root",
                )
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


_NUM = re.compile(r"(\d+)\.jpg$", re.IGNORECASE)


def _frame_key(path: Path) -> tuple[int, str]:
    m = _NUM.search(path.name)
    return (int(m.group(1)) if m else -1, path.name)


def read_clip(*, frame_dir: Path, frames: int, size: int) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB: frames sampled uniformly (linspace) over the clip's jpgs."""
    if frames < 1 or size < 1:
        raise DataError(f"cannot sample {frames} frames of {size}x{size} px", fix="frames and size must be >= 1")
    files = sorted((p for p in frame_dir.iterdir() if p.name.lower().endswith(".jpg")), key=_frame_key)
    if not files:
        raise DataError(f"empty frame folder {frame_dir} (no .jpg frames)", fix="restore the clip's frames")
    idx = np.linspace(0, len(files) - 1, num=frames).round().astype(int)
    out = np.empty((frames, size, size, 3), dtype=np.uint8)
    cache: dict[int, np.ndarray] = {}
    for t, i in enumerate(idx.tolist()):
        if i not in cache:
            f = files[i]
            if f.stat().st_size == 0:
                raise DataError(f"0-byte frame {f}", fix="re-extract the clip's frames")
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"undecodable frame {f}", fix="re-extract the clip's frames")
            if img.shape[0] != size or img.shape[1] != size:
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            cache[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        out[t] = cache[i]
    return out


def read_clips(*, samples: Sequence[DFEWSample], frames: int, size: int, workers: int = 2) -> np.ndarray:
    """``(N, frames, size, size, 3)`` uint8, decoded in a thread pool (cv2 releases the GIL)."""
    if not samples:
        return np.zeros((0, frames, size, size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        clips = list(pool.map(lambda s: read_clip(frame_dir=s.frame_dir, frames=frames, size=size), samples))
    return np.stack(clips)


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
    "read_clip",
    "read_clips",
]
