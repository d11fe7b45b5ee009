"""Accuracy: WAR, UAR, macro-F1, per-class precision/recall, confusion, kappa, CCC, AU F1, folds, frames.

Every metric says its direction and averaging. **Label space**: the metrics are computed over the
model card's label space (:func:`affectgate.datasets.labels.label_space`), never a library default:
``params["labels"]`` when the suite or the gate passes it, else the space the predictions carry (the
``p_<label>`` columns inference writes, one per class of the card's space: the canonical seven, or
MAFW's 11 for an 11-class card), else the canonical seven. The result's ``label_order`` names it; a
target or prediction outside it is an error (a selection is mapped into the model's space before
inference, :func:`affectgate.datasets.selection.apply_label_map`).

What the predictions table may hold and what is measured from it (all optional except as noted):

* ``target`` / ``pred`` (labels of the space): ``war`` (micro accuracy), ``uar`` (mean recall over the
  classes of the space present in the targets, as DFEW and MAFW papers report it), ``macro_f1`` (mean
  F1 over the same present classes), ``precision`` / ``recall`` / ``f1`` with ``label=L`` (sklearn; None when undefined:
  no true clip for recall, no predicted clip for precision) and the confusion matrix (rows = true).
* ``annotator_label`` (a human annotation, canonical labels): ``kappa`` = Cohen's kappa of the model's
  ``pred`` against it. Further annotators in ``annotator_label_<suffix>`` columns add ``kappa`` with
  ``group="annotator=<column>"`` and ``kappa.inter_annotator`` (mean pairwise Cohen's kappa over all
  annotator columns). Rows with an empty annotation are left out of that pair (``n`` says how many count).
* ``valence`` / ``pred_valence`` and ``arousal`` / ``pred_arousal`` (in [-1, 1]): ``ccc_valence``,
  ``ccc_arousal`` (1/N moments) and, when both exist, ``ccc_mean`` (the ABAW VA score). A row whose
  valence or arousal annotation is ``-5`` (ABAW's invalid frame) or empty is dropped from both.
  A dimension (or AU below) is scored when both its annotation and its prediction column exist:
  annotations a model does not predict are not an error here; a policy that needs the score
  errors on its absence (fail closed).
* ``au_<AU>`` / ``pred_au_<AU>``: ``au_f1`` per AU (``label=<AU>``, binary F1) and ``au_mean_f1`` (their
  mean). Annotations are 0/1 with ``-1`` = ignore (dropped per AU); predictions >= 0.5 count as active
  (0/1 or probabilities).

**Frame level.** A table may stack clip-level and frame-level rows with a ``granularity`` column
(``"clip"`` / ``"frame"``); frame rows carry the same columns (e.g. the clip's ``sample_id``, a
``frame`` index, the per-frame ``target``/``pred`` or VA values). Every metric above is then computed
separately on the frame rows and reported with the prefix ``frame.`` (``frame.war``, ``frame.ccc_mean``,
...). Without a ``granularity`` column every row is a clip. A table of frame rows only yields ``frame.*``
measurements.

**Folds.** When a ``fold`` column holds more than one value, the headline scores (``war``, ``uar``,
``macro_f1``, ``kappa``, ``ccc_*``, ``au_mean_f1``, and their ``frame.`` variants) are also computed per
fold (``group="fold=N"``) and summarised as ``<name>.fold_mean`` (the mean of per-fold scores, as papers
report cross-fold results; ``ci_low``/``ci_high`` a 95 % Student-t interval for the mean, k-1 degrees of
freedom, assuming the k per-fold scores are independent draws around the protocol's mean — folds share
training data, so the interval is optimistic), ``<name>.fold_std`` (sample standard deviation, ddof=1)
and ``<name>.fold_worst`` (the worst fold's score in the metric's direction). The ungrouped headline
values are computed over all rows pooled.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score

from affectgate.core.records import EvalResult, Measurement
from affectgate.datasets.labels import CANONICAL_EMOTIONS, EMOTION_VOCABULARY, label_space
from affectgate.evaluators.registry import register_evaluator

#: ABAW's marker of a frame without a valid valence/arousal annotation.
VA_INVALID = -5.0
#: ABAW's marker of an AU (or EXPR) annotation to ignore.
AU_IGNORE = -1
#: Scores summarised per fold (ungrouped headline values).
FOLD_SCORES = ("war", "uar", "macro_f1", "kappa", "ccc_valence", "ccc_arousal", "ccc_mean", "au_mean_f1")
_ANNOTATOR = re.compile(r"^annotator_label(_.+)?$")


def war(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Weighted average recall = accuracy: trace of the confusion matrix over its sum."""
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict[str, float | None]:
    """Recall per label; None for a label with no true sample."""
    out: dict[str, float | None] = {}
    for lbl in labels:
        mask = y_true == lbl
        out[lbl] = float(np.mean(y_pred[mask] == lbl)) if mask.any() else None
    return out


def uar(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...] = CANONICAL_EMOTIONS) -> float:
    """Unweighted average recall: mean of per-class recall over the classes present in ``y_true``."""
    recalls = [r for r in per_class_recall(y_true, y_pred, labels).values() if r is not None]
    return float(np.mean(recalls)) if recalls else float("nan")


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...] = CANONICAL_EMOTIONS) -> float:
    """Mean per-class F1 over the classes of ``labels`` present in ``y_true`` (sklearn ``f1_score``, macro,
    zero_division=0)."""
    present = [lbl for lbl in labels if np.any(y_true == lbl)]
    if not present:
        return float("nan")
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient with 1/N moments: 2·cov / (var_x + var_y + (mean_x − mean_y)²).

    NaN when undefined (no samples, or both series constant and equal).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ccc needs two series of the same length, got {x.shape} and {y.shape}")
    if len(x) == 0:
        return float("nan")
    mx, my = x.mean(), y.mean()
    vx, vy = np.mean((x - mx) ** 2), np.mean((y - my) ** 2)
    cov = np.mean((x - mx) * (y - my))
    denom = vx + vy + (mx - my) ** 2
    return float(2.0 * cov / denom) if denom > 0 else float("nan")


def _value(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


#: Predictions that are not a class but count as wrong: a tied vote of a predictions-file candidate.
NON_CLASS_PREDICTIONS = frozenset({"tie"})


def scoring_space(*, predictions: pd.DataFrame, params: dict[str, Any]) -> tuple[str, ...]:
    """The label space the accuracy metrics are computed over (see the module doc), in vocabulary order."""
    declared = params.get("labels")
    if declared:
        return label_space([str(x) for x in (declared if isinstance(declared, list | tuple) else [declared])])
    carried = [lbl for lbl in EMOTION_VOCABULARY if f"p_{lbl}" in predictions.columns]
    return label_space(carried)


def _space_name(space: tuple[str, ...]) -> str:
    return "canonical labels" if space == CANONICAL_EMOTIONS else f"the {len(space)}-class label space"


def _labels(frame: pd.DataFrame, column: str, space: tuple[str, ...] = CANONICAL_EMOTIONS) -> np.ndarray:
    values = frame[column].to_numpy(dtype=object)
    allowed = set(space) | (NON_CLASS_PREDICTIONS if column == "pred" else set())
    unknown = sorted({str(v) for v in values} - allowed)
    if unknown:
        raise ValueError(f"{column} values outside the {_space_name(space)}: {unknown}")
    return values


def _codes(frame: pd.DataFrame, column: str, space: tuple[str, ...] = CANONICAL_EMOTIONS) -> np.ndarray:
    """Integer codes of a label column: index in ``space``, ``len(space)`` for a tie.

    Same check as :func:`_labels` (a value outside the space raises), done by one hash lookup.
    """
    allowed = space + (tuple(sorted(NON_CLASS_PREDICTIONS)) if column == "pred" else ())
    codes = pd.Index(allowed, dtype=object).get_indexer(frame[column].to_numpy(dtype=object))
    if (codes < 0).any():
        unknown = sorted({str(v) for v in frame[column].to_numpy(dtype=object)[codes < 0]})
        raise ValueError(f"{column} values outside the {_space_name(space)}: {unknown}")
    return np.minimum(codes, len(space))  # every non-class prediction is one "not a class" code


def _discrete(
    frame: pd.DataFrame, prefix: str, space: tuple[str, ...] = CANONICAL_EMOTIONS
) -> tuple[list[Measurement], np.ndarray]:
    """WAR, UAR, macro-F1, per-class precision/recall/F1 and the confusion matrix from one count of (true, pred).

    The formulas are sklearn's (``precision_recall_fscore_support``, ``f1_score`` macro over the present
    classes, ``confusion_matrix`` over the labels of ``space``: a non-class prediction is left out of the
    matrix and of every class's predicted count but counts as a miss); tests pin them against sklearn.
    """
    k = len(space)
    y_true = _codes(frame, "target", space)
    y_pred = _codes(frame, "pred", space)
    n = len(y_true)
    joint = np.bincount(y_true * (k + 1) + y_pred, minlength=k * (k + 1)).reshape(k, k + 1)
    cm = joint[:, :k]  # rows = true, columns = predicted class (ties dropped, as sklearn drops unlisted labels)
    tp = np.diag(cm).astype(np.float64)
    support = joint.sum(axis=1)
    n_pred = cm.sum(axis=0)
    present = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(present, tp / support, np.nan)
        precision = np.where(n_pred > 0, tp / n_pred, np.nan)
        f1 = np.where(support + n_pred > 0, 2.0 * tp / (support + n_pred), np.nan)
    out = [
        Measurement(
            name=f"{prefix}war",
            value=_value(float(tp.sum() / n) if n else float("nan")),
            higher_is_better=True,
            averaging="micro (accuracy)",
            n=n,
        ),
        Measurement(
            name=f"{prefix}uar",
            value=_value(float(np.mean(recall[present])) if present.any() else float("nan")),
            higher_is_better=True,
            averaging=f"macro recall over the classes of the {k}-class label space present in the targets "
            f"({int(present.sum())} of {k})",
            n=n,
        ),
        Measurement(
            name=f"{prefix}macro_f1",
            value=_value(float(np.mean(f1[present])) if present.any() else float("nan")),
            higher_is_better=True,
            averaging=f"macro over the {int(present.sum())} present classes of the {k}-class label space "
            "(sklearn f1_score formula, zero_division=0)",
            n=n,
        ),
    ]
    for i, lbl in enumerate(space):
        out += [
            Measurement(
                name=f"{prefix}recall",
                value=_value(recall[i]),
                higher_is_better=True,
                averaging="per class",
                label=lbl,
                n=int(support[i]),
            ),
            Measurement(
                name=f"{prefix}precision",
                value=_value(precision[i]),
                higher_is_better=True,
                averaging="per class (over clips predicted as the class)",
                label=lbl,
                n=int(n_pred[i]),
            ),
            Measurement(
                name=f"{prefix}f1",
                value=_value(f1[i]) if support[i] else None,
                higher_is_better=True,
                averaging="per class",
                label=lbl,
                n=int(support[i]),
            ),
        ]
    return out, cm


def _present(values: pd.Series) -> np.ndarray:
    return values.notna().to_numpy() & (values.astype(str).str.strip() != "").to_numpy()


def _kappa(frame: pd.DataFrame, prefix: str, space: tuple[str, ...] = CANONICAL_EMOTIONS) -> list[Measurement]:
    annotators = sorted(
        (c for c in frame.columns if _ANNOTATOR.match(str(c))), key=lambda c: (c != "annotator_label", c)
    )
    if "annotator_label" not in annotators:
        return []
    averaging = f"Cohen's kappa (sklearn), unweighted, {_space_name(space)}"
    labels = list(space)
    out: list[Measurement] = []
    for col in annotators:
        keep = _present(frame[col])
        sub = frame[keep]
        a = _labels(sub, col, space)
        p = _labels(sub, "pred", space)
        value = cohen_kappa_score(a, p, labels=labels) if len(sub) else float("nan")
        out.append(
            Measurement(
                name=f"{prefix}kappa",
                value=_value(value),
                higher_is_better=True,
                averaging=f"model pred vs {col}: {averaging}",
                group=None if col == "annotator_label" else f"annotator={col}",
                n=len(sub),
            )
        )
    if len(annotators) >= 2:
        kappas, counts = [], []
        for c1, c2 in itertools.combinations(annotators, 2):
            keep = _present(frame[c1]) & _present(frame[c2])
            sub = frame[keep]
            if len(sub):
                kappas.append(cohen_kappa_score(_labels(sub, c1, space), _labels(sub, c2, space), labels=labels))
                counts.append(len(sub))
        out.append(
            Measurement(
                name=f"{prefix}kappa.inter_annotator",
                value=_value(float(np.mean(kappas))) if kappas else None,
                higher_is_better=True,
                averaging=f"mean pairwise {averaging} over {', '.join(annotators)}",
                n=min(counts) if counts else 0,
            )
        )
    return out


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = frame[column].notna().to_numpy() & np.isnan(values)
    if bad.any():
        raise ValueError(f"{column} has non-numeric values, e.g. {frame[column][bad].iloc[0]!r}")
    return values


def _va(frame: pd.DataFrame, prefix: str) -> list[Measurement]:
    dims = [d for d in ("valence", "arousal") if d in frame.columns and f"pred_{d}" in frame.columns]
    if not dims:
        return []
    truths = {d: _floats(frame, d) for d in dims}
    valid = np.ones(len(frame), dtype=bool)
    for t in truths.values():
        valid &= np.isfinite(t) & (t != VA_INVALID)
    for d, t in truths.items():
        outside = valid & ((t < -1) | (t > 1))
        if outside.any():
            raise ValueError(f"{d} annotation {t[outside][0]} is outside [-1, 1] (only -5 marks an invalid frame)")
    out: list[Measurement] = []
    scores = {}
    n = int(valid.sum())
    for d in dims:
        pred = _floats(frame, f"pred_{d}")[valid]
        if not np.all(np.isfinite(pred)):
            raise ValueError(f"pred_{d} is NaN/inf on {int(np.sum(~np.isfinite(pred)))} valid rows")
        scores[d] = ccc(truths[d][valid], pred)
        out.append(
            Measurement(
                name=f"{prefix}ccc_{d}",
                value=_value(scores[d]),
                higher_is_better=True,
                averaging="Lin's CCC, 1/N moments, rows with a -5/empty VA annotation dropped",
                n=n,
            )
        )
    if len(dims) == 2:
        both = [scores[d] for d in dims]
        out.append(
            Measurement(
                name=f"{prefix}ccc_mean",
                value=_value(float(np.mean(both))) if all(np.isfinite(both)) else None,
                higher_is_better=True,
                averaging="mean of valence and arousal CCC (ABAW VA score)",
                n=n,
            )
        )
    return out


def _au(frame: pd.DataFrame, prefix: str) -> list[Measurement]:
    units = sorted(str(c)[3:] for c in frame.columns if str(c).startswith("au_") and f"pred_{c}" in frame.columns)
    if not units:
        return []
    out: list[Measurement] = []
    f1s = []
    for unit in units:
        truth = _floats(frame, f"au_{unit}")
        pred = _floats(frame, f"pred_au_{unit}")
        keep = np.isfinite(truth) & (truth != AU_IGNORE)
        bad = keep & ~np.isin(truth, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"au_{unit} annotation {truth[bad][0]} is not 0, 1 or -1 (ignore)")
        if not np.all(np.isfinite(pred[keep])):
            raise ValueError(f"pred_au_{unit} is NaN/inf on annotated rows")
        value = (
            float(f1_score(truth[keep].astype(int), (pred[keep] >= 0.5).astype(int), zero_division=0))
            if keep.any()
            else float("nan")
        )
        if np.isfinite(value):
            f1s.append(value)
        out.append(
            Measurement(
                name=f"{prefix}au_f1",
                value=_value(value),
                higher_is_better=True,
                averaging="binary F1 of the active class, -1 rows ignored, prediction >= 0.5 = active",
                label=unit,
                n=int(keep.sum()),
            )
        )
    out.append(
        Measurement(
            name=f"{prefix}au_mean_f1",
            value=float(np.mean(f1s)) if f1s else None,
            higher_is_better=True,
            averaging=f"mean of per-AU F1 over {len(f1s)} AUs",
            n=len(frame),
        )
    )
    return out


@dataclass(frozen=True)
class _Scores:
    measurements: list[Measurement]
    confusion: np.ndarray | None


def _score(frame: pd.DataFrame, prefix: str, space: tuple[str, ...] = CANONICAL_EMOTIONS) -> _Scores:
    measurements: list[Measurement] = []
    confusion = None
    has_discrete = "target" in frame.columns or "pred" in frame.columns
    if has_discrete:
        missing = [c for c in ("target", "pred") if c not in frame.columns]
        if missing:
            raise ValueError(f"the predictions have no {missing[0]} column")
        found, confusion = _discrete(frame, prefix, space)
        measurements += found + _kappa(frame, prefix, space)
    measurements += _va(frame, prefix) + _au(frame, prefix)
    if not measurements:
        raise ValueError(
            "the predictions have nothing to score: no target/pred, valence/arousal or au_* columns "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    return _Scores(measurements=measurements, confusion=confusion)


def fold_interval(values: list[float], *, level: float = 0.95) -> tuple[float | None, float | None]:
    """Student-t interval for the mean of k per-fold scores (k-1 df); (None, None) for fewer than two folds.

    Assumes the per-fold scores are independent draws around the protocol's mean; folds that share
    training data are not fully independent, so the interval is optimistic (stated in the averaging).
    """
    k = len(values)
    if k < 2:
        return None, None
    mean = float(np.mean(values))
    half = float(stats.t.ppf(0.5 + level / 2, df=k - 1) * np.std(values, ddof=1) / np.sqrt(k))
    return mean - half, mean + half


def _folds(
    frame: pd.DataFrame, prefix: str, pooled: list[Measurement], space: tuple[str, ...] = CANONICAL_EMOTIONS
) -> list[Measurement]:
    if "fold" not in frame.columns or frame["fold"].nunique(dropna=True) < 2:
        return []
    if frame["fold"].isna().any():
        raise ValueError("some rows have no fold; every row of a multi-fold table needs one")
    headline = {f"{prefix}{s}" for s in FOLD_SCORES}
    direction = {m.name: m.higher_is_better for m in pooled if m.name in headline and m.group is None}
    per_fold: dict[str, list[float]] = {name: [] for name in direction}
    out: list[Measurement] = []
    for fold, sub in frame.groupby("fold", sort=True):
        for m in _score(sub, prefix, space).measurements:
            if m.name in per_fold and m.group is None:
                out.append(m.model_copy(update={"group": f"fold={fold}"}))
                if m.value is not None:
                    per_fold[m.name].append(m.value)
    n_folds = frame["fold"].nunique()
    for name, values in per_fold.items():
        complete = len(values) == n_folds
        low, high = fold_interval(values) if complete else (None, None)
        worst = (min(values) if direction[name] else max(values)) if complete else None
        out += [
            Measurement(
                name=f"{name}.fold_mean",
                value=float(np.mean(values)) if complete else None,
                higher_is_better=direction[name],
                averaging=f"mean of {n_folds} per-fold scores (cross-fold result as papers report it); interval: "
                f"95% Student-t over the {n_folds} folds ({n_folds - 1} df), folds taken as independent draws",
                n=len(frame),
                ci_low=low,
                ci_high=high,
            ),
            Measurement(
                name=f"{name}.fold_worst",
                value=float(worst) if worst is not None else None,
                higher_is_better=direction[name],
                averaging=f"worst of {n_folds} per-fold scores ({'lowest' if direction[name] else 'highest'})",
                n=len(frame),
            ),
            Measurement(
                name=f"{name}.fold_std",
                value=float(np.std(values, ddof=1)) if complete else None,
                higher_is_better=False,
                averaging=f"sample std (ddof=1) of {n_folds} per-fold scores",
                n=len(frame),
            ),
        ]
    return out


def _levels(predictions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if "granularity" not in predictions.columns:
        return {"clip": predictions}
    levels = predictions["granularity"].astype(str)
    unknown = sorted(set(levels) - {"clip", "frame"})
    if unknown:
        raise ValueError(f"granularity values must be 'clip' or 'frame', got {unknown}")
    return {lvl: predictions[levels == lvl] for lvl in ("clip", "frame") if (levels == lvl).any()}


@register_evaluator("accuracy")
def evaluate_accuracy(*, predictions: pd.DataFrame, params: dict[str, Any]) -> EvalResult:
    """Accuracy metrics of the predictions: clip level, frame level (``frame.``) and per fold; see the module doc."""
    if len(predictions) == 0:
        raise ValueError("no predictions to evaluate")
    measurements: list[Measurement] = []
    confusion = None
    space = scoring_space(predictions=predictions, params=params)
    for level, frame in _levels(predictions).items():
        prefix = "" if level == "clip" else "frame."
        frame = frame.dropna(axis=1, how="all")  # a column empty at this level (stacked table) is absent here
        scores = _score(frame, prefix, space)
        measurements += scores.measurements + _folds(frame, prefix, scores.measurements, space)
        if level == "clip":
            confusion = scores.confusion
    return EvalResult(
        evaluator="accuracy",
        status="ok",
        measurements=tuple(measurements),
        params=params,
        label_order=space,
        confusion=None if confusion is None else tuple(tuple(int(v) for v in row) for row in confusion),
    )
