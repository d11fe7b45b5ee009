"""Evidently drift on a million prediction rows vs plain scipy tests on the same columns, in the same run.

Builds a synthetic predictions table (``pred`` over the 7 canonical classes, ``confidence`` and the 7
``p_<label>`` probabilities) for a reference window and a current window of ``--rows`` rows each (the
current one with a mild shift), then times:

- ``evidently``: :func:`affectgate.evaluators.drift.compare_window`, the evaluator's own path
  (DataDriftPreset with tests, KS per numerical column, chi-square homogeneity for ``pred``, the HTML
  report);
- ``scipy``: ``scipy.stats.ks_2samp`` on the same numerical columns and ``scipy.stats.chi2_contingency``
  on the class counts, the baseline.

It prints seconds, the ratio evidently / scipy and whether Evidently stayed under the 60 s target.

    nice -n 10 .venv/bin/python benchmarks/drift_scale.py --rows 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, ks_2samp

from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators.drift import DriftSettings, compare_window

TARGET_S = 60.0


def predictions(*, rows: int, shift: float, seed: int) -> pd.DataFrame:
    """Softmax outputs of random logits; ``shift`` raises the first class's logit (prediction drift)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, size=(rows, len(CANONICAL_EMOTIONS))).astype(np.float32)
    logits[:, 0] += shift
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    table = pd.DataFrame({f"p_{lbl}": probs[:, j] for j, lbl in enumerate(CANONICAL_EMOTIONS)})
    table["confidence"] = probs.max(axis=1)
    table["pred"] = np.asarray(CANONICAL_EMOTIONS, dtype=object)[probs.argmax(axis=1)]
    return table


def scipy_baseline(reference: pd.DataFrame, current: pd.DataFrame, numerical: list[str]) -> dict[str, float]:
    """The same tests without Evidently: KS p-value per numerical column, chi-square homogeneity on class counts."""
    out = {col: float(ks_2samp(reference[col], current[col]).pvalue) for col in numerical}
    keys = sorted(set(reference["pred"]) | set(current["pred"]))
    ref_counts = reference["pred"].value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    cur_counts = current["pred"].value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    out["pred"] = float(chi2_contingency(np.stack([ref_counts, cur_counts]), correction=False).pvalue)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per window (reference and current)")
    parser.add_argument("--shift", type=float, default=0.05, help="logit shift of the current window")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    reference = predictions(rows=args.rows, shift=0.0, seed=args.seed)
    current = predictions(rows=args.rows, shift=args.shift, seed=args.seed + 1)
    numerical = [*(f"p_{lbl}" for lbl in CANONICAL_EMOTIONS), "confidence"]

    t0 = time.perf_counter()
    import evidently.presets  # noqa: F401  - a one-off import (seconds), not part of the drift cost

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = scipy_baseline(reference, current, numerical)
    scipy_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    window = compare_window(
        reference=reference,
        current=current,
        window="current",
        reference_name="reference",
        numerical=numerical,
        categorical=["pred"],
        settings=DriftSettings(),
    )
    evidently_s = time.perf_counter() - t0

    agree = all(np.isclose(window.p_values[c], base[c], rtol=1e-6, atol=1e-300) for c in (*numerical, "pred"))
    print(f"rows per window        {args.rows:>12,d}  (reference + current = {2 * args.rows:,d})")
    print(
        f"columns                {len(numerical) + 1:>12d}  ({len(numerical)} numerical KS, 1 chi-square homogeneity)"
    )
    print(f"evidently import       {import_s:>12.2f} s  (once per process, not counted below)")
    print(f"scipy baseline         {scipy_s:>12.2f} s")
    print(f"evidently (with HTML)  {evidently_s:>12.2f} s")
    print(f"ratio evidently/scipy  {evidently_s / scipy_s:>12.1f} x")
    print(f"p-values agree         {agree!s:>12}")
    print(f"drifted columns        {window.drifted_count:>12d}  share {window.share_drifted:.2f}")
    print(f"under {TARGET_S:.0f} s target    {evidently_s < TARGET_S!s:>12}")


if __name__ == "__main__":
    main()
