"""Calibration and abstention: ECE, and a confidence threshold for a target rejection rate.

* ``ece``: expected calibration error of the top-1 confidence over all rows, 15 equal-width bins
  ``(k/15, (k+1)/15]`` (a confidence of exactly 0 falls in the first): the sum over bins of
  ``|accuracy − mean confidence| × share of rows``.
* The threshold ``t`` is chosen on **validation** rows so that the share of validation rows with a
  confidence below ``t`` (the abstentions) is as close as possible to ``target_rejection`` (default
  7.5 %); candidate thresholds are the lowest confidence (reject nothing) and the midpoints between
  consecutive distinct confidences. Validation rows are those with ``split == "validation"`` when
  the table has such rows; otherwise a seeded half of the subjects (``subject_id``; subject-disjoint)
  or, without subject ids, a seeded half of the rows. ``params["validation_rows"]`` says which.
* Without validation rows but with ``subject_id``, the threshold procedure is **cross-fitted** over
  ``folds`` (default 5) subject-disjoint folds: each row is scored against a threshold chosen on the
  other folds' subjects, so every row is a test row once (less variance than a single half); the
  threshold reported (to deploy) is chosen on all rows. ``folds: 1`` restores the single half.
* On the remaining **test** rows: ``abstention.rejection_rate`` (share with confidence < t),
  ``abstention.coverage`` (1 − rejection), ``abstention.selective_accuracy`` (accuracy on the kept
  rows) and ``abstention.out_of_band`` = 1.0 when the test rejection rate is outside
  ``[rejection_min, rejection_max]`` (default 5–10 %): a model that never abstains, or abstains
  too often, is flagged.

The confidence is the ``confidence`` column when present, else the largest ``p_<label>`` column.
:func:`abstention_curve` gives rejection rate vs selective accuracy for a plot (``plots.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from affectgate.core.records import EvalResult, Measurement
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators.registry import register_evaluator

ECE_BINS = 15
DEFAULT_TARGET = 0.075
DEFAULT_MIN = 0.05
DEFAULT_MAX = 0.10


def expected_calibration_error(*, confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with ``bins`` equal-width bins over (0, 1]: sum of |acc − conf| weighted by the bin's share of rows."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    if conf.shape != hit.shape:
        raise ValueError(f"confidence {conf.shape} and correct {hit.shape} differ in shape")
    if len(conf) == 0:
        return float("nan")
    if np.any(~np.isfinite(conf)) or np.any((conf < 0) | (conf > 1)):
        raise ValueError("confidences must be finite and in [0, 1]")
    # bin k holds (k/bins, (k+1)/bins]: the number of inner edges strictly below the confidence; 0 goes to bin 0
    idx = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], conf, side="left")
    ece = 0.0
    for k in range(bins):
        in_bin = idx == k
        if in_bin.any():
            ece += in_bin.mean() * abs(hit[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


def confidence_of(predictions: pd.DataFrame) -> np.ndarray:
    """Top-1 confidence per row: ``confidence`` when present, else the max over the ``p_<label>`` columns."""
    if "confidence" in predictions.columns:
        conf = pd.to_numeric(predictions["confidence"], errors="coerce").to_numpy(dtype=np.float64)
    else:
        cols = [f"p_{lbl}" for lbl in CANONICAL_EMOTIONS if f"p_{lbl}" in predictions.columns]
        if not cols:
            raise ValueError("the predictions have no confidence or p_<label> probability columns")
        conf = predictions[cols].to_numpy(dtype=np.float64).max(axis=1)
    if np.any(~np.isfinite(conf)) or np.any((conf < 0) | (conf > 1 + 1e-6)):
        raise ValueError("confidences must be finite and in [0, 1]")
    return np.minimum(conf, 1.0)


def correct_of(predictions: pd.DataFrame) -> np.ndarray:
    """Whether each row's ``pred`` equals its ``target``."""
    missing = [c for c in ("target", "pred") if c not in predictions.columns]
    if missing:
        raise ValueError(f"the predictions have no {missing[0]} column")
    return predictions["target"].to_numpy(dtype=object) == predictions["pred"].to_numpy(dtype=object)


def choose_threshold(*, confidence: np.ndarray, target_rejection: float) -> float:
    """Threshold ``t`` whose rejection share ``mean(confidence < t)`` is closest to ``target_rejection``.

    Candidates: the lowest confidence (rejects nothing) and midpoints of consecutive distinct values;
    on a tie the lower rejection wins (abstain no more than needed).
    """
    if not 0.0 <= target_rejection < 1.0:
        raise ValueError(f"target_rejection must be in [0, 1), got {target_rejection}")
    conf = np.sort(np.asarray(confidence, dtype=np.float64))
    if len(conf) == 0:
        raise ValueError("no validation rows to choose a threshold on")
    uniq = np.unique(conf)
    candidates = np.concatenate([uniq[:1], (uniq[:-1] + uniq[1:]) / 2.0])
    rejection = np.searchsorted(conf, candidates, side="left") / len(conf)
    best = int(np.argmin(np.abs(rejection - target_rejection)))  # argmin takes the first = lowest rejection
    return float(candidates[best])


def abstention_curve(*, confidence: np.ndarray, correct: np.ndarray, points: int = 21) -> pd.DataFrame:
    """Rejection rate vs selective accuracy when abstaining below each confidence quantile (for a plot).

    Columns ``rejection_rate``, ``threshold``, ``coverage``, ``selective_accuracy`` (NaN when every row is
    rejected), one row per target rejection in ``linspace(0, 0.95, points)``, deduplicated.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=bool)
    rows = []
    for target in np.linspace(0.0, 0.95, points):
        t = choose_threshold(confidence=conf, target_rejection=float(target))
        keep = conf >= t
        rows.append(
            {
                "rejection_rate": float(1 - keep.mean()),
                "threshold": t,
                "coverage": float(keep.mean()),
                "selective_accuracy": float(hit[keep].mean()) if keep.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows).drop_duplicates(subset=["threshold"]).reset_index(drop=True)


def validation_mask(*, predictions: pd.DataFrame, seed: int) -> tuple[np.ndarray, str]:
    """Which rows choose the threshold, and a description of how they were picked."""
    if "split" in predictions.columns:
        mask = (predictions["split"].astype(str) == "validation").to_numpy()
        if mask.any():
            if mask.all():
                raise ValueError("every row has split == 'validation'; there are no test rows")
            return mask, "split == 'validation'"
    rng = np.random.default_rng(seed)
    if "subject_id" in predictions.columns:
        subjects = predictions["subject_id"].astype(str).to_numpy()
        uniq = np.unique(subjects)
        if len(uniq) < 2:
            raise ValueError("a subject-disjoint validation half needs at least two subjects (subject_id)")
        chosen = rng.permutation(uniq)[: len(uniq) // 2]
        return np.isin(subjects, chosen), f"seeded half of the subjects ({len(chosen)} of {len(uniq)}, seed {seed})"
    if len(predictions) < 2:
        raise ValueError("a validation half needs at least two rows")
    mask = np.zeros(len(predictions), dtype=bool)
    mask[rng.permutation(len(predictions))[: len(predictions) // 2]] = True
    return mask, f"seeded half of the rows (no subject_id column: not subject-disjoint; seed {seed})"


def cross_fitted_keep(
    *, confidence: np.ndarray, subjects: np.ndarray, target: float, folds: int, seed: int
) -> tuple[np.ndarray, float, str]:
    """Rows kept (confidence >= the threshold chosen without their subjects), the all-rows threshold, how."""
    uniq = np.unique(subjects)
    if len(uniq) < 2:
        raise ValueError("cross-fitting the threshold needs at least two subjects (subject_id)")
    k = min(folds, len(uniq))
    fold_of = dict(zip(np.random.default_rng(seed).permutation(uniq), np.arange(len(uniq)) % k, strict=True))
    row_fold = np.asarray([fold_of[s] for s in subjects])
    keep = np.zeros(len(confidence), dtype=bool)
    for f in range(k):
        held = row_fold == f
        t = choose_threshold(confidence=confidence[~held], target_rejection=target)
        keep[held] = confidence[held] >= t
    threshold = choose_threshold(confidence=confidence, target_rejection=target)
    how = f"cross-fitted over {k} subject-disjoint folds (seed {seed}); threshold to deploy chosen on all rows"
    return keep, threshold, how


def wilson_interval(*, successes: int, n: int, z: float = 1.959963984540054) -> tuple[float | None, float | None]:
    """95% Wilson score interval of a proportion (None when n is 0)."""
    if n == 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@register_evaluator("abstention")
def evaluate_abstention(*, predictions: pd.DataFrame, params: dict[str, Any]) -> EvalResult:
    """ECE and confidence-threshold abstention: threshold from validation rows, rates measured on test rows."""
    target = float(params.get("target_rejection", DEFAULT_TARGET))
    low = float(params.get("rejection_min", DEFAULT_MIN))
    high = float(params.get("rejection_max", DEFAULT_MAX))
    seed = int(params.get("seed", 0))
    if not 0.0 <= low <= target <= high < 1.0:
        raise ValueError(
            f"need 0 <= rejection_min ({low}) <= target_rejection ({target}) <= rejection_max ({high}) < 1"
        )
    if len(predictions) == 0:
        raise ValueError("no predictions to evaluate")
    conf = confidence_of(predictions)
    correct = correct_of(predictions)
    has_validation = "split" in predictions.columns and (predictions["split"].astype(str) == "validation").any()
    n_folds = int(params.get("folds", 5))
    if not has_validation and "subject_id" in predictions.columns and n_folds >= 2:
        # Cross-fitting by subject: every row is a test row once, its threshold chosen on the other folds'
        # subjects; the deployed threshold is chosen on all rows. Less variance than one validation half.
        keep, threshold, how = cross_fitted_keep(
            confidence=conf,
            subjects=predictions["subject_id"].astype(str).to_numpy(),
            target=target,
            folds=n_folds,
            seed=seed,
        )
        val = np.ones(len(conf), dtype=bool)
        test_correct = correct
    else:
        val, how = validation_mask(predictions=predictions, seed=seed)
        threshold = choose_threshold(confidence=conf[val], target_rejection=target)
        test_conf, test_correct = conf[~val], correct[~val]
        keep = test_conf >= threshold
    n_test = int(len(keep))
    rejection = float(1.0 - keep.mean())
    selective = float(test_correct[keep].mean()) if keep.any() else None
    ci_low, ci_high = wilson_interval(successes=int((~keep).sum()), n=n_test)
    band = f"[{low:g}, {high:g}]"
    measurements = (
        Measurement(
            name="ece",
            value=expected_calibration_error(confidence=conf, correct=correct),
            higher_is_better=False,
            averaging=f"top-1 confidence, {ECE_BINS} equal-width bins, weighted by bin share; all rows",
            n=len(conf),
        ),
        Measurement(
            name="abstention.threshold",
            value=threshold,
            higher_is_better=False,
            averaging=f"abstain when confidence < threshold; chosen on {int(val.sum())} validation rows "
            f"for a {target:g} rejection rate",
            n=int(val.sum()),
        ),
        Measurement(
            name="abstention.rejection_rate",
            value=rejection,
            higher_is_better=False,
            averaging=f"share of test rows with confidence < threshold; band {band}; 95% Wilson CI"
            + ("" if "subject_id" in predictions.columns else " (no subject ids: each clip its own cluster)"),
            n=n_test,
            ci_low=ci_low,
            ci_high=ci_high,
        ),
        Measurement(
            name="abstention.coverage",
            value=1.0 - rejection,
            higher_is_better=True,
            averaging="share of test rows answered (1 - rejection rate)",
            n=n_test,
        ),
        Measurement(
            name="abstention.selective_accuracy",
            value=selective,
            higher_is_better=True,
            averaging="micro accuracy over the test rows answered",
            n=int(keep.sum()),
        ),
        Measurement(
            name="abstention.out_of_band",
            value=float(not low <= rejection <= high),
            higher_is_better=False,
            averaging=f"1.0 when the test rejection rate is outside {band} (never or too often abstains)",
            n=n_test,
        ),
    )
    return EvalResult(
        evaluator="abstention",
        status="ok",
        measurements=measurements,
        params={
            "target_rejection": target,
            "rejection_min": low,
            "rejection_max": high,
            "seed": seed,
            "ece_bins": ECE_BINS,
            "validation_rows": how,
            "folds": n_folds,
        },
    )
