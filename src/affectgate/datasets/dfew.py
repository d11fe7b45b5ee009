"""DFEW loader: split CSVs ``video_name,label`` (labels 1..7) and frame folders, read exactly as distributed.

Layout: ``EmoLabel_DataSplit/{train,test}(single-labeled|single_labeled)/set_{1..5}.csv`` and
``Clip/clip_224x224/<id>/<id>_<n>.jpg`` (or the 16-frame ``clip_224x224_16f``). Every problem is a
:class:`DataError` naming the file (and line); nothing is silently dropped.
"""

from __future__ import annotations

import csv
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
from affectgate.errors import DataError

SPLIT_SPELLINGS = ("{split}(single-labeled)", "{split}(single_labeled)")
FRAME_FOLDERS = ("clip_224x224", "clip_224x224_16f")
LABEL_FIX = "labels are 1..7 = Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear"


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


def _inside(path: Path, root: Path, what: str) -> Path:
    resolved = path.resolve()
    if root.resolve() not in resolved.parents:
        raise DataError(f"{what} {path} resolves outside the dataset root {root}", fix="remove the link or '..'")
    return resolved


def load_dfew_split(*, root: Path, fold: int, split: Literal["train", "test"]) -> DFEWSplit:
    """Read one split CSV and check every clip's frame folder; any problem raises DataError naming file/line."""
    path = _split_csv(root, fold, split)
    frames_root = _frames_root(root)
    samples: list[DFEWSample] = []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["video_name", "label"]:
            raise DataError(f"{path}: header is {header!r}, expected 'video_name,label'", fix="restore the DFEW header")
        for line, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip() or row[1].strip().lower() == "nan":
                raise DataError(f"{path}:{line}: expected 'video_name,label', got {','.join(row)!r}")
            name_raw, label_raw = row[0].strip(), row[1].strip()
            if not name_raw.isdigit():
                raise DataError(f"{path}:{line}: video_name {name_raw!r} is not an integer id")
            name = name_raw.zfill(5)
            try:
                label_int = int(float(label_raw))
                if label_int != float(label_raw):
                    raise ValueError
            except ValueError:
                raise DataError(f"{path}:{line}: label {label_raw!r} is not an integer", fix=LABEL_FIX) from None
            if label_int not in DFEW_LABELS:
                raise DataError(f"{path}:{line}: label {label_int} is out of range", fix=LABEL_FIX)
            if name in seen:
                raise DataError(f"{path}:{line}: duplicate video_name {name} (first on line {seen[name]})")
            seen[name] = line
            frame_dir = frames_root / name
            if not frame_dir.is_dir():
                raise DataError(
                    f"clip {name} ({path.name}:{line}) has no frame folder {frame_dir}",
                    fix="restore the clip's frames or remove it from the split CSV",
                )
            _inside(frame_dir, root, f"frame folder of clip {name}")
            if not any(frame_dir.glob("*.jpg")):
                raise DataError(f"clip {name} ({path.name}:{line}) has an empty frame folder {frame_dir}")
            samples.append(DFEWSample(video_name=name, label=DFEW_LABELS[label_int], frame_dir=frame_dir))
    return DFEWSplit(root=root, fold=fold, split=split, csv_path=path, samples=tuple(samples))


def load_metadata(*, root: Path) -> pd.DataFrame | None:
    """``metadata.csv`` (subject id, group attributes, quarter, consent) indexed by video_name, if present."""
    path = root / "metadata.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "video_name" not in frame.columns:
        raise DataError(f"{path} has no video_name column", fix="the first column must be video_name")
    frame["video_name"] = frame["video_name"].str.zfill(5)
    dup = frame["video_name"][frame["video_name"].duplicated()]
    if len(dup):
        raise DataError(f"{path}: duplicate video_name {dup.iloc[0]}")
    for col in ("synthetic", "low_quality"):
        if col in frame.columns:
            frame[col] = frame[col].str.lower().eq("true")
    return frame.set_index("video_name")


def is_synthetic(*, root: Path) -> bool:
    """True when the dataset's datasheet says it was generated (synthetic: true)."""
    path = root / "datasheet.yaml"
    if not path.is_file():
        return False
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return bool(data.get("synthetic", False))


_NUM = re.compile(r"(\d+)(?=\.jpe?g$)", re.IGNORECASE)


def _frame_number(path: Path) -> int:
    m = _NUM.search(path.name)
    return int(m.group(1)) if m else -1


def read_clip(*, frame_dir: Path, frames: int, size: int) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB: uniform temporal sampling (linspace) of the clip's frames."""
    files = sorted(frame_dir.glob("*.jpg"), key=_frame_number)
    if not files:
        raise DataError(f"empty frame folder {frame_dir}")
    idx = np.linspace(0, len(files) - 1, num=frames).round().astype(int) if len(files) > 1 else np.zeros(frames, int)
    out = np.empty((frames, size, size, 3), dtype=np.uint8)
    cache: dict[int, np.ndarray] = {}
    for t, i in enumerate(idx):
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
    "DFEWSample", "DFEWSplit", "is_synthetic", "load_dfew_split", "load_metadata", "n_folds", "read_clip", "read_clips",
]
