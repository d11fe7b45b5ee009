"""Drift between a reference window and the current windows, with Evidently (the only module importing it).

Rows (clips) are split into windows by a column (``capture_quarter`` by default). The reference is the
first window in sorted order or a named one; every other window is compared with it by Evidently's
``DataDriftPreset`` with tests on:

- the per-clip input statistics of :mod:`affectgate.evaluators.clip_stats` (brightness, contrast,
  face detection rate, face size, face quality) and the embedding summary (PCA-2 of standardised 8x8
  grey thumbnails, fitted on the reference window);
- the prediction distribution when predictions exist: the predicted class ``pred`` (categorical) and
  the top-class probability ``confidence``.

Numerical columns use the two-sample Kolmogorov-Smirnov test and categorical ones a two-sample
chi-square test of homogeneity by default (:data:`HOMOGENEITY`, registered with Evidently here). Only
p-value tests are accepted, so ``drift.feature_p_value`` is always a p-value (Evidently's
size-dependent default would switch to distances above 1000 rows). A column drifts when its p-value
is below ``threshold`` (at or below for Evidently's KS); a window drifts when Evidently's
dataset-level test fails, i.e. the share of drifted columns reaches ``drift_share``. Every Evidently
test's status is read one by one into ``drift.test_failed`` (label = the test's name), never from one
summary flag.

When labels exist, per-class precision and recall per window come from scikit-learn.

Evidently's HTML report of each window is saved under ``html_dir`` when given; otherwise the
evaluator keeps it for the caller, who collects it with :func:`pop_drift_html` (the pipeline writes it
into the run folder).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectgate.core.errors import DataError
from affectgate.core.records import EvalResult, Measurement
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators.clip_stats import STAT_COLUMNS, THUMB_COLUMNS, embedding_summary, sample_statistics
from affectgate.evaluators.registry import ModelInputs, register_evaluator

EMBEDDING_COLUMNS: tuple[str, ...] = ("embedding_pc1", "embedding_pc2")
INPUT_COLUMNS: tuple[str, ...] = (*STAT_COLUMNS, *EMBEDDING_COLUMNS)
#: Evidently stat tests whose score is a p-value (drift when the score is below the threshold).
NUM_P_VALUE_METHODS = frozenset({"ks", "mannw", "t_test", "anderson", "cramer_von_mises"})
#: Two-sample chi-square test of homogeneity (scipy's chi2_contingency on the 2 x K count table),
#: registered with Evidently by this module. Evidently's own "chisquare" is a goodness-of-fit test
#: with the reference counts as the expectation: a class that the reference window never predicted
#: gives an expected count of 0 and a p-value of 0, so small windows drift on ``pred`` by chance.
HOMOGENEITY = "chi2_homogeneity"
CAT_P_VALUE_METHODS = frozenset({HOMOGENEITY, "chisquare", "z", "g_test", "fisher_exact"})
_SHARE_METRIC = "DriftedColumnsCount"
_VALUE_METRIC = "ValueDrift"


@dataclass(frozen=True)
class DriftSettings:
    """How windows are compared: Evidently methods, thresholds and the smallest window judged."""

    num_method: str = "ks"
    cat_method: str = HOMOGENEITY
    threshold: float = 0.05
    #: A window drifts when at least this share of its compared columns drift. With 7-9 columns each
    #: tested at p < 0.05, three drifted columns (share >= 0.3) have a chance below 1% without drift
    #: (independent columns); Evidently's default 0.5 would need 4-5 and miss a lighting and face-size
    #: shift whenever the predictions stay stable.
    drift_share: float = 0.3
    min_window_rows: int = 10

    def __post_init__(self) -> None:
        if self.num_method not in NUM_P_VALUE_METHODS:
            raise ValueError(
                f"num_method {self.num_method!r} is not a p-value test; use one of {sorted(NUM_P_VALUE_METHODS)}"
            )
        if self.cat_method not in CAT_P_VALUE_METHODS:
            raise ValueError(
                f"cat_method {self.cat_method!r} is not a p-value test; use one of {sorted(CAT_P_VALUE_METHODS)}"
            )
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold {self.threshold} must be a p-value level in (0, 1)")
        if not 0 < self.drift_share <= 1:
            raise ValueError(f"drift_share {self.drift_share} must be in (0, 1]")
        if self.min_window_rows < 2:
            raise ValueError(f"min_window_rows {self.min_window_rows} must be at least 2")


@dataclass(frozen=True)
class EvidentlyTest:
    """One Evidently test of one window, as Evidently reported it."""

    name: str
    status: str  # Evidently's TestStatus value: SUCCESS, FAIL, WARNING, ERROR, SKIPPED
    description: str

    @property
    def failed(self) -> bool:
        """True unless the test passed (a warning or an error is not a pass)."""
        return self.status != "SUCCESS"


@dataclass(frozen=True)
class WindowDrift:
    """The comparison of one current window with the reference window."""

    window: str
    reference: str
    n_reference: int
    n_current: int
    columns: tuple[str, ...]  # columns Evidently compared (others had no values in one of the windows)
    categorical: tuple[str, ...] = ()  # the requested columns compared as categories
    p_values: dict[str, float | None] = field(default_factory=dict)  # every requested column; None = not compared
    drifted_count: int | None = None
    share_drifted: float | None = None
    detected: bool | None = None  # None: window too small to judge
    tests: tuple[EvidentlyTest, ...] = ()
    html: str = ""
    skipped: str | None = None  # why Evidently did not run on this window


@dataclass(frozen=True)
class WindowLabels:
    """Per-class precision and recall of one window (scikit-learn, canonical label order)."""

    window: str
    n: int
    precision: dict[str, float | None]
    recall: dict[str, float | None]
    support: dict[str, int]
    predicted: dict[str, int]


@dataclass(frozen=True)
class DriftAudit:
    """A drift audit over windows: the reference, each current window's drift and the label metrics."""

    window_column: str
    reference: str
    windows: tuple[WindowDrift, ...]
    labels: tuple[WindowLabels, ...] = ()
    measurements: tuple[Measurement, ...] = ()

    @property
    def flagged(self) -> tuple[str, ...]:
        """Windows in which drift was detected."""
        return tuple(w.window for w in self.windows if w.detected)


# ---------------------------------------------------------------------------------------------- Evidently


def _chi2_homogeneity(
    reference_data: pd.Series, current_data: pd.Series, feature_type: object, threshold: float
) -> tuple[float, bool]:
    """p-value of the chi-square test that both windows draw their categories from one distribution."""
    from scipy.stats import chi2_contingency

    ref = reference_data.dropna().astype(str).value_counts()
    cur = current_data.dropna().astype(str).value_counts()
    keys = sorted(set(ref.index) | set(cur.index))
    if len(keys) < 2 or ref.sum() == 0 or cur.sum() == 0:
        return 1.0, False
    table = np.array([ref.reindex(keys, fill_value=0).to_numpy(), cur.reindex(keys, fill_value=0).to_numpy()])
    p_value = float(chi2_contingency(table, correction=False).pvalue)
    return p_value, p_value < threshold


@lru_cache(maxsize=1)
def _register_stattests() -> None:
    """Make :data:`HOMOGENEITY` a named Evidently stat test (its extension point), once per process."""
    from evidently.legacy.calculations.stattests import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    test = StatTest(
        name=HOMOGENEITY,
        display_name="chi-square homogeneity p_value",
        allowed_feature_types=[ColumnType.Categorical],
        default_threshold=0.05,
    )
    register_stattest(test, _chi2_homogeneity)


def _evidently_window(
    *,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: DriftSettings,
) -> tuple[dict[str, float], int, float, tuple[EvidentlyTest, ...], str]:
    """Run Evidently's DataDriftPreset with tests: per-column p-values, drifted count/share, tests, HTML."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    _register_stattests()
    columns = [*numerical, *categorical]
    definition = DataDefinition(numerical_columns=list(numerical), categorical_columns=list(categorical))
    cur = Dataset.from_pandas(current[columns].reset_index(drop=True), data_definition=definition)
    ref = Dataset.from_pandas(reference[columns].reset_index(drop=True), data_definition=definition)
    preset = DataDriftPreset(
        columns=columns,
        num_method=settings.num_method,
        cat_method=settings.cat_method,
        threshold=settings.threshold,
        drift_share=settings.drift_share,
    )
    snapshot = Report([preset], include_tests=True).run(cur, ref)
    exported = snapshot.dict()
    p_values: dict[str, float] = {}
    count, share = None, None
    for metric in exported["metrics"]:
        kind = str(metric.get("config", {}).get("type", "")).rsplit(":", 1)[-1]
        if kind == _VALUE_METRIC:
            p_values[str(metric["config"]["column"])] = float(metric["value"])
        elif kind == _SHARE_METRIC:
            count, share = int(metric["value"]["count"]), float(metric["value"]["share"])
    missing = [c for c in columns if c not in p_values]
    if count is None or share is None or missing:
        raise RuntimeError(
            f"Evidently's report has no {'drifted-columns count' if count is None else f'drift score for {missing}'}; "
            "the installed evidently is not the 0.7 API this adapter reads"
        )
    tests = tuple(
        EvidentlyTest(
            name=str(t["name"]),
            status=str(getattr(t["status"], "value", t["status"])),
            description=str(t["description"]),
        )
        for t in exported["tests"]
    )
    if not any(_is_share_test(t) for t in tests):
        raise RuntimeError("Evidently reported no drifted-columns share test; run it with include_tests=True")
    return p_values, count, share, tests, snapshot.get_html_str(as_iframe=False)


def _is_share_test(test: EvidentlyTest) -> bool:
    return test.name.startswith("Share of Drifted Columns")


def compare_window(
    *,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    window: str,
    reference_name: str,
    numerical: Sequence[str],
    categorical: Sequence[str] = (),
    settings: DriftSettings | None = None,
) -> WindowDrift:
    """Compare one current window with the reference; columns empty in either window are not compared.

    A window with fewer than ``settings.min_window_rows`` rows is not judged (``detected`` is None).
    """
    cfg = settings or DriftSettings()
    requested = [*numerical, *categorical]
    absent = [c for c in requested if c not in reference.columns or c not in current.columns]
    if absent:
        raise ValueError(f"drift columns {absent} are missing from the table")
    base = {
        "categorical": tuple(categorical),
        "window": window,
        "reference": reference_name,
        "n_reference": len(reference),
        "n_current": len(current),
    }
    if len(current) < cfg.min_window_rows:
        return WindowDrift(
            **base,
            columns=(),
            p_values=dict.fromkeys(requested),
            skipped=f"{len(current)} rows < min_window_rows {cfg.min_window_rows}",
        )

    def usable(col: str) -> bool:
        return int(reference[col].notna().sum()) >= 2 and int(current[col].notna().sum()) >= 2

    num = [c for c in numerical if usable(c)]
    cat = [c for c in categorical if usable(c)]
    if not num and not cat:
        return WindowDrift(
            **base, columns=(), p_values=dict.fromkeys(requested), skipped="no column has values in both windows"
        )
    p_values, count, share, tests, html = _evidently_window(
        reference=reference, current=current, numerical=num, categorical=cat, settings=cfg
    )
    share_test = next(t for t in tests if _is_share_test(t))
    return WindowDrift(
        **base,
        columns=(*num, *cat),
        p_values={c: p_values.get(c) for c in requested},
        drifted_count=count,
        share_drifted=share,
        detected=share_test.failed,
        tests=tests,
        html=html,
    )


# ------------------------------------------------------------------------------------------------ windows


def order_windows(*, values: pd.Series, reference: str = "first", windows: int | None = None) -> tuple[str, list[str]]:
    """``(reference, current windows)`` from a window column: sorted values, the last ``windows`` of them.

    ``reference`` is ``"first"`` (the earliest kept window) or a window name that must be among them.
    """
    found = sorted(str(v) for v in values.dropna().astype(str).unique())
    if windows is not None:
        if windows < 2:
            raise ValueError(f"windows={windows}: a drift audit needs a reference and at least one current window")
        if len(found) < windows:
            raise DataError(
                f"{windows} windows asked for, the data has {len(found)}: {', '.join(found) or 'none'}",
                fix="audit fewer windows or add the missing periods' clips",
            )
        found = found[-windows:]
    if len(found) < 2:
        raise DataError(
            f"drift needs at least two windows, the data has {len(found)}: {', '.join(found) or 'none'}",
            fix="evaluate clips from more than one capture period",
        )
    ref = found[0] if reference == "first" else str(reference)
    if ref not in found:
        raise DataError(f"reference window {ref!r} is not among {', '.join(found)}", fix="name one of them or 'first'")
    return ref, [w for w in found if w != ref]


def label_metrics(*, table: pd.DataFrame, window: str) -> WindowLabels:
    """Per-class precision and recall of ``target`` vs ``pred`` (None where a class has no support/prediction)."""
    from sklearn.metrics import precision_recall_fscore_support

    rows = table.dropna(subset=["target", "pred"])
    y_true = rows["target"].astype(str).to_numpy()
    y_pred = rows["pred"].astype(str).to_numpy()
    labels = list(CANONICAL_EMOTIONS)
    precision, recall, _, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=np.nan
    )

    def clean(v: float) -> float | None:
        return None if math.isnan(float(v)) else float(v)

    return WindowLabels(
        window=window,
        n=len(rows),
        precision={lbl: clean(p) for lbl, p in zip(labels, precision, strict=True)},
        recall={lbl: clean(r) for lbl, r in zip(labels, recall, strict=True)},
        support={lbl: int(s) for lbl, s in zip(labels, support, strict=True)},
        predicted={lbl: int(np.sum(y_pred == lbl)) for lbl in labels},
    )


def drift_reports(
    *,
    table: pd.DataFrame,
    window_column: str = "capture_quarter",
    reference: str = "first",
    windows: int | None = None,
    numerical: Sequence[str] = INPUT_COLUMNS,
    categorical: Sequence[str] = (),
    settings: DriftSettings | None = None,
) -> list[WindowDrift]:
    """Compare every current window of ``table`` with the reference window, in window order."""
    cfg = settings or DriftSettings()
    if window_column not in table.columns:
        raise ValueError(f"window column {window_column!r} is not in the table (columns: {', '.join(table.columns)})")
    ref, current = order_windows(values=table[window_column], reference=reference, windows=windows)
    keys = table[window_column].astype(str)
    ref_rows = table[keys == ref]
    if len(ref_rows) < cfg.min_window_rows:
        raise DataError(
            f"reference window {ref} has {len(ref_rows)} clips, fewer than min_window_rows={cfg.min_window_rows}",
            fix="choose a larger reference window or lower min_window_rows",
        )
    return [
        compare_window(
            reference=ref_rows,
            current=table[keys == w],
            window=w,
            reference_name=ref,
            numerical=numerical,
            categorical=categorical,
            settings=cfg,
        )
        for w in current
    ]


def drift_measurements(
    *, reports: Sequence[WindowDrift], labels: Sequence[WindowLabels] = (), settings: DriftSettings | None = None
) -> list[Measurement]:
    """Our records of the Evidently results: share, detected, per-column p-value, per-test failure, P/R."""
    cfg = settings or DriftSettings()
    out: list[Measurement] = []
    for r in reports:
        group = f"window={r.window}"
        how = f"vs reference window {r.reference} (n={r.n_reference})"
        out += [
            Measurement(
                name="drift.share_drifted_features",
                value=r.share_drifted,
                higher_is_better=False,
                averaging=f"share of compared columns with p < {cfg.threshold} "
                f"({cfg.num_method}/{cfg.cat_method}) {how}",
                group=group,
                n=r.n_current,
            ),
            Measurement(
                name="drift.detected",
                value=None if r.detected is None else float(r.detected),
                higher_is_better=False,
                averaging=f"1 when Evidently's share test fails (share >= {cfg.drift_share}) {how}"
                + (f"; not judged: {r.skipped}" if r.skipped else ""),
                group=group,
                n=r.n_current,
            ),
        ]
        for col, p in r.p_values.items():
            out.append(
                Measurement(
                    name="drift.feature_p_value",
                    value=p,
                    higher_is_better=True,
                    averaging=f"{cfg.cat_method if col in r.categorical else cfg.num_method} p-value {how}",
                    group=group,
                    label=col,
                    n=r.n_current,
                )
            )
        for t in r.tests:
            out.append(
                Measurement(
                    name="drift.test_failed",
                    value=float(t.failed),
                    higher_is_better=False,
                    averaging=f"Evidently test status {t.status}: {t.description}",
                    group=group,
                    label=t.name,
                    n=r.n_current,
                )
            )
    for wl in labels:
        for name, values in (("drift.precision", wl.precision), ("drift.recall", wl.recall)):
            for lbl, v in values.items():
                out.append(
                    Measurement(
                        name=name,
                        value=v,
                        higher_is_better=True,
                        averaging="per class (scikit-learn), canonical label order",
                        group=f"window={wl.window}",
                        label=lbl,
                        n=wl.support[lbl] if name == "drift.recall" else wl.predicted[lbl],
                    )
                )
    return out


# ------------------------------------------------------------------------------------------- the table


def _confidence(predictions: pd.DataFrame) -> pd.Series:
    if "confidence" in predictions.columns:
        return predictions["confidence"].astype(float)
    probs = [c for c in predictions.columns if c.startswith("p_")]
    if not probs:
        raise ValueError("the predictions have neither a confidence column nor p_<label> probability columns")
    return predictions[probs].astype(float).max(axis=1)


def build_table(
    *,
    stats: pd.DataFrame,
    windows: pd.Series,
    reference: str,
    predictions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join clip statistics, the embedding summary (PCA fitted on the reference window) and predictions.

    ``stats`` and ``windows`` are indexed by video_name; ``predictions`` (optional) by ``sample_id``.
    """
    table = stats[list(STAT_COLUMNS)].copy()
    table["window"] = windows.reindex(table.index).astype(str).to_numpy()
    if table["window"].isin(["nan", "None"]).any():
        missing = table.index[table["window"].isin(["nan", "None"])][:5].tolist()
        raise DataError(f"clips {missing} have no window value", fix="fill the window column (capture_quarter)")
    scores = embedding_summary(
        thumbnails=stats[list(THUMB_COLUMNS)].to_numpy(dtype=float),
        reference=(table["window"] == reference).to_numpy(),
        components=len(EMBEDDING_COLUMNS),
    )
    for j, col in enumerate(EMBEDDING_COLUMNS):
        table[col] = scores[:, j]
    if predictions is not None:
        preds = predictions.assign(sample_id=predictions["sample_id"].astype(str)).set_index("sample_id")
        if preds.index.duplicated().any():
            raise DataError("the predictions have duplicate sample_id values", fix="one prediction row per clip")
        table["pred"] = preds["pred"].reindex(table.index).astype(object).to_numpy()
        table["confidence"] = _confidence(preds).reindex(table.index).to_numpy()
        if "target" in preds.columns:
            table["target"] = preds["target"].reindex(table.index).astype(object).to_numpy()
    return table


def run_audit(
    *,
    table: pd.DataFrame,
    reference: str,
    windows: int | None,
    settings: DriftSettings,
    html_dir: Path | None = None,
) -> DriftAudit:
    """Evidently on every window of a :func:`build_table` table, labels metrics, measurements, HTML files."""
    has_preds = "pred" in table.columns and table["pred"].notna().any()
    reports = drift_reports(
        table=table,
        window_column="window",
        reference=reference,
        windows=windows,
        numerical=(*INPUT_COLUMNS, "confidence") if has_preds else INPUT_COLUMNS,
        categorical=("pred",) if has_preds else (),
        settings=settings,
    )
    ref = reports[0].reference if reports else reference
    labels: list[WindowLabels] = []
    if has_preds and "target" in table.columns:
        for w in (ref, *(r.window for r in reports)):
            rows = table[table["window"] == w]
            if rows[["target", "pred"]].notna().all(axis=1).any():
                labels.append(label_metrics(table=rows, window=w))
    if html_dir is not None:
        save_html(reports=reports, folder=html_dir)
    return DriftAudit(
        window_column="window",
        reference=ref,
        windows=tuple(reports),
        labels=tuple(labels),
        measurements=tuple(drift_measurements(reports=reports, labels=labels, settings=settings)),
    )


def html_name(window: str) -> str:
    """File name of a window's Evidently report: ``drift_<window>.html`` with unsafe characters replaced."""
    return "drift_" + re.sub(r"[^A-Za-z0-9_.-]", "_", window) + ".html"


def save_html(*, reports: Sequence[WindowDrift], folder: Path) -> list[Path]:
    """Write each judged window's Evidently HTML report into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in reports:
        if r.html:
            path = folder / html_name(r.window)
            path.write_text(r.html, encoding="utf-8")
            paths.append(path)
    return paths


# ------------------------------------------------------------------------------------ the side channel

_PENDING_HTML: dict[str, str] = {}


def pop_drift_html() -> dict[str, str]:
    """HTML reports kept by the last ``drift`` evaluations that had no ``html_dir``: file name -> HTML.

    Clears what it returns. The pipeline calls it after the evaluators ran and writes the files into
    the run folder.
    """
    out = dict(_PENDING_HTML)
    _PENDING_HTML.clear()
    return out


# ----------------------------------------------------------------------------------------- public entries


def settings_from(params: dict[str, Any]) -> DriftSettings:
    """:class:`DriftSettings` from suite parameters (defaults for the absent ones)."""
    d = DriftSettings()
    return DriftSettings(
        num_method=str(params.get("num_method", d.num_method)),
        cat_method=str(params.get("cat_method", d.cat_method)),
        threshold=float(params.get("threshold", d.threshold)),
        drift_share=float(params.get("drift_share", d.drift_share)),
        min_window_rows=int(params.get("min_window_rows", d.min_window_rows)),
    )


@register_evaluator("drift")
def evaluate_drift(*, predictions: pd.DataFrame, params: dict[str, Any], model: ModelInputs) -> EvalResult:
    """Input-statistics and prediction drift of every window against the reference, plus per-window P/R.

    The clips are ``model.split``'s (same order as the predictions' rows); the model itself is not run.
    """
    window_column = str(params.get("window_column", "capture_quarter"))
    reference = str(params.get("reference", "first"))
    frames = int(params.get("stats_frames", 4))
    size = int(params.get("stats_size", 112))
    html_dir = params.get("html_dir")
    cfg = settings_from(params)
    if window_column not in predictions.columns:
        raise ValueError(
            f"the predictions have no {window_column!r} column; the dataset's metadata.csv needs it for drift"
        )
    samples = model.split.samples
    ids = [s.video_name for s in samples]
    if len(ids) != len(predictions) or list(predictions["sample_id"].astype(str)) != ids:
        raise ValueError("the predictions' rows are not the split's clips in order; rerun inference on this split")
    windows = pd.Series(predictions[window_column].astype(str).to_numpy(), index=ids)
    ref, _ = order_windows(values=windows, reference=reference)
    stats = sample_statistics(samples=samples, frames=frames, size=size, workers=model.threads)
    table = build_table(stats=stats, windows=windows, reference=ref, predictions=predictions)
    audit = run_audit(
        table=table, reference=ref, windows=None, settings=cfg, html_dir=Path(html_dir) if html_dir else None
    )
    if not html_dir:
        _PENDING_HTML.update({html_name(r.window): r.html for r in audit.windows if r.html})
    return EvalResult(
        evaluator="drift",
        status="ok",
        measurements=audit.measurements,
        params={
            "window_column": window_column,
            "reference": ref,
            "stats_frames": frames,
            "stats_size": size,
            "num_method": cfg.num_method,
            "cat_method": cfg.cat_method,
            "threshold": cfg.threshold,
            "drift_share": cfg.drift_share,
            "min_window_rows": cfg.min_window_rows,
            "html_dir": str(html_dir) if html_dir else None,
            "embedding_summary": "PCA-2 of standardised 8x8 grey thumbnails, fitted on the reference window",
        },
        label_order=CANONICAL_EMOTIONS,
    )


def _all_clips(root: Path) -> list:
    from affectgate.datasets.dfew import load_dfew_split, n_folds

    folds = n_folds(root=root)
    if folds == 0:
        raise DataError(f"no test split under {root / 'EmoLabel_DataSplit'}", fix="point at a DFEW-layout dataset")
    samples = {}
    for k in range(1, folds + 1):
        for s in load_dfew_split(root=root, fold=k, split="test").samples:
            samples.setdefault(s.video_name, s)
    return sorted(samples.values(), key=lambda s: s.video_name)


def quarterly_audit(
    *,
    root: Path,
    windows: int = 4,
    reference: str = "first",
    window_column: str = "capture_quarter",
    predictions: pd.DataFrame | None = None,
    settings: DriftSettings | None = None,
    html_dir: Path | None = None,
    frames: int = 4,
    size: int = 112,
    workers: int = 2,
) -> DriftAudit:
    """Drift audit of a DFEW-layout dataset over its last ``windows`` periods, without a model.

    Every clip of the dataset (the union of its folds' test splits) is measured; ``metadata.csv`` gives
    each clip's window. ``predictions`` (columns ``sample_id``, ``pred``, ``confidence`` or ``p_*``,
    optionally ``target``), when given, add the prediction distribution and per-class precision/recall
    for the clips they cover.
    """
    from affectgate.datasets.dfew import load_metadata

    cfg = settings or DriftSettings()
    meta = load_metadata(root=root)
    if meta is None:
        raise DataError(f"{root} has no metadata.csv", fix=f"a drift audit reads each clip's {window_column} from it")
    if window_column not in meta.columns:
        raise DataError(f"{root / 'metadata.csv'} has no {window_column} column", fix="add the column per clip")
    samples = _all_clips(root)
    missing = [s.video_name for s in samples if s.video_name not in meta.index]
    if missing:
        raise DataError(f"{root / 'metadata.csv'} has no row for clips {missing[:5]}", fix="one metadata row per clip")
    ref, current = order_windows(values=meta[window_column], reference=reference, windows=windows)
    keep = {ref, *current}
    samples = [s for s in samples if str(meta.loc[s.video_name, window_column]) in keep]
    stats = sample_statistics(samples=samples, frames=frames, size=size, workers=workers)
    table = build_table(stats=stats, windows=meta[window_column].astype(str), reference=ref, predictions=predictions)
    return run_audit(table=table, reference=ref, windows=None, settings=cfg, html_dir=html_dir)


__all__ = [
    "DriftAudit",
    "DriftSettings",
    "EMBEDDING_COLUMNS",
    "INPUT_COLUMNS",
    "EvidentlyTest",
    "WindowDrift",
    "WindowLabels",
    "build_table",
    "compare_window",
    "drift_measurements",
    "drift_reports",
    "evaluate_drift",
    "label_metrics",
    "order_windows",
    "pop_drift_html",
    "quarterly_audit",
    "run_audit",
    "save_html",
]
