"""Engagement regression metrics: MAE and CCC per signal, blink F1, clip attention MAE and CCC.

Input: one row per frame with ``sample_id``, ``frame``, the true signals (``yaw``, ``pitch``,
``gaze_x``, ``gaze_y``, ``eye_openness``), their predictions ``pred_<signal>``, optionally ``blink``
(0/1) and, per clip repeated on its frames, ``attention`` and ``pred_attention``. A predicted blink
frame is one whose predicted eye openness is below ``blink_threshold`` (default 0.5). CCC uses 1/N
moments (Lin 1989, as ABAW). Parameter ``attributes`` (e.g. ``[skin_tone_group]``) adds the MAE of
every signal per group. No emotion is read or produced here.

Fairness of a regression output is an *error* gap: with ``attributes``, the MAE of ``fairness_signal``
(default ``attention``, the clip's engagement score; or ``eye_openness``, per frame: both on a 0-1 scale,
so one threshold in points of that scale means the same for either) per group, Fairlearn's MetricFrame,
and ``fairness.error_max_gap`` = max - min MAE over the groups of the gated attributes
(``gated_attributes``, default ``skin_tone_group``) large enough to judge, with a subject-bootstrap
95% CI and ``fairness.error_small_groups``, exactly as the accuracy gap of the ``fairness`` evaluator
(:func:`affectgate.evaluators.fairness.group_gap_measurements`). The quality pack judges it for
engagement-only contexts (``quality.fairness.max_error_gap`` / ``error_gap_inconclusive``). When no gated
attribute has two groups large enough to judge, the gap is reported undefined (its reason in
``averaging``) beside the other metrics: the rules then err and the gate sends the model to review.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, mean_absolute_error

from affectgate.core.records import EvalResult, Measurement
from affectgate.datasets.engagement import SIGNALS
from affectgate.evaluators.accuracy import ccc
from affectgate.evaluators.fairness import (
    GapSpec,
    UnjudgeableGap,
    gap_params,
    group_gap_measurements,
    missing_attributes,
)
from affectgate.evaluators.registry import register_evaluator

#: Signals on a 0-1 scale whose per-group MAE gap can be judged against one threshold.
FAIRNESS_SIGNALS: tuple[str, ...] = ("attention", "eye_openness")


def _value(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


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
    attributes = tuple(params.get("attributes") or ())
    missing_attributes(predictions, attributes)
    gap_signal = params.get("fairness_signal", "attention")  # its per-group MAE comes with the error gap
    for attribute in attributes:  # per-group MAE of every frame signal, e.g. attributes: [skin_tone_group]
        for value, rows in predictions.groupby(attribute, sort=True):
            for s in (s for s in present if s != gap_signal):
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
    if attributes:
        ms += error_gap(predictions=predictions, params=params)
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


def error_gap(*, predictions: pd.DataFrame, params: dict[str, Any]) -> list[Measurement]:
    """Per-group MAE of ``fairness_signal`` and its max - min gap with a subject-bootstrap CI (module docstring)."""
    signal = str(params.get("fairness_signal", "attention"))
    if signal not in FAIRNESS_SIGNALS:
        raise ValueError(f"fairness_signal {signal!r} is not one of {list(FAIRNESS_SIGNALS)} (0-1 scale signals)")
    if signal not in predictions.columns or f"pred_{signal}" not in predictions.columns:
        raise ValueError(
            f"the error gap needs {signal} and pred_{signal} in the predictions; the model or the set lacks them"
        )
    gp = gap_params(params)
    missing_attributes(predictions, (*gp["attributes"], *gp["gated"]))
    if signal == "attention" and "sample_id" in predictions.columns:  # a clip-level score: one row per clip
        rows = predictions.groupby("sample_id", sort=True).first().reset_index()
        level = "clips"
    else:
        rows, level = predictions.reset_index(drop=True), "frames"
    y, p = rows[signal].astype(np.float64), rows[f"pred_{signal}"].astype(np.float64)
    spec = GapSpec(
        kind="error",
        per_group={f"mae_{signal}": (mean_absolute_error, False, f"mean absolute error over the group's {level}")},
        judged=f"mae_{signal}",
        label=signal,
        unit=f"{signal} MAE",
    )
    try:
        return group_gap_measurements(
            predictions=rows, y_true=y, y_pred=p, scores=np.abs(y - p).to_numpy(), spec=spec, **gp
        )
    except UnjudgeableGap as e:  # the other engagement metrics stand; the gap is missing, so the policy errs
        return [
            Measurement(
                name="fairness.error_max_gap",
                value=None,
                higher_is_better=False,
                averaging=f"not judged: {e}",
                n=len(rows),
            ),
            Measurement(
                name="fairness.error_small_groups",
                value=float(e.small_groups),
                higher_is_better=False,
                averaging=f"groups of the gated attributes with fewer than {gp['min_size']} rows or "
                f"{gp['min_subjects']} subjects",
                n=len(rows),
            ),
        ]
