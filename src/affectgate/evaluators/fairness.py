"""Fairness with Fairlearn's MetricFrame: accuracy and UAR per group, max gap and min ratio per attribute.

Groups with fewer than ``min_group_size`` clips or fewer than ``min_group_subjects`` distinct subjects
(one person's clips are not independent evidence about a group) are reported but excluded from the
gap (too small to judge);
``fairness.small_groups`` counts such groups of the gated attributes, so the policy can call the
finding inconclusive. Every gap carries a bootstrap confidence interval resampled by subject (clips
of one person are not independent). ``fairness.accuracy_max_gap`` is the largest gap over the
*gated* attributes (default: the ethnicity-like ``skin_tone_group``, as the brief's per-ethnicity
threshold); its interval is ``[max of the gated lower bounds, max of the gated upper bounds]`` (the
largest gap is at least the largest lower bound and at most the largest upper bound) and is missing
when any gated attribute's interval is. The other attributes are measured and reported.

Without subject ids (DFEW and FERV39k as released: no ``subject_id`` column in the predictions) the
bootstrap resamples clips, each clip its own cluster, and every interval says so in its ``averaging``.
Without any group attribute (none of the requested attributes in the predictions: a release with no
demographics) fairness is *unjudgeable*: the result is ``skipped`` with ``fairness.unjudgeable`` = 1
and the reason (how to add a ``metadata.csv`` sidecar); the quality policy sends that to human review.

The policy judges the interval, not the point estimate (three states: within tolerance when the
upper bound is below the threshold, exceeds when the lower bound is at or above it, inconclusive
otherwise); see ``policies/quality/pack.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from affectgate.core.records import EvalResult, Measurement
from affectgate.evaluators.accuracy import uar, war
from affectgate.evaluators.registry import register_evaluator

DEFAULT_ATTRIBUTES = ("skin_tone_group", "sex", "age_band")
DEFAULT_GATED = ("skin_tone_group",)
#: The interval's resampling unit when the predictions carry no subject ids.
CLIP_CLUSTERS = "clip bootstrap: no subject ids, each clip its own cluster (may be too narrow)"
UNJUDGEABLE_FIX = (
    "add a metadata.csv sidecar in the dataset root (one row per clip: video_name or sample_id, subject_id, "
    "skin_tone_group, sex, age_band, consent_basis; docs/datasets.md) and gate again"
)


#: Bootstrap resamples are drawn and scored in blocks of at most this many (resample, subject) cells.
_BLOCK_CELLS = 2_000_000


def bootstrap_gap_ci(
    *,
    scores: np.ndarray,
    groups: np.ndarray,
    subjects: np.ndarray,
    judged: list[str],
    resamples: int,
    seed: int,
    level: float = 0.95,
) -> tuple[float | None, float | None]:
    """Percentile CI of the max-min gap of group mean ``scores``, resampling whole subjects with replacement.

    ``scores`` is one value per row: 1/0 for a correct/wrong clip (the gap is an accuracy gap) or an
    absolute error (an error gap).

    Each resample draws ``len(subjects)`` subject indices (``default_rng(seed)``, one resample after the
    other); its gap is max minus min accuracy over the ``judged`` groups present in it, and a resample
    with fewer than two of them has no gap (the CI is None when none or over half have none). Vectorised: clips
    and correct clips are counted once per (subject, group); a resample is a vector of subject
    multiplicities, so its per-group counts are one matrix product. For 0/1 scores the counts are integers,
    so every group accuracy is exactly the per-resample ``scores[rows].mean()`` (tested against that loop).
    """
    uniq, inverse = np.unique(subjects, return_inverse=True)
    if len(uniq) < 2 or resamples <= 0:
        return None, None
    n_subjects, n_groups = len(uniq), len(judged)
    group_of = pd.Index(judged, dtype=object).get_indexer(np.asarray(groups, dtype=object))
    keep = group_of >= 0  # clips of groups not judged never enter a gap
    cell = inverse[keep] * n_groups + group_of[keep]
    clips = np.bincount(cell, minlength=n_subjects * n_groups).reshape(n_subjects, n_groups).astype(np.float64)
    hits = np.bincount(cell, weights=np.asarray(scores, dtype=np.float64)[keep], minlength=n_subjects * n_groups)
    hits = hits.reshape(n_subjects, n_groups)
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // n_subjects)
    gaps = np.empty(resamples, dtype=np.float64)
    for first in range(0, resamples, block):
        size = min(block, resamples - first)
        pick = rng.integers(0, n_subjects, size=(size, n_subjects))  # the same draws as `size` calls in turn
        rows = (np.arange(size)[:, None] * n_subjects + pick).ravel()
        weight = np.bincount(rows, minlength=size * n_subjects).reshape(size, n_subjects).astype(np.float64)
        count, right = weight @ clips, weight @ hits  # (size, groups) clips and correct clips per resample
        present = count > 0
        acc = right / np.where(present, count, 1.0)
        high = np.where(present, acc, -np.inf).max(axis=1)
        low = np.where(present, acc, np.inf).min(axis=1)
        gaps[first : first + size] = np.where(present.sum(axis=1) >= 2, high - low, np.nan)
    gaps = gaps[~np.isnan(gaps)]
    if len(gaps) == 0 or len(gaps) < resamples // 2:
        return None, None
    alpha = (1 - level) / 2
    return float(np.quantile(gaps, alpha)), float(np.quantile(gaps, 1 - alpha))


def _war(y_true: pd.Series, y_pred: pd.Series) -> float:
    return war(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object))


def _uar(y_true: pd.Series, y_pred: pd.Series) -> float:
    return uar(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object))


def finding(*, gap: float, ci: tuple[float | None, float | None], threshold: float) -> str:
    """The three-state finding: 'exceeds' (CI lower bound >= threshold), 'within' (upper bound below it), else
    'inconclusive' (the interval straddles the threshold, or there is no interval: groups too small)."""
    lo, hi = ci
    if np.isnan(gap) or lo is None or hi is None:
        return "inconclusive"
    if lo >= threshold:
        return "exceeds"
    return "within" if hi < threshold else "inconclusive"


def finding_measurement(
    *,
    attr: str,
    gap: float,
    ci: tuple[float | None, float | None],
    threshold: float,
    kind: str = "accuracy",
    unit: str = "accuracy",
    resampling: str = "subject-bootstrap",
) -> Measurement:
    """``fairness.finding.<attr>`` (``fairness.<kind>_finding.<attr>`` for another gap kind) with the state as
    its label (value 1.0) and the threshold in ``averaging``."""
    return Measurement(
        name=f"fairness.finding.{attr}" if kind == "accuracy" else f"fairness.{kind}_finding.{attr}",
        value=1.0,
        higher_is_better=False,
        averaging=f"{unit} gap vs threshold {threshold} on the 95% {resampling} CI",
        label=finding(gap=gap, ci=ci, threshold=threshold),
        n=0,
        ci_low=ci[0],
        ci_high=ci[1],
    )


class UnjudgeableGap(ValueError):
    """No gated attribute has two groups large enough to judge (``small_groups`` were too small)."""

    def __init__(self, message: str, *, small_groups: int) -> None:
        super().__init__(message)
        self.small_groups = small_groups


@dataclass(frozen=True)
class GapSpec:
    """What a gap is measured on: a per-row ``scores`` column whose group mean is the judged metric.

    ``kind`` names the gap (``fairness.<kind>_max_gap``): ``accuracy`` (scores = 1 for a correct clip,
    higher is better) or ``error`` (scores = absolute error, lower is better). ``per_group`` are the
    Fairlearn MetricFrame metrics reported per group (name -> (function, higher_is_better, averaging));
    ``judged`` is the one of them whose max - min is the gap.
    """

    kind: str
    per_group: dict[str, tuple[Callable[[Any, Any], float], bool, str]]
    judged: str
    label: str | None = None
    unit: str = "accuracy"


def group_gap_measurements(
    *,
    predictions: pd.DataFrame,
    y_true: pd.Series,
    y_pred: pd.Series,
    scores: np.ndarray,
    spec: GapSpec,
    attributes: tuple[str, ...],
    gated: tuple[str, ...],
    min_size: int,
    min_subjects: int,
    resamples: int,
    seed: int,
    threshold: float | None,
) -> list[Measurement]:
    """Per-group metrics, per-attribute gap with its subject-bootstrap CI, the gated overall gap and small groups.

    Shared by the accuracy gap (``fairness`` evaluator) and the error gap of regression outputs
    (``engagement`` evaluator). Raises ValueError when no gated attribute has two groups large enough
    to judge (fail closed: no gap, no pass).
    """
    kind = spec.kind
    measurements: list[Measurement] = []
    overall_gap, worst_attr = -1.0, ""
    gated_cis: list[tuple[float | None, float | None]] = []
    small_groups = 0
    has_subjects = "subject_id" in predictions.columns
    subjects = (
        predictions["subject_id"].astype(str).to_numpy() if has_subjects else np.arange(len(predictions)).astype(str)
    )
    resampling = "subject bootstrap" if has_subjects else CLIP_CLUSTERS
    rule = f"groups with n >= {min_size} rows and >= {min_subjects} subjects"
    metrics = {name: fn for name, (fn, _, _) in spec.per_group.items()}
    for attr in dict.fromkeys((*attributes, *gated)):
        groups = predictions[attr].astype(str)
        frame = MetricFrame(
            metrics={**metrics, "n": lambda t, p: float(len(t))},
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups.rename(attr),
        )
        by_group = frame.by_group
        n_subjects = pd.Series(subjects, index=groups.index).groupby(groups).nunique()
        big_enough = (by_group["n"] >= min_size) & (n_subjects.reindex(by_group.index).fillna(0) >= min_subjects)
        judged = by_group[big_enough]
        if attr in gated:
            small_groups += int((~big_enough).sum())
        for group, row in by_group.iterrows():
            for metric, (_, higher, averaging) in spec.per_group.items():
                measurements.append(
                    Measurement(
                        name=metric,
                        value=float(row[metric]),
                        higher_is_better=higher,
                        averaging=averaging,
                        group=f"{attr}={group}",
                        label=spec.label,
                        n=int(row["n"]),
                    )
                )
        values = judged[spec.judged]
        gap = float(values.max() - values.min()) if len(judged) >= 2 else float("nan")
        ci_low, ci_high = (
            (None, None)
            if np.isnan(gap)
            else bootstrap_gap_ci(
                scores=scores,
                groups=groups.to_numpy(),
                subjects=subjects,
                judged=[str(g) for g in judged.index],
                resamples=resamples,
                seed=seed,
            )
        )
        measurements.append(
            Measurement(
                name=f"fairness.{kind}_max_gap.{attr}",
                value=None if np.isnan(gap) else gap,
                higher_is_better=False,
                averaging=f"max - min {spec.judged} over {rule}; 95% CI: {resampling}",
                n=int(judged["n"].sum()),
                ci_low=ci_low,
                ci_high=ci_high,
            )
        )
        if spec.per_group[spec.judged][1]:  # a ratio of scores where higher is better (accuracy)
            ratio = float("nan") if len(judged) < 2 else float(values.min() / values.max()) if values.max() > 0 else 0.0
            measurements.append(
                Measurement(
                    name=f"fairness.{kind}_min_ratio.{attr}",
                    value=None if np.isnan(ratio) else ratio,
                    higher_is_better=True,
                    averaging=f"min / max {spec.judged} over {rule}",
                    n=int(judged["n"].sum()),
                )
            )
        if threshold is not None:
            measurements.append(
                finding_measurement(
                    attr=attr,
                    gap=gap,
                    ci=(ci_low, ci_high),
                    threshold=threshold,
                    kind=kind,
                    unit=spec.unit,
                    resampling="subject-bootstrap" if has_subjects else CLIP_CLUSTERS,
                )
            )
        if attr in gated and not np.isnan(gap):
            gated_cis.append((ci_low, ci_high))
            if gap > overall_gap:
                overall_gap, worst_attr = gap, attr
    if overall_gap < 0:
        raise UnjudgeableGap(
            f"no gated attribute ({', '.join(gated)}) has two groups of at least {min_size} rows and "
            f"{min_subjects} subjects; fairness cannot be judged",
            small_groups=small_groups,
        )
    complete = all(lo is not None and hi is not None for lo, hi in gated_cis)
    small_name = "fairness.small_groups" if kind == "accuracy" else f"fairness.{kind}_small_groups"
    return [
        *measurements,
        Measurement(
            name=f"fairness.{kind}_max_gap",
            value=overall_gap,
            higher_is_better=False,
            averaging=f"max over gated attributes ({', '.join(gated)}); worst: {worst_attr}; 95% CI: "
            f"[max lower, max upper] of the gated intervals of {spec.judged} ({resampling})",
            n=len(predictions),
            ci_low=max(lo for lo, _ in gated_cis) if complete else None,  # type: ignore[type-var]
            ci_high=max(hi for _, hi in gated_cis) if complete else None,  # type: ignore[type-var]
        ),
        Measurement(
            name=small_name,
            value=float(small_groups),
            higher_is_better=False,
            averaging=f"groups of the gated attributes with fewer than {min_size} rows or {min_subjects} subjects "
            "(excluded from the gap)",
            n=len(predictions),
        ),
    ]


def gap_params(params: dict[str, Any]) -> dict[str, Any]:
    """The group-gap parameters with their defaults (shared by the accuracy and the error gap)."""
    threshold = params.get("threshold")
    return {
        "attributes": tuple(params.get("attributes") or DEFAULT_ATTRIBUTES),
        "gated": tuple(params.get("gated_attributes") or DEFAULT_GATED),
        "min_size": int(params.get("min_group_size", 5)),
        "min_subjects": int(params.get("min_group_subjects", 3)),
        "resamples": int(params.get("bootstrap_resamples", 500)),
        "seed": int(params.get("seed", 0)),
        "threshold": None if threshold is None else float(threshold),
    }


def missing_attributes(predictions: pd.DataFrame, names: tuple[str, ...]) -> None:
    """Fail when a group attribute is not in the predictions (the dataset's metadata lacks it)."""
    missing = [a for a in names if a not in predictions.columns]
    if missing:
        raise ValueError(
            f"group attributes {missing} are not in the predictions; the dataset needs them in metadata.csv"
        )


ACCURACY_GAP = GapSpec(
    kind="accuracy",
    per_group={
        "accuracy": (lambda t, p: _war(t, p), True, "micro"),
        "uar": (lambda t, p: _uar(t, p), True, "macro over present classes"),
    },
    judged="accuracy",
)


def unjudgeable_result(*, predictions: pd.DataFrame, params: dict[str, Any], wanted: tuple[str, ...]) -> EvalResult:
    """``skipped`` with ``fairness.unjudgeable`` = 1: the data carry none of the group attributes (never a pass)."""
    listed = ", ".join(dict.fromkeys(wanted))
    return EvalResult(
        evaluator="fairness",
        status="skipped",
        error=f"fairness unjudgeable: the data carry none of the group attributes ({listed}); {UNJUDGEABLE_FIX}",
        measurements=(
            Measurement(
                name="fairness.unjudgeable",
                value=1.0,
                higher_is_better=False,
                averaging=f"1 = no group attribute ({listed}) in the data: no gap can be measured",
                n=len(predictions),
            ),
        ),
        params={k: v for k, v in params.items() if isinstance(v, float | int | str | bool | list) or v is None},
    )


@register_evaluator("fairness")
def evaluate_fairness(*, predictions: pd.DataFrame, params: dict[str, Any]) -> EvalResult:
    """Per-group accuracy and UAR per sensitive attribute; gap = max minus min over judged groups."""
    gp = gap_params(params)
    attributes = gp["attributes"]
    intersections = tuple(params.get("intersections") or ())
    wanted = (*attributes, *gp["gated"], *(p for i in intersections for p in i.split("*")))
    if not any(a in predictions.columns for a in wanted):
        return unjudgeable_result(predictions=predictions, params=params, wanted=wanted)
    missing_attributes(predictions, (*attributes, *gp["gated"], *(p for i in intersections for p in i.split("*"))))
    if intersections:  # "a*b" -> a column of "value_a & value_b", measured like any attribute (never gated)
        predictions = predictions.copy()
        for inter in intersections:
            parts = inter.split("*")
            predictions[inter] = predictions[parts].astype(str).agg(" & ".join, axis=1)
        attributes = (*attributes, *intersections)
    correct = predictions["target"].to_numpy(dtype=object) == predictions["pred"].to_numpy(dtype=object)
    measurements = group_gap_measurements(
        predictions=predictions,
        y_true=predictions["target"],
        y_pred=predictions["pred"],
        scores=correct,
        spec=ACCURACY_GAP,
        **{**gp, "attributes": attributes},
    )
    return EvalResult(
        evaluator="fairness",
        status="ok",
        measurements=tuple(measurements),
        params={
            "attributes": list(attributes),
            "gated_attributes": list(gp["gated"]),
            "min_group_size": gp["min_size"],
            "min_group_subjects": gp["min_subjects"],
            "bootstrap_resamples": gp["resamples"],
            "seed": gp["seed"],
            "threshold": gp["threshold"],
            "intersections": list(intersections),
        },
    )
