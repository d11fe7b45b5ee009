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
        scores=correct, groups=groups, subjects=subjects, judged=["g1", "g2"], resamples=300, seed=0
    )
    clip_lo, clip_hi = bootstrap_gap_ci(
        scores=correct, groups=groups, subjects=np.arange(200).astype(str), judged=["g1", "g2"], resamples=300, seed=0
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


# --- accuracy extensions: macro-F1, precision, kappa, CCC, AU F1, frame level, folds --------------------------------

floats = st.floats(-1, 1, allow_nan=False, allow_infinity=False)


def _ccc_oracle(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC written from scipy's Pearson r and population (1/N) standard deviations."""
    from scipy.stats import pearsonr

    r = pearsonr(x, y).statistic
    sx, sy = np.std(x), np.std(y)
    return float(2 * r * sx * sy / (sx**2 + sy**2 + (x.mean() - y.mean()) ** 2))


def _named(result) -> dict[tuple[str, str | None, str | None], float | None]:
    assert result.status == "ok", result.error
    return {(m.name, m.label, m.group): m.value for m in result.measurements}


@given(st.lists(st.tuples(floats, floats), min_size=3, max_size=100))
@settings(max_examples=200, deadline=None)
def test_ccc_matches_a_pearson_oracle_and_is_bounded(data):
    """CCC equals 2·r·sx·sy / (sx² + sy² + Δμ²) (1/N moments), lies in [-1, 1] and is symmetric."""
    from affectgate.evaluators.accuracy import ccc

    x = np.array([a for a, _ in data])
    y = np.array([b for _, b in data])
    if np.std(x) < 1e-6 or np.std(y) < 1e-6:
        return  # Pearson r is undefined for a constant series
    value = ccc(x, y)
    assert value == pytest.approx(_ccc_oracle(x, y), abs=1e-9)
    assert -1 - 1e-12 <= value <= 1 + 1e-12
    assert ccc(y, x) == pytest.approx(value)
    perm = np.random.default_rng(0).permutation(len(x))
    assert ccc(x[perm], y[perm]) == pytest.approx(value)


@given(st.lists(floats, min_size=2, max_size=100))
@settings(max_examples=100, deadline=None)
def test_ccc_of_a_series_with_itself_is_one(xs):
    """CCC(x, x) = 1 for any non-constant series; a shifted copy scores below 1."""
    from affectgate.evaluators.accuracy import ccc

    x = np.array(xs)
    if np.ptp(x) < 1e-6:
        return
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, x + 0.5) < 1.0


def test_ccc_uses_population_moments():
    """A hand example: x = (1, 2, 3), y = (1, 2, 4): 2·cov / (var_x + var_y + Δμ²) with 1/N moments = 18/21."""
    from affectgate.evaluators.accuracy import ccc

    # means 2 and 7/3; 1/N: var_x = 2/3, var_y = 14/9, cov = 1; Δμ² = 1/9 -> 2 / (6/9 + 14/9 + 1/9) = 18/21
    assert ccc(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(18 / 21)


@given(pairs)
@settings(max_examples=100, deadline=None)
def test_macro_f1_precision_recall_match_sklearn(data):
    """macro_f1 equals sklearn's macro F1 over the present classes; per-class precision/recall equal sklearn's."""
    from sklearn.metrics import f1_score, precision_score

    y_true = np.array([t for t, _ in data], dtype=object)
    y_pred = np.array([p for _, p in data], dtype=object)
    v = _named(run_evaluator(name="accuracy", predictions=_frame(y_true, y_pred), params={}))
    present = sorted(set(y_true))
    assert v[("macro_f1", None, None)] == pytest.approx(
        f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    )
    assert 0.0 <= v[("macro_f1", None, None)] <= 1.0
    for lbl in CANONICAL_EMOTIONS:
        if lbl in set(y_pred):
            expected = precision_score(y_true, y_pred, labels=[lbl], average="macro", zero_division=0)
            assert v[("precision", lbl, None)] == pytest.approx(expected)
        else:
            assert v[("precision", lbl, None)] is None  # never predicted: undefined, not 0
        if lbl in set(y_true):
            assert v[("recall", lbl, None)] == pytest.approx(np.mean(y_pred[y_true == lbl] == lbl))
        else:
            assert v[("recall", lbl, None)] is None


@given(st.lists(st.tuples(labels, st.sampled_from((*CANONICAL_EMOTIONS, "tie"))), min_size=1, max_size=200))
@settings(max_examples=100, deadline=None)
def test_counted_metrics_equal_sklearn_exactly_with_tied_votes(data):
    """WAR/UAR/macro-F1, per-class precision/recall/F1 and the confusion matrix, computed from one count of
    (true, pred), are sklearn's values exactly; a tied vote counts as a miss and is in no column of the matrix."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    y_true = np.array([t for t, _ in data], dtype=object)
    y_pred = np.array([p for _, p in data], dtype=object)
    result = run_evaluator(name="accuracy", predictions=_frame(y_true, y_pred), params={})
    v = _named(result)
    labels_ = list(CANONICAL_EMOTIONS)
    assert np.array_equal(np.array(result.confusion), confusion_matrix(y_true, y_pred, labels=labels_))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels_, average=None, zero_division=np.nan
    )
    present = sorted(set(y_true))
    assert v[("war", None, None)] == accuracy_score(y_true, y_pred)
    assert v[("uar", None, None)] == float(np.mean([recall[labels_.index(lbl)] for lbl in present]))
    assert v[("macro_f1", None, None)] == f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    for i, lbl in enumerate(labels_):
        assert v[("recall", lbl, None)] == (None if np.isnan(recall[i]) else recall[i])
        assert v[("precision", lbl, None)] == (None if np.isnan(precision[i]) else precision[i])
        assert v[("f1", lbl, None)] == (f1[i] if support[i] else None)


def test_kappa_against_annotators_matches_sklearn():
    """kappa = Cohen's kappa of pred vs annotator_label; a second annotator adds its own and inter-annotator."""
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(5)
    n = 300
    y_true = rng.choice(CANONICAL_EMOTIONS, size=n)
    noisy = lambda p: np.where(rng.random(n) < p, y_true, rng.choice(CANONICAL_EMOTIONS, size=n))  # noqa: E731
    pred, ann1, ann2 = noisy(0.7), noisy(0.8), noisy(0.8)
    ann2 = ann2.astype(object)
    ann2[:10] = None  # a missing annotation leaves the row out of that annotator's kappa
    frame = _frame(y_true, pred, annotator_label=ann1, annotator_label_b=ann2)
    v = _named(run_evaluator(name="accuracy", predictions=frame, params={}))
    assert v[("kappa", None, None)] == pytest.approx(cohen_kappa_score(ann1, pred))
    assert v[("kappa", None, "annotator=annotator_label_b")] == pytest.approx(cohen_kappa_score(ann2[10:], pred[10:]))
    assert v[("kappa.inter_annotator", None, None)] == pytest.approx(cohen_kappa_score(ann1[10:], ann2[10:]))
    assert ("kappa", None, None) not in _named(
        run_evaluator(name="accuracy", predictions=_frame(y_true, pred), params={})
    )  # no human annotation, no kappa


def test_va_ccc_drops_invalid_frames_and_averages_for_abaw():
    """ccc_valence/ccc_arousal skip rows annotated -5 and ccc_mean is their mean (the ABAW VA score)."""
    from affectgate.evaluators.accuracy import ccc

    rng = np.random.default_rng(6)
    n = 200
    val, aro = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    pv, pa = val * 0.8 + rng.normal(0, 0.2, n), aro * 0.5 + 0.1
    val[:15] = -5.0
    aro[:15] = -5.0
    frame = pd.DataFrame({"valence": val, "arousal": aro, "pred_valence": pv, "pred_arousal": pa})
    v = _named(run_evaluator(name="accuracy", predictions=frame, params={}))
    cv, ca = ccc(val[15:], pv[15:]), ccc(aro[15:], pa[15:])
    assert v[("ccc_valence", None, None)] == pytest.approx(cv)
    assert v[("ccc_arousal", None, None)] == pytest.approx(ca)
    assert v[("ccc_mean", None, None)] == pytest.approx((cv + ca) / 2)
    assert ("war", None, None) not in v  # a VA-only table has no discrete scores
    bad = frame.assign(valence=np.where(np.arange(n) == 20, 1.5, val))
    failed = run_evaluator(name="accuracy", predictions=bad, params={})
    assert failed.status == "failed" and "outside [-1, 1]" in (failed.error or "")


def test_au_mean_f1_ignores_minus_one():
    """au_f1 per AU is sklearn's binary F1 over rows not marked -1; au_mean_f1 is their mean; >= 0.5 is active."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(7)
    n = 120
    au1, au12 = rng.integers(0, 2, n), rng.integers(0, 2, n)
    p1 = np.where(rng.random(n) < 0.8, au1, 1 - au1).astype(float) * 0.9  # probabilities 0.0 / 0.9
    p12 = np.where(rng.random(n) < 0.6, au12, 1 - au12)
    au1 = au1.copy()
    au1[:20] = -1
    frame = pd.DataFrame({"au_AU1": au1, "au_AU12": au12, "pred_au_AU1": p1, "pred_au_AU12": p12})
    v = _named(run_evaluator(name="accuracy", predictions=frame, params={}))
    f1_1 = f1_score(au1[20:], (p1[20:] >= 0.5).astype(int))
    f1_12 = f1_score(au12, p12)
    assert v[("au_f1", "AU1", None)] == pytest.approx(f1_1)
    assert v[("au_f1", "AU12", None)] == pytest.approx(f1_12)
    assert v[("au_mean_f1", None, None)] == pytest.approx((f1_1 + f1_12) / 2)


def test_frame_level_rows_get_prefixed_metrics():
    """Rows with level == 'frame' are scored separately as frame.*; clip metrics use only the clip rows."""
    rng = np.random.default_rng(8)
    clip_true = rng.choice(CANONICAL_EMOTIONS, size=40)
    clip_pred = np.where(rng.random(40) < 0.9, clip_true, "fear")
    frame_true = np.repeat(clip_true, 4)
    frame_pred = np.where(rng.random(160) < 0.5, frame_true, "anger")
    clips = _frame(clip_true, clip_pred, granularity="clip")
    frames = _frame(frame_true, frame_pred, granularity="frame", valence=rng.uniform(-1, 1, 160))
    frames["pred_valence"] = frames["valence"] * 0.5
    table = pd.concat([clips, frames], ignore_index=True)
    result = run_evaluator(name="accuracy", predictions=table, params={})
    v = _named(result)
    assert v[("war", None, None)] == pytest.approx(accuracy_score(clip_true, clip_pred))
    assert v[("frame.war", None, None)] == pytest.approx(accuracy_score(frame_true, frame_pred))
    assert v[("frame.uar", None, None)] == pytest.approx(balanced_accuracy_score(frame_true, frame_pred))
    assert ("frame.ccc_valence", None, None) in v and ("ccc_valence", None, None) not in v
    assert np.array_equal(
        np.array(result.confusion), confusion_matrix(clip_true, clip_pred, labels=list(CANONICAL_EMOTIONS))
    )
    bad = run_evaluator(name="accuracy", predictions=table.assign(granularity="video"), params={})
    assert bad.status == "failed" and "granularity" in (bad.error or "")


def test_folds_report_per_fold_scores_and_their_mean_and_std():
    """With several folds: war per fold (group fold=N), war.fold_mean = mean of per-fold WARs, fold_std = sample std."""
    rng = np.random.default_rng(9)
    parts, wars, uars = [], [], []
    for fold, p in zip((1, 2, 3), (0.5, 0.7, 0.9), strict=True):
        n = 50 + 20 * fold  # unequal folds: the mean of folds differs from the pooled score
        t = rng.choice(CANONICAL_EMOTIONS, size=n)
        pr = np.where(rng.random(n) < p, t, rng.choice(CANONICAL_EMOTIONS, size=n))
        parts.append(_frame(t, pr, fold=[fold] * n))
        wars.append(accuracy_score(t, pr))
        uars.append(balanced_accuracy_score(t, pr))
    table = pd.concat(parts, ignore_index=True)
    v = _named(run_evaluator(name="accuracy", predictions=table, params={}))
    for fold, w in zip((1, 2, 3), wars, strict=True):
        assert v[("war", None, f"fold={fold}")] == pytest.approx(w)
    assert v[("war.fold_mean", None, None)] == pytest.approx(np.mean(wars))
    assert v[("war.fold_std", None, None)] == pytest.approx(np.std(wars, ddof=1))
    assert v[("uar.fold_mean", None, None)] == pytest.approx(np.mean(uars))
    assert v[("war", None, None)] == pytest.approx(accuracy_score(table["target"], table["pred"]))  # pooled
    assert ("macro_f1.fold_mean", None, None) in v
    one_fold = _named(run_evaluator(name="accuracy", predictions=parts[0], params={}))
    assert not any(name.endswith(".fold_mean") for name, _, _ in one_fold)


def test_confusion_figure_and_png(tmp_path):
    """The plotly confusion heatmap shows counts in canonical order; the PNG writer writes a real PNG."""
    from affectgate.evaluators.plots import confusion_figure, write_confusion_png

    rng = np.random.default_rng(10)
    y_true = rng.choice(CANONICAL_EMOTIONS, size=100)
    result = run_evaluator(name="accuracy", predictions=_frame(y_true, np.roll(y_true, 1)), params={})
    fig = confusion_figure(result)
    assert list(fig.data[0].x) == list(CANONICAL_EMOTIONS) == list(fig.data[0].y)
    cm = np.array(result.confusion)
    assert str(cm[0, 0]) in fig.data[0].text[0][0]
    assert np.allclose(np.array(fig.data[0].z).sum(axis=1), 1.0)
    png = write_confusion_png(result, tmp_path / "plots" / "confusion.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no confusion"):
        confusion_figure(run_evaluator(name="accuracy", predictions=_frame(["joy"], ["joy"]), params={}))
