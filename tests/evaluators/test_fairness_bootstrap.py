"""The vectorised subject bootstrap of the fairness evaluator equals the straightforward per-resample loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectgate.evaluators import fairness
from affectgate.evaluators.fairness import bootstrap_gap_ci


def _loop_ci(
    *, scores: np.ndarray, groups: np.ndarray, subjects: np.ndarray, judged: list[str], resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """The per-resample computation: draw subjects, concatenate their clips, group accuracies, max - min."""
    uniq, inverse = np.unique(subjects, return_inverse=True)
    if len(uniq) < 2 or resamples <= 0:
        return None, None
    rows_of = [np.flatnonzero(inverse == i) for i in range(len(uniq))]
    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(resamples):
        idx = np.concatenate([rows_of[i] for i in rng.integers(0, len(uniq), size=len(uniq))])
        c, g = scores[idx], groups[idx]
        accs = [c[g == j].mean() for j in judged if (g == j).any()]
        if len(accs) >= 2:
            gaps.append(float(max(accs) - min(accs)))
    if len(gaps) == 0 or len(gaps) < resamples // 2:
        return None, None
    alpha = (1 - 0.95) / 2  # as the evaluator computes it (not the literal 0.025)
    return float(np.quantile(gaps, alpha)), float(np.quantile(gaps, 1 - alpha))


def _data(seed: int, n_clips: int, n_subjects: int, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    subject = rng.integers(0, n_subjects, size=n_clips)
    group_of_subject = rng.integers(0, n_groups, size=n_subjects)
    groups = np.array([f"g{k}" for k in group_of_subject[subject]], dtype=object)
    correct = rng.random(n_clips) < np.where(group_of_subject[subject] == 0, 0.5, 0.8)
    return correct, groups, np.array([f"s{k}" for k in subject], dtype=object)


@given(
    seed=st.integers(0, 10_000),
    n_clips=st.integers(2, 120),
    n_subjects=st.integers(2, 25),
    n_groups=st.integers(1, 4),
    resamples=st.integers(1, 60),
)
@settings(max_examples=60, deadline=None)
def test_vectorised_bootstrap_equals_the_per_resample_loop(seed, n_clips, n_subjects, n_groups, resamples):
    """Same seed, same draws: the interval (or its absence) is exactly the loop's, odd sizes included."""
    correct, groups, subjects = _data(seed, n_clips, n_subjects, n_groups)
    judged = [f"g{k}" for k in range(n_groups)][: max(2, n_groups - 1)]  # one group may be left unjudged
    kwargs = {"scores": correct, "groups": groups, "subjects": subjects, "judged": judged, "resamples": resamples}
    assert bootstrap_gap_ci(**kwargs, seed=seed) == _loop_ci(**kwargs, seed=seed)


def test_vectorised_bootstrap_equals_the_loop_across_blocks(monkeypatch):
    """Resamples scored in several blocks draw the same subjects as one resample after the other."""
    correct, groups, subjects = _data(7, 400, 37, 3)
    kwargs = {"scores": correct, "groups": groups, "subjects": subjects, "judged": ["g0", "g1", "g2"]}
    expected = _loop_ci(**kwargs, resamples=203, seed=11)
    monkeypatch.setattr(fairness, "_BLOCK_CELLS", 37 * 10)  # blocks of 10 resamples, the last one short
    assert bootstrap_gap_ci(**kwargs, resamples=203, seed=11) == expected
    assert expected[0] is not None and expected[0] < expected[1]


def test_bootstrap_without_two_judged_groups_has_no_interval():
    """Resamples that never hold two judged groups give no gap, hence no interval (as in the loop), not an error."""
    subjects = np.array([f"s{i}" for i in range(30)], dtype=object)
    groups = np.array(["common"] * 30, dtype=object)
    correct = np.arange(30) % 3 > 0
    kwargs = {"scores": correct, "groups": groups, "subjects": subjects, "judged": ["rare", "common"]}
    assert bootstrap_gap_ci(**kwargs, resamples=200, seed=0) == _loop_ci(**kwargs, resamples=200, seed=0)
    assert bootstrap_gap_ci(**kwargs, resamples=200, seed=0) == (None, None)
    assert bootstrap_gap_ci(**kwargs, resamples=1, seed=0) == (None, None)  # 1 // 2 == 0: no gap, still None


def test_fairness_point_estimates_still_come_from_metricframe(monkeypatch):
    """The per-group accuracies are Fairlearn MetricFrame's; the bootstrap only adds the intervals."""
    import pandas as pd
    from fairlearn.metrics import MetricFrame

    from affectgate.datasets.labels import CANONICAL_EMOTIONS

    calls = []

    class Spy(MetricFrame):
        def __init__(self, **kwargs):
            calls.append(kwargs["sensitive_features"].name)
            super().__init__(**kwargs)

    monkeypatch.setattr(fairness, "MetricFrame", Spy)
    correct, groups, subjects = _data(3, 300, 30, 2)
    y_true = np.random.default_rng(0).choice(CANONICAL_EMOTIONS, size=300)
    y_pred = np.where(correct, y_true, np.roll(y_true, 1))
    frame = pd.DataFrame({"target": y_true, "pred": y_pred, "subject_id": subjects, "skin_tone_group": groups})
    result = fairness.evaluate_fairness(
        predictions=frame, params={"attributes": ["skin_tone_group"], "bootstrap_resamples": 100, "seed": 4}
    )
    assert calls == ["skin_tone_group"]
    gap = next(m for m in result.measurements if m.name == "fairness.accuracy_max_gap.skin_tone_group")
    accs = [np.mean(y_true[groups == g] == y_pred[groups == g]) for g in ("g0", "g1")]
    assert gap.value == pytest.approx(max(accs) - min(accs))
    loop = _loop_ci(
        scores=y_true == y_pred,
        groups=groups,
        subjects=subjects,
        judged=["g0", "g1"],
        resamples=100,
        seed=4,
    )
    assert (gap.ci_low, gap.ci_high) == loop
