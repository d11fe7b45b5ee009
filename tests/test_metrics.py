"""Accuracy and fairness evaluators against sklearn/fairlearn oracles and metric properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, recall_score

from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators import run_evaluator
from affectgate.evaluators.accuracy import uar, war

labels = st.sampled_from(CANONICAL_EMOTIONS)
pairs = st.lists(st.tuples(labels, labels), min_size=1, max_size=200)


def _frame(y_true, y_pred, **cols) -> pd.DataFrame:
    return pd.DataFrame({"target": list(y_true), "pred": list(y_pred), **cols})


@given(pairs)
@settings(max_examples=200, deadline=None)
def test_war_uar_match_sklearn(data):
    """WAR equals sklearn accuracy and UAR equals macro recall over the classes present in the targets."""
    y_true = np.array([t for t, _ in data], dtype=object)
    y_pred = np.array([p for _, p in data], dtype=object)
    assert war(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    present = sorted(set(y_true))
    expected = recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    assert uar(y_true, y_pred) == pytest.approx(expected)


@given(pairs)
@settings(max_examples=100, deadline=None)
def test_metrics_bounded_and_order_invariant(data):
    """WAR and UAR lie in [0, 1] and do not change when the samples are shuffled."""
    y_true = np.array([t for t, _ in data], dtype=object)
    y_pred = np.array([p for _, p in data], dtype=object)
    perm = np.random.default_rng(0).permutation(len(y_true))
    for fn in (war, uar):
        value = fn(y_true, y_pred)
        assert 0.0 <= value <= 1.0
        assert fn(y_true[perm], y_pred[perm]) == pytest.approx(value)


@given(st.integers(1, 6), st.data())
@settings(max_examples=50, deadline=None)
def test_uar_equals_war_on_balanced_data(per_class, data):
    """On data with the same number of clips per class UAR equals WAR."""
    y_true = np.array([lbl for lbl in CANONICAL_EMOTIONS for _ in range(per_class)], dtype=object)
    y_pred = np.array(data.draw(st.lists(labels, min_size=len(y_true), max_size=len(y_true))), dtype=object)
    assert uar(y_true, y_pred) == pytest.approx(war(y_true, y_pred))


def test_accuracy_evaluator_confusion_and_balanced_accuracy():
    """The accuracy evaluator's confusion matrix and UAR match sklearn in canonical label order."""
    rng = np.random.default_rng(3)
    y_true = rng.choice(CANONICAL_EMOTIONS, size=300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.choice(CANONICAL_EMOTIONS, size=300))
    result = run_evaluator(name="accuracy", predictions=_frame(y_true, y_pred), params={})
    assert result.status == "ok"
    assert result.label_order == CANONICAL_EMOTIONS
    cm = confusion_matrix(y_true, y_pred, labels=list(CANONICAL_EMOTIONS))
    assert np.array_equal(np.array(result.confusion), cm)
    by_name = {(m.name, m.label): m.value for m in result.measurements}
    assert by_name[("uar", None)] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert by_name[("war", None)] == pytest.approx(accuracy_score(y_true, y_pred))
    for i, lbl in enumerate(CANONICAL_EMOTIONS):
        assert by_name[("recall", lbl)] == pytest.approx(cm[i, i] / cm[i].sum())


def test_accuracy_evaluator_failure_is_data():
    """An evaluator crash (unknown target label) becomes a failed result naming the cause, not an exception."""
    result = run_evaluator(name="accuracy", predictions=_frame(["joy"], ["anger"]), params={})
    assert result.status == "failed"
    assert "joy" in (result.error or "")


def test_unknown_evaluator_is_a_failed_result_with_suggestion():
    """A misspelt evaluator name yields a failed result that suggests the registered name."""
    result = run_evaluator(name="acuracy", predictions=_frame(["anger"], ["anger"]), params={})
    assert result.status == "failed" and "accuracy" in (result.error or "")


def test_fairness_gap_matches_manual_group_accuracy():
    """The fairness evaluator's per-group accuracy and max gap equal a direct computation per group."""
    rng = np.random.default_rng(1)
    n = 400
    group = rng.choice(["tone_a", "tone_b", "tone_c"], size=n)
    y_true = rng.choice(CANONICAL_EMOTIONS, size=n)
    p_correct = np.where(group == "tone_c", 0.5, 0.85)
    y_pred = np.where(rng.random(n) < p_correct, y_true, rng.choice(CANONICAL_EMOTIONS, size=n))
    sex = rng.choice(["female", "male"], size=n)
    frame = _frame(y_true, y_pred, skin_tone_group=group, sex=sex, age_band=["30-44"] * n)
    result = run_evaluator(
        name="fairness",
        predictions=frame,
        params={
            "attributes": ["skin_tone_group", "sex"],
            "gated_attributes": ["skin_tone_group", "sex"],
            "min_group_size": 5,
            "bootstrap_resamples": 200,
        },
    )
    assert result.status == "ok", result.error
    acc = {g: accuracy_score(y_true[group == g], y_pred[group == g]) for g in ("tone_a", "tone_b", "tone_c")}
    values = {(m.name, m.group): m.value for m in result.measurements}
    for g, a in acc.items():
        assert values[("accuracy", f"skin_tone_group={g}")] == pytest.approx(a)
    expected_gap = max(acc.values()) - min(acc.values())
    assert values[("fairness.accuracy_max_gap.skin_tone_group", None)] == pytest.approx(expected_gap)
    sex_acc = [accuracy_score(y_true[sex == s], y_pred[sex == s]) for s in ("female", "male")]
    overall = max(expected_gap, max(sex_acc) - min(sex_acc))
    assert values[("fairness.accuracy_max_gap", None)] == pytest.approx(overall)
    gap = next(m for m in result.measurements if m.name == "fairness.accuracy_max_gap.skin_tone_group")
    assert gap.ci_low is not None and gap.ci_high is not None
    assert gap.ci_low <= gap.value <= gap.ci_high
    # the overall interval bounds the largest gap: [max of gated lower bounds, max of gated upper bounds]
    by_name = {m.name: m for m in result.measurements if m.group is None}
    gated = [by_name["fairness.accuracy_max_gap.skin_tone_group"], by_name["fairness.accuracy_max_gap.sex"]]
    overall_m = by_name["fairness.accuracy_max_gap"]
    assert overall_m.ci_low == max(m.ci_low for m in gated) and overall_m.ci_high == max(m.ci_high for m in gated)
    assert values[("fairness.small_groups", None)] == 0


def test_fairness_counts_gated_groups_too_small_to_judge():
    """A gated group below min_group_size is left out of the gap and counted in fairness.small_groups."""
    rng = np.random.default_rng(2)
    n = 200
    group = np.array(["tone_a"] * 100 + ["tone_b"] * 97 + ["tone_c"] * 3)
    y_true = rng.choice(CANONICAL_EMOTIONS, size=n)
    frame = _frame(y_true, y_true, skin_tone_group=group, sex=["male"] * n, age_band=["30-44"] * n)
    result = run_evaluator(
        name="fairness",
        predictions=frame,
        params={"attributes": ["skin_tone_group"], "min_group_size": 5, "bootstrap_resamples": 50},
    )
    values = {(m.name, m.group): m.value for m in result.measurements}
    assert values[("fairness.small_groups", None)] == 1
    assert values[("accuracy", "skin_tone_group=tone_c")] == 1.0  # reported, not judged


def test_fairness_group_of_one_subject_is_too_small_whatever_its_clip_count():
    """80 clips of ONE person are not evidence about a group: below min_group_subjects it is not judged."""
    rng = np.random.default_rng(3)
    group = np.array(["tone_a"] * 100 + ["tone_b"] * 100 + ["tone_c"] * 80)
    subject = np.array([f"a{i % 10}" for i in range(100)] + [f"b{i % 10}" for i in range(100)] + ["c0"] * 80)
    y_true = rng.choice(CANONICAL_EMOTIONS, size=len(group))
    y_pred = np.where(group == "tone_c", rng.choice(CANONICAL_EMOTIONS, size=len(group)), y_true)
    frame = _frame(
        y_true, y_pred, skin_tone_group=group, subject_id=subject, sex=["male"] * 280, age_band=["30-44"] * 280
    )
    params = {
        "attributes": ["skin_tone_group"],
        "min_group_size": 5,
        "min_group_subjects": 3,
        "bootstrap_resamples": 50,
    }
    values = {
        (m.name, m.group): m.value
        for m in run_evaluator(name="fairness", predictions=frame, params=params).measurements
    }
    assert values[("fairness.small_groups", None)] == 1
    assert values[("fairness.accuracy_max_gap", None)] == 0.0  # tone_a vs tone_b only
    params["min_group_subjects"] = 1
    values = {
        (m.name, m.group): m.value
        for m in run_evaluator(name="fairness", predictions=frame, params=params).measurements
    }
    assert values[("fairness.small_groups", None)] == 0 and values[("fairness.accuracy_max_gap", None)] > 0.5


def test_fairness_bootstrap_resamples_subjects_not_clips():
    """With all clips of a subject identical, the subject bootstrap CI is wider than a clip bootstrap would be."""
    from affectgate.evaluators.fairness import bootstrap_gap_ci

    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(20), 10).astype(str)
    groups = np.where(np.arange(200) < 100, "g1", "g2")
    correct = np.repeat(rng.random(20) < 0.7, 10)
    lo, hi = bootstrap_gap_ci(
        correct=correct, groups=groups, subjects=subjects, judged=["g1", "g2"], resamples=300, seed=0
    )
    clip_lo, clip_hi = bootstrap_gap_ci(
        correct=correct, groups=groups, subjects=np.arange(200).astype(str), judged=["g1", "g2"], resamples=300, seed=0
    )
    assert lo is not None and clip_lo is not None
    assert (hi - lo) > (clip_hi - clip_lo)


def test_fairness_small_groups_are_not_judged():
    """Groups below the minimum size are reported but excluded from the gap."""
    frame = _frame(
        ["anger"] * 12,
        ["anger"] * 10 + ["fear"] * 2,
        skin_tone_group=["tone_a"] * 10 + ["tone_c"] * 2,
    )
    result = run_evaluator(
        name="fairness", predictions=frame, params={"attributes": ["skin_tone_group"], "min_group_size": 5}
    )
    assert result.status == "failed"
    assert "has two groups of at least 5" in (result.error or "")
