"""Engagement regression metrics: MAE and CCC per signal, blink F1, clip attention MAE and CCC.

Input: one row per frame with ``sample_id``, ``frame``, the true signals (``yaw``, ``pitch``,
``gaze_x``, ``gaze_y``, ``eye_openness``), their predictions ``pred_<signal>``, optionally ``blink``
(0/1) and, per clip repeated on its frames, ``attention`` and ``pred_attention``. A predicted blink
frame is one whose predicted eye openness is below ``blink_threshold`` (default 0.5). CCC uses 1/N
moments (Lin 1989, as ABAW). Parameter ``attributes`` (e.g. ``[skin_tone_group]``) adds the MAE of
every signal per group. No emotion is read or produced here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, mean_absolute_error

from affectgate.evaluators.accuracy import ccc
from affectgate.evaluators.registry import register_evaluator
from affectgate.records import EvalResult, Measurement

SIGNALS: tuple[str, ...] = ("yaw", "pitch", "gaze_x", "gaze_y", "eye_openness")


def _value(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


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


@register_evaluator("engagement")
def evaluate_engagement(*, predictions: pd.DataFrame, params: dict[str, Any]) -> EvalResult:
    """Per-signal MAE (sklearn) and CCC over frames, blink F1 at ``blink_threshold``, clip attention MAE and CCC."""
    threshold = float(params.get("blink_threshold", 0.5))
    present = [s for s in SIGNALS if s in predictions.columns and f"pred_{s}" in predictions.columns]
    if not present:
        raise ValueError(
            f"no engagement signals in the predictions: expected columns {list(SIGNALS)} and pred_<signal>"
        )
    n = len(predictions)
    if n == 0:
        raise ValueError("no predictions to evaluate")
    ms: list[Measurement] = []
    for s in present:
        y, p = predictions[s].to_numpy(dtype=np.float64), predictions[f"pred_{s}"].to_numpy(dtype=np.float64)
        unit = "degrees" if s in ("yaw", "pitch") else "signal units"
        ms.append(
            Measurement(
                name=f"mae_{s}",
                value=float(mean_absolute_error(y, p)),
                higher_is_better=False,
                averaging=f"mean over frames ({unit})",
                label=s,
                n=n,
            )
        )
        ms.append(
            Measurement(
                name=f"ccc_{s}",
                value=_value(ccc(y, p)),
                higher_is_better=True,
                averaging="over frames, 1/N moments",
                label=s,
                n=n,
            )
        )
    for attribute in params.get("attributes") or ():  # per-group MAE, e.g. attributes: [skin_tone_group]
        if attribute not in predictions.columns:
            raise ValueError(f"group attribute {attribute!r} is not in the predictions")
        for value, rows in predictions.groupby(attribute, sort=True):
            for s in present:
                err = mean_absolute_error(rows[s].to_numpy(dtype=np.float64), rows[f"pred_{s}"].to_numpy(np.float64))
                ms.append(
                    Measurement(
                        name=f"mae_{s}",
                        value=float(err),
                        higher_is_better=False,
                        averaging="mean over the group's frames",
                        group=f"{attribute}={value}",
                        label=s,
                        n=len(rows),
                    )
                )
    if "blink" in predictions.columns and "pred_eye_openness" in predictions.columns:
        y_blink = predictions["blink"].to_numpy(dtype=np.int64)
        p_blink = (predictions["pred_eye_openness"].to_numpy(dtype=np.float64) < threshold).astype(np.int64)
        f1 = f1_score(y_blink, p_blink, zero_division=np.nan) if y_blink.any() or p_blink.any() else float("nan")
        ms.append(
            Measurement(
                name="blink_f1",
                value=_value(float(f1)),
                higher_is_better=True,
                averaging=f"binary F1 over frames (blink = predicted eye_openness < {threshold})",
                n=n,
            )
        )
    if {"attention", "pred_attention"} <= set(predictions.columns):
        key = "sample_id" if "sample_id" in predictions.columns else None
        clips = predictions.groupby(key, sort=True).first() if key else predictions
        y, p = clips["attention"].to_numpy(dtype=np.float64), clips["pred_attention"].to_numpy(dtype=np.float64)
        ms.append(
            Measurement(
                name="mae_attention",
                value=float(mean_absolute_error(y, p)),
                higher_is_better=False,
                averaging="mean over clips",
                label="attention",
                n=len(clips),
            )
        )
        ms.append(
            Measurement(
                name="ccc_attention",
                value=_value(ccc(y, p)),
                higher_is_better=True,
                averaging="over clips, 1/N moments",
                label="attention",
                n=len(clips),
            )
        )
    return EvalResult(evaluator="engagement", status="ok", measurements=tuple(ms), params=params)
