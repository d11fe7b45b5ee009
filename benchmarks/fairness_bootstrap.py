"""Fairness evaluator with a 1,000-resample subject bootstrap on 10k clips (target: under 10 s), in one run.

A synthetic predictions table (``--clips`` clips of ``--subjects`` subjects; skin tone, sex and age band
fixed per subject; one skin-tone group less accurate) is scored twice, same seed:

- **evaluator**: ``evaluate_fairness`` as the gate runs it (Fairlearn ``MetricFrame`` per attribute for
  the point estimates, the vectorised subject bootstrap for every attribute's gap interval), with
  ``bootstrap_resamples=--resamples`` on the default attributes (skin tone gated, sex and age band
  measured: three bootstraps);
- **MetricFrame only**: the same evaluator with ``bootstrap_resamples=0`` (no intervals), the floor the
  bootstrap adds to;
- **per-resample loop** (reference, ``--loop-resamples`` resamples, scaled to ``--resamples``): the
  straightforward bootstrap (concatenate the picked subjects' rows, group accuracies per resample) that
  the vectorised one replaces, on the gated attribute; its intervals must equal the evaluator's.

    nice -n 10 .venv/bin/python benchmarks/fairness_bootstrap.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators.fairness import evaluate_fairness

TARGET_S = 10.0


def predictions(*, clips: int, subjects: int, seed: int) -> pd.DataFrame:
    """Clips spread over subjects; group attributes per subject; tone_c is 15 points less accurate."""
    rng = np.random.default_rng(seed)
    subject = rng.integers(0, subjects, size=clips)
    tone = rng.choice(["tone_a", "tone_b", "tone_c"], size=subjects)[subject]
    sex = rng.choice(["female", "male"], size=subjects)[subject]
    age = rng.choice(["18-29", "30-44", "45-64", "65+"], size=subjects)[subject]
    y_true = rng.choice(CANONICAL_EMOTIONS, size=clips)
    p_correct = np.where(tone == "tone_c", 0.6, 0.75)
    y_pred = np.where(rng.random(clips) < p_correct, y_true, rng.choice(CANONICAL_EMOTIONS, size=clips))
    return pd.DataFrame(
        {
            "target": y_true,
            "pred": y_pred,
            "subject_id": [f"s{i:05d}" for i in subject],
            "skin_tone_group": tone,
            "sex": sex,
            "age_band": age,
        }
    )


def loop_ci(
    *, scores: np.ndarray, groups: np.ndarray, subjects: np.ndarray, judged: list[str], resamples: int, seed: int
) -> tuple[float | None, float | None, list[float]]:
    """The straightforward subject bootstrap: one resample at a time (same draws as the evaluator's)."""
    uniq, inverse = np.unique(subjects, return_inverse=True)
    rows_of = [np.flatnonzero(inverse == i) for i in range(len(uniq))]
    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(resamples):
        idx = np.concatenate([rows_of[i] for i in rng.integers(0, len(uniq), size=len(uniq))])
        accs = [scores[idx][groups[idx] == g].mean() for g in judged if (groups[idx] == g).any()]
        if len(accs) >= 2:
            gaps.append(float(max(accs) - min(accs)))
    if len(gaps) == 0 or len(gaps) < resamples // 2:
        return None, None, gaps
    alpha = (1 - 0.95) / 2  # as the evaluator computes it
    return float(np.quantile(gaps, alpha)), float(np.quantile(gaps, 1 - alpha)), gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--loop-resamples", type=int, default=200, help="resamples of the reference loop (timed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = predictions(clips=args.clips, subjects=args.subjects, seed=args.seed)
    params = {"bootstrap_resamples": args.resamples, "seed": args.seed, "threshold": 0.1}

    evaluate_fairness(predictions=table.head(200), params={**params, "bootstrap_resamples": 10})  # imports, warm
    t0 = time.perf_counter()
    result = evaluate_fairness(predictions=table, params=params)
    evaluator_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate_fairness(predictions=table, params={**params, "bootstrap_resamples": 0})
    metricframe_s = time.perf_counter() - t0

    gap = next(m for m in result.measurements if m.name == "fairness.accuracy_max_gap.skin_tone_group")
    correct = table["target"].to_numpy(dtype=object) == table["pred"].to_numpy(dtype=object)
    judged = sorted(table["skin_tone_group"].unique())
    t0 = time.perf_counter()
    loop_lo, loop_hi, _ = loop_ci(
        scores=correct,
        groups=table["skin_tone_group"].to_numpy(),
        subjects=table["subject_id"].to_numpy(),
        judged=judged,
        resamples=args.loop_resamples,
        seed=args.seed,
    )
    loop_s = (time.perf_counter() - t0) * args.resamples / max(args.loop_resamples, 1)
    same = None
    if args.loop_resamples == args.resamples:
        same = loop_lo == gap.ci_low and loop_hi == gap.ci_high
    n_boot = 3  # skin_tone_group (gated), sex, age_band
    print(f"clips / subjects          {args.clips:>10,d} / {args.subjects:,d}")
    print(f"resamples                 {args.resamples:>10,d}  x {n_boot} attributes (subject bootstrap)")
    print(f"evaluator (with CIs)      {evaluator_s:>10.2f} s")
    print(f"MetricFrame only (no CI)  {metricframe_s:>10.2f} s")
    print(f"bootstrap share           {evaluator_s - metricframe_s:>10.2f} s")
    print(f"per-resample loop, 1 attr {loop_s:>10.2f} s  (reference; {args.loop_resamples} resamples timed, scaled)")
    print(f"skin-tone gap             {gap.value:>10.4f}  95% CI [{gap.ci_low:.4f}, {gap.ci_high:.4f}]")
    if same is not None:
        print(f"loop CI equals evaluator  {same!s:>10}")
    print(f"under {TARGET_S:.0f} s target         {evaluator_s < TARGET_S!s:>10}")


if __name__ == "__main__":
    main()
