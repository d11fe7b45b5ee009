"""Figures and tables of evaluator results: confusion matrix, abstention curve, robustness deltas.

Pure presentation: every number comes from an :class:`EvalResult` (or the curve data of
:func:`affectgate.evaluators.abstention.abstention_curve`); nothing here computes a metric.
Plotly figures serve the dashboard; :func:`write_confusion_png` writes a matplotlib PNG for the MLflow run.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from affectgate.core.records import EvalResult

_GROUP = re.compile(r"^corruption=(?P<corruption>[^,]+),severity=(?P<severity>\d+)$")


def _confusion(result: EvalResult) -> tuple[np.ndarray, list[str]]:
    if result.confusion is None or not result.label_order:
        raise ValueError(f"evaluator result {result.evaluator!r} ({result.status}) has no confusion matrix")
    cm = np.asarray(result.confusion, dtype=np.int64)
    labels = list(result.label_order)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(labels)} labels")
    return cm, labels


def _row_share(cm: np.ndarray) -> np.ndarray:
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)


def confusion_figure(result: EvalResult) -> go.Figure:
    """Heatmap of the confusion matrix (rows = true, columns = predicted), coloured by row share, counts as text."""
    cm, labels = _confusion(result)
    share = _row_share(cm)
    text = [[f"{cm[i, j]}<br>{share[i, j]:.0%}" for j in range(len(labels))] for i in range(len(labels))]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": "share of true class"},
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Confusion matrix ({int(cm.sum())} clips; rows = true class)",
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis={"autorange": "reversed"},
    )
    return fig


def write_confusion_png(result: EvalResult, path: Path) -> Path:
    """Write the confusion matrix as a PNG (matplotlib, Agg backend) for the MLflow run; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cm, labels = _confusion(result)
    share = _row_share(cm)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)), dpi=100)
    try:
        im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"Confusion matrix ({int(cm.sum())} clips)")
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black")
        fig.colorbar(im, ax=ax, label="share of true class")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def abstention_figure(curve: pd.DataFrame, *, band: tuple[float, float] = (0.05, 0.10)) -> go.Figure:
    """Selective accuracy vs rejection rate (from ``abstention_curve``), with the target band shaded."""
    missing = {"rejection_rate", "selective_accuracy"} - set(curve.columns)
    if missing:
        raise ValueError(f"abstention curve has no {sorted(missing)} columns")
    fig = go.Figure(
        go.Scatter(
            x=curve["rejection_rate"],
            y=curve["selective_accuracy"],
            mode="lines+markers",
            name="selective accuracy",
            customdata=curve[["threshold"]] if "threshold" in curve.columns else None,
            hovertemplate="rejection %{x:.1%}<br>accuracy %{y:.1%}"
            + ("<br>threshold %{customdata[0]:.3f}" if "threshold" in curve.columns else "")
            + "<extra></extra>",
        )
    )
    fig.add_vrect(x0=band[0], x1=band[1], fillcolor="green", opacity=0.12, line_width=0, annotation_text="target band")
    fig.update_layout(
        title="Abstention: accuracy on answered clips vs share abstained",
        xaxis={"title": "rejection rate", "tickformat": ".0%"},
        yaxis={"title": "selective accuracy", "tickformat": ".0%"},
    )
    return fig


def robustness_table(result: EvalResult) -> pd.DataFrame:
    """One row per (corruption, severity): corrupted ``war``, ``war_delta`` and ``n``, in report order."""
    rows: dict[tuple[str, int], dict[str, object]] = {}
    for m in result.measurements:
        if m.name not in ("robustness.war", "robustness.war_delta") or m.group is None:
            continue
        match = _GROUP.match(m.group)
        if match is None:
            raise ValueError(f"unexpected robustness group {m.group!r}")
        key = (match["corruption"], int(match["severity"]))
        row = rows.setdefault(key, {"corruption": key[0], "severity": key[1], "n": m.n})
        row["war" if m.name == "robustness.war" else "war_delta"] = m.value
    columns = ["corruption", "severity", "war", "war_delta", "n"]
    return pd.DataFrame(list(rows.values()), columns=columns)


def robustness_figure(result: EvalResult) -> go.Figure:
    """WAR delta (corrupted − clean) against severity, one line per corruption; below zero is worse."""
    table = robustness_table(result)
    fig = go.Figure()
    for name, sub in table.groupby("corruption", sort=False):
        sub = sub.sort_values("severity")
        fig.add_trace(go.Scatter(x=sub["severity"], y=sub["war_delta"], mode="lines+markers", name=str(name)))
    fig.add_hline(y=0.0, line_dash="dot", line_color="grey")
    fig.update_layout(
        title="Robustness: WAR change under corruption",
        xaxis={"title": "severity", "tickmode": "array", "tickvals": sorted(table["severity"].unique().tolist())},
        yaxis={"title": "WAR delta (corrupted - clean)", "tickformat": "+.0%"},
    )
    return fig
