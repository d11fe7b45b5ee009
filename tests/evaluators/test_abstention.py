"""Calibration (ECE) and confidence-threshold abstention: hand-computed values, band flags and the split rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators import run_evaluator
from affectgate.evaluators.abstention import (
    abstention_curve,
    choose_threshold,
    cross_fitted_keep,
    expected_calibration_error,
    validation_mask,
    wilson_interval,
)
from affectgate.evaluators.plots import abstention_figure


def _table(conf: np.ndarray, correct: np.ndarray, **cols) -> pd.DataFrame:
    """Predictions whose top-1 probability is ``conf`` and whose pred is right where ``correct``."""
    n = len(conf)
    target = np.array([CANONICAL_EMOTIONS[i % 7] for i in range(n)], dtype=object)
    wrong = np.array([CANONICAL_EMOTIONS[(i + 1) % 7] for i in range(n)], dtype=object)
    frame = pd.DataFrame({"target": target, "pred": np.where(correct, target, wrong), "confidence": conf})
    for k, v in cols.items():
        frame[k] = v
    return frame


def _values(result) -> dict[str, float | None]:
    assert result.status == "ok", result.error
    return {m.name: m.value for m in result.measurements}


def test_ece_matches_a_hand_computed_example():
    """ECE over 15 bins: |acc - conf| weighted by bin share, summed (0.18 + 0.18 + 0.05 = 0.41)."""
    conf = np.array([0.95, 0.95, 0.55, 0.55, 0.25])
    correct = np.array([1, 0, 1, 1, 0], dtype=bool)
    # bins: 0.95 -> (14/15, 1]: acc 0.5, conf 0.95 -> 0.45 * 2/5; 0.55 -> (8/15, 9/15]: acc 1 -> 0.45 * 2/5;
    # 0.25 -> (3/15, 4/15]: acc 0 -> 0.25 * 1/5
    assert expected_calibration_error(confidence=conf, correct=correct) == pytest.approx(0.41)


def test_ece_bins_are_equal_width_and_right_closed():
    """Confidences in different 1/15-wide bins are not averaged together; 0 and 1 fall in the end bins."""
    # 0.6 and 0.7 sit in different bins (9 and 10): each bin is off by its own confidence
    conf, correct = np.array([0.6, 0.7]), np.array([False, True])
    assert expected_calibration_error(confidence=conf, correct=correct) == pytest.approx(0.5 * 0.6 + 0.5 * 0.3)
    # with 1 bin they are averaged: |0.5 - 0.65|
    assert expected_calibration_error(confidence=conf, correct=correct, bins=1) == pytest.approx(0.15)
    assert expected_calibration_error(confidence=np.array([0.0, 1.0]), correct=np.array([False, True])) == 0.0


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=100))
@settings(max_examples=100, deadline=None)
def test_ece_is_bounded_and_order_invariant(data):
    """ECE lies in [0, 1] and does not depend on row order."""
    conf = np.array([c for c, _ in data])
    correct = np.array([k for _, k in data])
    value = expected_calibration_error(confidence=conf, correct=correct)
    assert 0.0 <= value <= 1.0
    perm = np.random.default_rng(0).permutation(len(conf))
    assert expected_calibration_error(confidence=conf[perm], correct=correct[perm]) == pytest.approx(value)


def test_ece_of_a_calibrated_model_is_small():
    """Rows right with probability equal to their confidence give an ECE close to 0; overconfidence does not."""
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.2, 1.0, size=20000)
    correct = rng.random(20000) < conf
    assert expected_calibration_error(confidence=conf, correct=correct) < 0.02
    assert expected_calibration_error(confidence=np.minimum(conf + 0.2, 1.0), correct=correct) > 0.15


def test_threshold_hits_the_target_rejection_on_validation():
    """On 200 distinct confidences the chosen threshold rejects exactly 15 (7.5 %) of them."""
    conf = np.random.default_rng(1).permutation(np.linspace(0.3, 0.99, 200))
    t = choose_threshold(confidence=conf, target_rejection=0.075)
    assert np.mean(conf < t) == pytest.approx(0.075)
    assert choose_threshold(confidence=conf, target_rejection=0.0) == conf.min()  # reject nothing


def test_evaluator_uses_validation_rows_and_measures_on_test_rows():
    """Threshold from split=='validation' rows; rejection, coverage and selective accuracy from the other rows."""
    rng = np.random.default_rng(2)
    n = 400
    conf = rng.uniform(0.2, 1.0, size=n)
    correct = rng.random(n) < conf
    split = np.where(np.arange(n) < 200, "validation", "test")
    result = run_evaluator(name="abstention", predictions=_table(conf, correct, split=split), params={})
    v = _values(result)
    t = v["abstention.threshold"]
    val, test = conf[:200], conf[200:]
    assert np.mean(val < t) == pytest.approx(0.075)
    keep = test >= t
    assert v["abstention.rejection_rate"] == pytest.approx(1 - keep.mean())
    assert v["abstention.coverage"] == pytest.approx(keep.mean())
    assert v["abstention.selective_accuracy"] == pytest.approx(correct[200:][keep].mean())
    assert v["abstention.selective_accuracy"] > correct[200:].mean()  # abstaining on low confidence helps
    assert v["ece"] == pytest.approx(expected_calibration_error(confidence=conf, correct=correct))
    assert v["abstention.out_of_band"] == float(not 0.05 <= v["abstention.rejection_rate"] <= 0.10)
    assert result.params["validation_rows"] == "split == 'validation'"


def test_a_model_that_never_abstains_is_flagged():
    """A model whose confidence is always 1.0 rejects nothing on test: rejection 0 and out_of_band = 1."""
    n = 100
    result = run_evaluator(
        name="abstention",
        predictions=_table(np.ones(n), np.arange(n) % 3 > 0, subject_id=[f"s{i % 10}" for i in range(n)]),
        params={"target_rejection": 0.075},
    )
    v = _values(result)
    assert v["abstention.rejection_rate"] == 0.0 and v["abstention.coverage"] == 1.0
    assert v["abstention.out_of_band"] == 1.0
    assert v["ece"] == pytest.approx(1 / 3, abs=0.01)


def test_a_model_that_abstains_too_often_is_flagged():
    """When test confidences sit below the validation threshold, the test rejection rate leaves the band."""
    conf = np.concatenate([np.linspace(0.5, 0.99, 100), np.full(100, 0.4)])
    split = ["validation"] * 100 + ["test"] * 100
    v = _values(run_evaluator(name="abstention", predictions=_table(conf, conf > 0.6, split=split), params={}))
    assert v["abstention.rejection_rate"] == 1.0
    assert v["abstention.selective_accuracy"] is None
    assert v["abstention.out_of_band"] == 1.0


def test_validation_half_is_subject_disjoint_and_seeded():
    """Without a split column half of the subjects validate, none of them also in test; the seed fixes the half."""
    frame = _table(np.full(60, 0.5), np.ones(60, bool), subject_id=[f"s{i % 12}" for i in range(60)])
    mask, how = validation_mask(predictions=frame, seed=3)
    val_subjects = set(frame["subject_id"][mask])
    assert len(val_subjects) == 6 and val_subjects.isdisjoint(set(frame["subject_id"][~mask]))
    assert "subjects" in how
    again, _ = validation_mask(predictions=frame, seed=3)
    assert np.array_equal(mask, again)
    assert not np.array_equal(mask, validation_mask(predictions=frame, seed=4)[0])
    result = run_evaluator(name="abstention", predictions=frame, params={"seed": 3, "folds": 1})
    assert "half of the subjects" in str(result.params["validation_rows"])


def test_cross_fitted_threshold_scores_every_row_once_without_its_subject():
    """By default (subjects, no validation split) every row is a test row, thresholded without its own subject."""
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 200)
    frame = _table(conf, conf > 0.5, subject_id=[f"s{i % 20}" for i in range(200)])
    result = run_evaluator(name="abstention", predictions=frame, params={"seed": 1})
    v = _values(result)
    rate = next(m for m in result.measurements if m.name == "abstention.rejection_rate")
    assert rate.n == 200 and "cross-fitted over 5" in str(result.params["validation_rows"])
    assert 0.02 < v["abstention.rejection_rate"] < 0.15  # target 0.075 on i.i.d. confidences
    assert rate.ci_low is not None and rate.ci_low <= v["abstention.rejection_rate"] <= rate.ci_high
    keep, threshold, _ = cross_fitted_keep(
        confidence=conf, subjects=frame["subject_id"].to_numpy(), target=0.075, folds=5, seed=1
    )
    assert threshold == pytest.approx(v["abstention.threshold"])
    assert 1 - keep.mean() == pytest.approx(v["abstention.rejection_rate"])


def test_wilson_interval_matches_statsmodels_formula():
    """Hand check: 10 of 100 -> (0.0552, 0.1744) (Wilson 1927)."""
    lo, hi = wilson_interval(successes=10, n=100)
    assert lo == pytest.approx(0.05523, abs=1e-4) and hi == pytest.approx(0.17437, abs=1e-4)
    assert wilson_interval(successes=0, n=0) == (None, None)


def test_confidence_falls_back_to_probability_columns():
    """Without a confidence column the top-1 confidence is the largest p_<label>."""
    frame = _table(np.zeros(4), np.ones(4, bool), split=["validation", "validation", "test", "test"]).drop(
        columns="confidence"
    )
    probs = np.array([[0.9] + [0.1 / 6] * 6, [0.5] + [0.5 / 6] * 6, [0.7] + [0.3 / 6] * 6, [0.3] + [0.7 / 6] * 6])
    for j, lbl in enumerate(CANONICAL_EMOTIONS):
        frame[f"p_{lbl}"] = probs[:, j]
    v = _values(run_evaluator(name="abstention", predictions=frame, params={"target_rejection": 0.06}))
    assert v["ece"] == pytest.approx(expected_calibration_error(confidence=probs.max(axis=1), correct=np.ones(4)))


def test_bad_band_and_missing_columns_are_failed_results():
    """A band that does not contain the target, or a table without confidences, is a failed result naming why."""
    frame = _table(np.full(10, 0.5), np.ones(10, bool))
    bad = run_evaluator(name="abstention", predictions=frame, params={"target_rejection": 0.2})
    assert bad.status == "failed" and "rejection_max" in (bad.error or "")
    none = run_evaluator(name="abstention", predictions=frame.drop(columns="confidence"), params={})
    assert none.status == "failed" and "confidence" in (none.error or "")


def test_abstention_curve_and_figure():
    """The curve runs from no rejection upward, selective accuracy rises as low-confidence errors go; it plots."""
    conf = np.linspace(0.1, 1.0, 100)
    correct = conf > 0.3
    curve = abstention_curve(confidence=conf, correct=correct)
    assert curve["rejection_rate"].iloc[0] == 0.0
    assert curve["rejection_rate"].is_monotonic_increasing
    assert curve["selective_accuracy"].is_monotonic_increasing
    assert curve["selective_accuracy"].iloc[-1] == 1.0
    fig = abstention_figure(curve)
    assert list(fig.data[0].x) == curve["rejection_rate"].tolist()
