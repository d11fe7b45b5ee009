"""Engagement-signal sets (the synthetic engagement layout): clips, per-frame head pose, gaze and eye openness.

Layout (written by :mod:`affectgate.datasets.synth.engagement`): frames as DFEW
(``Clip/clip_224x224/<id>/<id>_<n>.jpg``), ``frame_labels.csv`` (per frame: ``video_name, frame, yaw,
pitch, gaze_x, gaze_y, eye_openness, blink``), ``metadata.csv`` (per clip: subject, groups, quarter,
consent, split, ``attention``) and ``EngagementSplit/{train,test}.csv``. There are no emotion labels:
``label`` is empty for every sample, ``attention`` (the clip's engagement proxy) is the annotation.

:func:`engagement_targets` reads the true signals at the frames a model samples (uniform, as
``read_clip``) for the engagement evaluator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset, register_loader
from affectgate.datasets.loading import (
    REASON_DUPLICATE,
    REASON_MALFORMED,
    REASON_VALUE,
    Collector,
    check_choice,
    media_problem,
    read_datasheet,
    samples_frame,
)

SIGNALS: tuple[str, ...] = ("yaw", "pitch", "gaze_x", "gaze_y", "eye_openness")
FRAME_LABELS = "frame_labels.csv"
METADATA = "metadata.csv"
SPLIT_DIR = "EngagementSplit"
FRAMES_DIR = "Clip/clip_224x224"
SPLITS = ("train", "test")
_CLIP_COLUMNS = ("subject_id", "skin_tone_group", "sex", "age_band", "capture_quarter", "consent_basis")


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"{path} is missing", fix="an engagement set holds frame_labels.csv, metadata.csv and EngagementSplit/"
        )
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@register_loader("engagement")
def load_engagement(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """One row per clip of the split files (``split`` None = train and test), joined with ``metadata.csv``."""
    check_choice(name="engagement split", value=split, allowed=SPLITS)
    if fold is not None:
        raise DataError(f"engagement sets have no folds (asked for fold {fold})", fix="leave out --fold")
    meta = _read_csv(root / METADATA)
    if "video_name" not in meta.columns:
        raise DataError(f"{root / METADATA} has no video_name column", fix="key metadata.csv by video_name")
    meta = meta.set_index(meta["video_name"].str.strip())
    col = Collector(strict=strict)
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for name in (split,) if split else SPLITS:
        path = root / SPLIT_DIR / f"{name}.csv"
        table = _read_csv(path)
        if "video_name" not in table.columns:
            raise DataError(f"{path}: header has no video_name", fix="expected 'video_name,attention'")
        for i, vid in enumerate(table["video_name"].str.strip()):
            line = i + 2
            if vid in seen:
                col.bad(file=path, line=line, kind=REASON_DUPLICATE, detail=f"clip {vid} listed twice", sample_id=vid)
                continue
            if vid not in meta.index:
                col.bad(file=path, line=line, kind=REASON_MALFORMED, detail=f"clip {vid} has no metadata.csv row")
                continue
            problem = media_problem(path=root / FRAMES_DIR / vid, root=root, folder=True)
            if problem is not None:
                col.bad(file=path, line=line, kind=problem[0], detail=problem[1], sample_id=vid)
                continue
            m = meta.loc[vid]
            try:
                attention = float(m.get("attention", ""))
            except ValueError:
                attention = float("nan")
            if not 0.0 <= attention <= 1.0:
                detail = f"clip {vid} attention {m.get('attention')!r} is not in [0, 1]"
                col.bad(file=root / METADATA, line=None, kind=REASON_VALUE, detail=detail, sample_id=vid)
                continue
            seen.add(vid)
            rows.append(
                {
                    "sample_id": vid,
                    "split": name,
                    "fold": None,
                    "media_path": f"{FRAMES_DIR}/{vid}",
                    "label": None,
                    "valence": None,
                    "arousal": None,
                    **{c: (str(m[c]) or None) if c in m.index else None for c in _CLIP_COLUMNS},
                    "attention": attention,
                }
            )
    return LoadedDataset(
        format="engagement",
        root=root,
        samples=samples_frame(rows, extra=("attention",)),
        label_names=(),
        problems=col.problems,
        datasheet=read_datasheet(root=root),
    )


def engagement_targets(*, root: Path, sample_ids: list[str], frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True ``(N, frames, 5)`` signals and ``(N, frames)`` blinks at the sampled frames, and ``(N,)`` attention."""
    labels = _read_csv(root / FRAME_LABELS)
    need = ["video_name", "frame", *SIGNALS, "blink"]
    missing = [c for c in need if c not in labels.columns]
    if missing:
        raise DataError(f"{root / FRAME_LABELS} lacks columns {missing}", fix=f"expected header {need}")
    labels["frame"] = labels["frame"].astype(int)
    by_clip = {k: g.sort_values("frame") for k, g in labels.groupby(labels["video_name"].str.strip(), sort=False)}
    meta = _read_csv(root / METADATA).set_index("video_name")
    signals = np.zeros((len(sample_ids), frames, len(SIGNALS)), dtype=np.float32)
    blink = np.zeros((len(sample_ids), frames), dtype=np.int64)
    for i, vid in enumerate(sample_ids):
        rows = by_clip.get(vid)
        if rows is None or rows.empty:
            raise DataError(f"{root / FRAME_LABELS} has no rows for clip {vid}", fix="one row per frame of every clip")
        idx = np.linspace(0, len(rows) - 1, num=frames).round().astype(int)  # the same sampling as read_clip
        picked = rows.iloc[idx]
        signals[i] = picked[list(SIGNALS)].to_numpy(dtype=np.float32)
        blink[i] = picked["blink"].to_numpy(dtype=np.int64)
    attention = meta.loc[sample_ids, "attention"].astype(float).to_numpy()
    return signals, blink, attention


def engagement_predictions(
    *,
    sample_ids: list[str],
    signals: np.ndarray,
    predicted: np.ndarray,
    blink: np.ndarray | None = None,
    attention: np.ndarray | None = None,
    predicted_attention: np.ndarray | None = None,
    clip_columns: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """The per-frame predictions table from arrays.

    ``signals`` and ``predicted`` are (N, T, 5) in :data:`SIGNALS` order, ``blink`` (N, T), clip
    ``attention`` and ``predicted_attention`` (N,); ``clip_columns`` (e.g. group attributes, one value
    per clip) are repeated on the clip's frames.
    """
    n, t, k = signals.shape
    if predicted.shape != signals.shape or k != len(SIGNALS) or len(sample_ids) != n:
        raise ValueError(f"expected (N, T, {len(SIGNALS)}) signals and predictions for {len(sample_ids)} clips")
    table: dict[str, Any] = {
        "sample_id": np.repeat(np.asarray(sample_ids, dtype=object), t),
        "frame": np.tile(np.arange(1, t + 1), n),
    }
    for i, s in enumerate(SIGNALS):
        table[s] = signals[..., i].reshape(-1)
        table[f"pred_{s}"] = predicted[..., i].reshape(-1)
    if blink is not None:
        table["blink"] = np.asarray(blink, dtype=np.int64).reshape(-1)
    if attention is not None and predicted_attention is not None:
        table["attention"] = np.repeat(np.asarray(attention, dtype=np.float64), t)
        table["pred_attention"] = np.repeat(np.asarray(predicted_attention, dtype=np.float64).reshape(-1), t)
    for col, values in (clip_columns or {}).items():
        table[col] = np.repeat(np.asarray(values, dtype=object), t)
    return pd.DataFrame(table)
