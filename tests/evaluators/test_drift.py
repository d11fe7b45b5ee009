"""Drift with Evidently: per-column p-values, per-test outcomes, the quarterly audit and the evaluator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from onnx import TensorProto, helper
from scipy.stats import chi2_contingency, ks_2samp
from sklearn.metrics import precision_score, recall_score

from affectgate.core.errors import DataError
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.datasets.synth import SynthConfig, generate_dfew
from affectgate.evaluators import ModelInputs, list_evaluators, load_suite, run_evaluator
from affectgate.evaluators.drift import (
    INPUT_COLUMNS,
    DriftSettings,
    compare_window,
    drift_measurements,
    drift_reports,
    order_windows,
    pop_drift_html,
    quarterly_audit,
)

ROOT = Path(__file__).resolve().parents[2]
QUARTERS = ("2026Q1", "2026Q2", "2026Q3", "2026Q4")


def tiny_drift_config(seed: int) -> SynthConfig:
    """72 clips (14-24 per quarter), 2 frames of 48 px; drift (darker, smaller faces, occlusion) in 2026Q4.

    Six subjects and two folds are the fewest the generator's validator allows; with 8 clips per subject
    the reference quarter falls under min_window_rows. Over seeds 0-5 the audit was decisive: 2026Q4 had
    brightness, contrast, face size and face quality drifted every time (share 0.57-0.71 of 7 columns),
    the other quarters at most one column (0.14).
    """
    return SynthConfig(
        seed=seed, n_subjects=6, clips_per_subject=12, frames=2, image_size=48, folds=2, quarters=QUARTERS
    )


@pytest.fixture(scope="module")
def drift_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drift") / "synth"
    generate_dfew(root=root, config=tiny_drift_config(seed=0))
    return root


@pytest.fixture(scope="module")
def audit(drift_set, tmp_path_factory):
    html = tmp_path_factory.mktemp("html")
    return quarterly_audit(root=drift_set, windows=4, frames=2, size=64, html_dir=html), html


def _table(seed: int = 0, n: int = 60) -> pd.DataFrame:
    """Two windows: ``stable`` and ``pred`` hold the same values in both (shuffled), ``shifted`` moves by 1.5 sd."""
    rng = np.random.default_rng(seed)
    stable, pred = rng.normal(0, 1, n), rng.choice(["a", "b", "c"], n)
    return pd.DataFrame(
        {
            "quarter": np.repeat(["Q1", "Q2"], n),
            "stable": np.concatenate([stable, rng.permutation(stable)]),
            "shifted": np.concatenate([rng.normal(0, 1, n), rng.normal(1.5, 1, n)]),
            "pred": np.concatenate([pred, rng.permutation(pred)]),
        }
    )


# --- Evidently adapter --------------------------------------------------------------------------------


def test_p_values_match_scipy_and_each_test_is_read():
    """KS p-values equal scipy's ks_2samp; each column's test fails exactly when its p < threshold."""
    table = _table()
    ref, cur = table[table.quarter == "Q1"], table[table.quarter == "Q2"]
    w = compare_window(
        reference=ref,
        current=cur,
        window="Q2",
        reference_name="Q1",
        numerical=["stable", "shifted"],
        categorical=["pred"],
    )
    for col in ("stable", "shifted"):
        assert w.p_values[col] == pytest.approx(ks_2samp(ref[col], cur[col]).pvalue, rel=1e-9)
    assert w.p_values["shifted"] < 1e-6 < 0.05 < w.p_values["stable"]
    counts = pd.crosstab(pd.concat([ref, cur])["quarter"], pd.concat([ref, cur])["pred"]).to_numpy()
    assert w.p_values["pred"] == pytest.approx(chi2_contingency(counts, correction=False).pvalue, rel=1e-9)
    by_name = {t.name: t for t in w.tests}
    assert len(by_name) == 4  # one share test + one test per column
    for col in ("stable", "shifted", "pred"):
        assert by_name[f"Value Drift for column {col}"].failed == (w.p_values[col] < 0.05)
    assert w.drifted_count == sum(p < 0.05 for p in w.p_values.values())
    assert w.share_drifted == pytest.approx(w.drifted_count / 3)
    share_test = next(t for n, t in by_name.items() if n.startswith("Share of Drifted Columns"))
    assert share_test.failed == w.detected == (w.share_drifted >= 0.3)
    assert "<html" in w.html.lower() and len(w.html) > 10_000


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # Evidently's goodness-of-fit on a 0 count
def test_a_class_the_reference_never_predicted_is_not_proof_of_drift():
    """The homogeneity test weighs a class unseen in the reference; Evidently's goodness-of-fit gives p=0."""
    ref = pd.DataFrame({"pred": ["a"] * 10 + ["b"] * 10})
    cur = pd.DataFrame({"pred": ["a"] * 9 + ["b"] * 10 + ["c"]})
    kw = {"reference": ref, "current": cur, "window": "Q2", "reference_name": "Q1", "numerical": []}
    homogeneity = compare_window(categorical=["pred"], **kw)
    goodness_of_fit = compare_window(categorical=["pred"], settings=DriftSettings(cat_method="chisquare"), **kw)
    oracle = chi2_contingency(np.array([[10, 10, 0], [9, 10, 1]]), correction=False).pvalue
    assert homogeneity.p_values["pred"] == pytest.approx(oracle) and oracle > 0.3
    assert goodness_of_fit.p_values["pred"] == 0.0


def test_drift_share_decides_the_window_not_a_single_column():
    """One drifted column of three is not window drift at drift_share 0.5, but is at 0.3."""
    table = _table(seed=3)
    kw = {"window_column": "quarter", "numerical": ["stable", "shifted"], "categorical": ["pred"]}
    strict = drift_reports(table=table, settings=DriftSettings(drift_share=0.5), **kw)[0]
    loose = drift_reports(table=table, settings=DriftSettings(drift_share=0.3), **kw)[0]
    assert strict.drifted_count == loose.drifted_count == 1
    assert strict.detected is False and loose.detected is True


def test_small_window_is_reported_but_not_judged_and_empty_column_is_skipped():
    """A window under min_window_rows gets detected=None; a column empty in one window is not compared."""
    table = _table(n=40)
    table.loc[table.quarter == "Q2", "stable"] = np.nan
    table = pd.concat([table, table[table.quarter == "Q1"].head(4).assign(quarter="Q3")])
    reports = drift_reports(
        table=table, window_column="quarter", numerical=["stable", "shifted"], settings=DriftSettings()
    )
    q2, q3 = reports
    assert q2.columns == ("shifted",) and q2.p_values["stable"] is None and q2.detected is True
    assert q3.detected is None and q3.skipped and "min_window_rows" in q3.skipped and q3.tests == ()
    ms = drift_measurements(reports=reports)
    detected = {m.group: m.value for m in ms if m.name == "drift.detected"}
    assert detected == {"window=Q2": 1.0, "window=Q3": None}


def test_windows_order_reference_and_errors():
    """The reference is the earliest window or a named one; too few windows or an unknown name raise."""
    values = pd.Series(["2026Q3", "2026Q1", "2026Q2", "2026Q4", "2026Q1"])
    assert order_windows(values=values) == ("2026Q1", ["2026Q2", "2026Q3", "2026Q4"])
    assert order_windows(values=values, reference="2026Q2", windows=3) == ("2026Q2", ["2026Q3", "2026Q4"])
    with pytest.raises(DataError, match="5 windows asked for, the data has 4"):
        order_windows(values=values, windows=5)
    with pytest.raises(DataError, match="reference window '2025Q4' is not among"):
        order_windows(values=values, reference="2025Q4")
    with pytest.raises(DataError, match="at least two windows"):
        order_windows(values=pd.Series(["2026Q1"] * 3))


def test_settings_refuse_distance_methods_and_bad_levels():
    """Only p-value stat tests are accepted, so drift.feature_p_value is always a p-value."""
    with pytest.raises(ValueError, match="not a p-value test"):
        DriftSettings(num_method="wasserstein")
    with pytest.raises(ValueError, match="not a p-value test"):
        DriftSettings(cat_method="jensenshannon")
    with pytest.raises(ValueError, match="p-value level"):
        DriftSettings(threshold=1.5)


# --- the quarterly audit on the synthetic drift set --------------------------------------------------


def test_quarterly_audit_flags_the_drifted_quarter_only(audit):
    """Over four quarters with drift in 2026Q4, only 2026Q4 is flagged (2026Q1 is the reference)."""
    result, _ = audit
    assert result.reference == "2026Q1"
    assert [w.window for w in result.windows] == ["2026Q2", "2026Q3", "2026Q4"]
    assert result.flagged == ("2026Q4",)
    q4 = result.windows[-1]
    for col in ("brightness", "contrast", "face_size"):  # the knobs the generator turns in a drifted quarter
        assert q4.p_values[col] < 0.01, col
    for w in result.windows[:2]:
        assert w.detected is False and w.share_drifted < 0.3


def test_quarterly_audit_records_every_test_and_writes_html(audit):
    """Each Evidently test becomes its own drift.test_failed measurement; each window has an HTML file."""
    result, html_dir = audit
    assert sorted(p.name for p in html_dir.iterdir()) == [f"drift_{q}.html" for q in QUARTERS[1:]]
    ms = result.measurements
    for w in result.windows:
        group = f"window={w.window}"
        failed = {m.label: m.value for m in ms if m.name == "drift.test_failed" and m.group == group}
        assert set(failed) == {t.name for t in w.tests} and len(failed) == len(INPUT_COLUMNS) + 1
        assert failed == {t.name: float(t.status != "SUCCESS") for t in w.tests}
        p = {m.label: m.value for m in ms if m.name == "drift.feature_p_value" and m.group == group}
        assert set(p) == set(INPUT_COLUMNS)
        share = next(m for m in ms if m.name == "drift.share_drifted_features" and m.group == group)
        assert share.value == w.share_drifted and share.n == w.n_current and not share.higher_is_better
    assert not any(m.name.startswith("drift.precision") for m in ms)  # no predictions, no labels metrics


def test_audit_of_a_dataset_without_metadata_is_a_data_error(tmp_path):
    """No metadata.csv means no windows: the error names the file and the column it needs."""
    (tmp_path / "EmoLabel_DataSplit").mkdir()
    with pytest.raises(DataError, match="has no metadata.csv") as err:
        quarterly_audit(root=tmp_path)
    assert "capture_quarter" in err.value.fix


# --- the registered evaluator with real inference ----------------------------------------------------


def _tiny_candidate(folder: Path):
    """A mean-colour -> linear -> softmax ONNX model and its card (real onnxruntime inference)."""
    from affectgate.zoo.runtime import load_candidate

    folder.mkdir()
    weight = np.array([[4, -2, 0, 1, -3, 2, -1], [-3, 3, 1, 0, 2, -2, 1], [1, 0, -2, 3, 0, 1, -2]], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["clip"], ["pooled"], axes=[1, 3, 4], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "mean_colour",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["N", 2, 3, 16, 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 7])],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, [3, 7], weight.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    card = {
        "arch": "mean_colour",
        "technique": "external",
        "title": "Mean-colour test model",
        "labels": list(CANONICAL_EMOTIONS),
        "output_kinds": ["discrete_emotion"],
        "input": {
            "name": "clip",
            "layout": "NTCHW",
            "frames": 2,
            "size": 16,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.25, 0.25, 0.25],
        },
        "outputs": [{"name": "probabilities", "kind": "discrete_emotion", "level": "clip", "activation": "softmax"}],
        "preprocessing": "uniform frame sampling, resize, scale to [0, 1], normalise",
        "intended_use": "tests only",
        "licence": "test",
    }
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return load_candidate(path=folder, name="mean-colour")


@pytest.fixture(scope="module")
def predicted(drift_set, tmp_path_factory):
    """The tiny model's real predictions on fold 1's test clips (about half of the set)."""
    from affectgate.datasets.selection import group_table, select_for_gate
    from affectgate.inference.predict import predict_samples

    candidate = _tiny_candidate(tmp_path_factory.mktemp("cand") / "model")
    loaded, split = select_for_gate(fmt="dfew", root=drift_set, fold=1, split="test")
    preds = predict_samples(
        candidate=candidate, split=split, table=group_table(loaded=loaded), batch_size=16, threads=1, workers=1
    ).predictions
    return candidate, split, preds


def test_drift_evaluator_on_real_predictions(predicted):
    """The evaluator measures every quarter, keeps the HTML for the pipeline and matches sklearn P/R."""
    assert "drift" in list_evaluators()
    candidate, split, preds = predicted
    params = {"stats_frames": 2, "stats_size": 64, "min_window_rows": 5}
    pop_drift_html()
    result = run_evaluator(
        name="drift", predictions=preds, params=params, model=ModelInputs(candidate=candidate, split=split)
    )
    assert result.status == "ok", result.error
    ms = result.measurements
    present = sorted(preds["capture_quarter"].unique())
    current = present[1:]
    detected = {m.group: m.value for m in ms if m.name == "drift.detected"}
    assert current == ["2026Q2", "2026Q3", "2026Q4"]
    assert detected == {"window=2026Q2": 0.0, "window=2026Q3": 0.0, "window=2026Q4": 1.0}  # 6-11 clips a quarter
    p_labels = {m.label for m in ms if m.name == "drift.feature_p_value"}
    assert p_labels == {*INPUT_COLUMNS, "confidence", "pred"}
    html = pop_drift_html()
    assert set(html) == {f"drift_{q}.html" for q in current} and pop_drift_html() == {}
    for q in present:  # per-class precision/recall per quarter, reference included: sklearn oracle
        rows = preds[preds["capture_quarter"] == q]
        for metric, fn in (("drift.precision", precision_score), ("drift.recall", recall_score)):
            got = {m.label: m.value for m in ms if m.name == metric and m.group == f"window={q}"}
            assert set(got) == set(CANONICAL_EMOTIONS)
            want = fn(rows["target"], rows["pred"], labels=list(CANONICAL_EMOTIONS), average=None, zero_division=np.nan)
            for lbl, v in zip(CANONICAL_EMOTIONS, want, strict=True):
                assert (got[lbl] is None) if np.isnan(v) else got[lbl] == pytest.approx(v), (q, metric, lbl)
    assert result.params["html_dir"] is None and result.params["reference"] == present[0]


def test_audit_with_predictions_adds_prediction_drift_and_labels(drift_set, predicted):
    """Predictions for part of the clips add pred/confidence drift and P/R over the clips they cover."""
    _, _, preds = predicted
    result = quarterly_audit(root=drift_set, predictions=preds, frames=2, size=64)
    assert result.flagged == ("2026Q4",)
    for w in result.windows:
        assert set(w.columns) == {*INPUT_COLUMNS, "confidence", "pred"}
        assert w.n_current > int((preds["capture_quarter"] == w.window).sum())  # every clip, not just predicted
    recall = {m.label: m.n for m in result.measurements if m.name == "drift.recall" and m.group == "window=2026Q2"}
    rows = preds[preds["capture_quarter"] == "2026Q2"]
    assert recall == {lbl: int((rows["target"] == lbl).sum()) for lbl in CANONICAL_EMOTIONS}


def test_drift_evaluator_without_window_column_fails_naming_it(predicted):
    """Predictions lacking the window column give a failed result that names the column."""
    candidate, split, preds = predicted
    result = run_evaluator(
        name="drift",
        predictions=preds.drop(columns=["capture_quarter"]),
        params={},
        model=ModelInputs(candidate=candidate, split=split),
    )
    assert result.status == "failed" and "'capture_quarter'" in result.error
    no_model = run_evaluator(name="drift", predictions=preds, params={})
    assert no_model.status == "failed" and "given none" in no_model.error


def test_quarterly_drift_suite_loads():
    """The quarterly_drift suite names registered evaluators only."""
    suite = load_suite(folder=ROOT / "evaluators", name="quarterly_drift")
    assert suite.version == "0.1.0"
    assert [e.name for e in suite.evaluators] == ["accuracy", "drift"]
    assert set(e.name for e in suite.evaluators) <= set(list_evaluators())
    drift = suite.evaluators[1].params
    assert drift["window_column"] == "capture_quarter" and drift["num_method"] == "ks"
