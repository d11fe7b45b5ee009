"""Fairness with Fairlearn's MetricFrame: accuracy and UAR per group, max gap and min ratio per attribute.

Groups smaller than ``min_group_size`` are reported but excluded from the gap (too small to judge).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from affectgate.evaluators.accuracy import uar, war
from affectgate.evaluators.registry import register_evaluator
from affectgate.records import EvalResult, Measurement

DEFAULT_ATTRIBUTES = ("skin_tone_group", "sex", "age_band")


def _war(y_true: pd.Series, y_pred: pd.Series) -> float:
    return war(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object))


def _uar(y_true: pd.Series, y_pred: pd.Series) -> float:
    return uar(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object))


@register_evaluator("fairness")
def evaluate_fairness(*, predictions: pd.DataFrame, params: dict[str, Any]) -> EvalResult:
    """Per-group accuracy and UAR per sensitive attribute; gap = max minus min over judged groups."""
    attributes = tuple(params.get("attributes") or DEFAULT_ATTRIBUTES)
    min_size = int(params.get("min_group_size", 5))
    missing = [a for a in attributes if a not in predictions.columns]
    if missing:
        raise ValueError(
            f"group attributes {missing} are not in the predictions; the dataset needs them in metadata.csv"
        )
    measurements: list[Measurement] = []
    overall_gap, worst_attr = -1.0, ""
    y_true, y_pred = predictions["target"], predictions["pred"]
    for attr in attributes:
        groups = predictions[attr].astype(str)
        frame = MetricFrame(
            metrics={"accuracy": _war, "uar": _uar, "n": lambda t, p: float(len(t))},
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups.rename(attr),
        )
        by_group = frame.by_group
        judged = by_group[by_group["n"] >= min_size]
        for group, row in by_group.iterrows():
            for metric in ("accuracy", "uar"):
                measurements.append(
                    Measurement(
                        name=metric, value=float(row[metric]), higher_is_better=True,
                        averaging="micro" if metric == "accuracy" else "macro over present classes",
                        group=f"{attr}={group}", n=int(row["n"]),
                    )
                )
        if len(judged) >= 2:
            gap = float(judged["accuracy"].max() - judged["accuracy"].min())
            ratio = float(judged["accuracy"].min() / judged["accuracy"].max()) if judged["accuracy"].max() > 0 else 0.0
        else:
            gap, ratio = float("nan"), float("nan")
        measurements += [
            Measurement(
                name=f"fairness.accuracy_max_gap.{attr}", value=None if np.isnan(gap) else gap,
                higher_is_better=False, averaging=f"max - min accuracy over groups with n >= {min_size}",
                n=int(judged["n"].sum()),
            ),
            Measurement(
                name=f"fairness.accuracy_min_ratio.{attr}", value=None if np.isnan(ratio) else ratio,
                higher_is_better=True, averaging=f"min / max accuracy over groups with n >= {min_size}",
                n=int(judged["n"].sum()),
            ),
        ]
        if not np.isnan(gap) and gap > overall_gap:
            overall_gap, worst_attr = gap, attr
    if overall_gap < 0:
        raise ValueError(f"no attribute has two groups of at least {min_size} clips; fairness cannot be judged")
    measurements.append(
        Measurement(
            name="fairness.accuracy_max_gap", value=overall_gap, higher_is_better=False,
            averaging=f"max over attributes ({', '.join(attributes)}); worst: {worst_attr}", n=len(predictions),
        )
    )
    return EvalResult(
        evaluator="fairness", status="ok", measurements=tuple(measurements),
        params={"attributes": list(attributes), "min_group_size": min_size},
    )
