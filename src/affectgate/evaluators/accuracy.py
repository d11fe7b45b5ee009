"""Accuracy: WAR (micro accuracy), UAR (mean per-class recall), per-class recall, confusion matrix.

Label order is the canonical order; UAR averages recall over the classes present in the targets
(a class with no test clip has no recall), as DFEW papers report it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators.registry import register_evaluator
from affectgate.records import EvalResult, Measurement


def war(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Weighted average recall = accuracy: trace of the confusion matrix over its sum."""
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict[str, float | None]:
    """Recall per label; None for a label with no true sample."""
    out: dict[str, float | None] = {}
    for lbl in labels:
        mask = y_true == lbl
        out[lbl] = float(np.mean(y_pred[mask] == lbl)) if mask.any() else None
    return out


def uar(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...] = CANONICAL_EMOTIONS) -> float:
    """Unweighted average recall: mean of per-class recall over the classes present in ``y_true``."""
    recalls = [r for r in per_class_recall(y_true, y_pred, labels).values() if r is not None]
    return float(np.mean(recalls)) if recalls else float("nan")


@register_evaluator("accuracy")
def evaluate_accuracy(*, predictions: pd.DataFrame, params: dict[str, Any]) -> EvalResult:
    """WAR, UAR, macro-averaged per-class recall and the confusion matrix of clip predictions."""
    y_true = predictions["target"].to_numpy(dtype=object)
    y_pred = predictions["pred"].to_numpy(dtype=object)
    unknown = sorted(set(y_true) - set(CANONICAL_EMOTIONS))
    if unknown:
        raise ValueError(f"targets outside the canonical labels: {unknown}")
    n = len(y_true)
    if n == 0:
        raise ValueError("no predictions to evaluate")
    measurements = [
        Measurement(name="war", value=war(y_true, y_pred), higher_is_better=True, averaging="micro (accuracy)", n=n),
        Measurement(
            name="uar", value=uar(y_true, y_pred), higher_is_better=True, averaging="macro over present classes", n=n
        ),
    ]
    for lbl, rec in per_class_recall(y_true, y_pred, CANONICAL_EMOTIONS).items():
        measurements.append(
            Measurement(
                name="recall",
                value=rec,
                higher_is_better=True,
                averaging="per class",
                label=lbl,
                n=int(np.sum(y_true == lbl)),
            )
        )
    cm = confusion_matrix(y_true, y_pred, labels=list(CANONICAL_EMOTIONS))
    return EvalResult(
        evaluator="accuracy",
        status="ok",
        measurements=tuple(measurements),
        params=params,
        label_order=CANONICAL_EMOTIONS,
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
    )
