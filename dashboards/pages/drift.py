"""Drift: quarter-by-quarter input-statistic tests and per-class precision/recall; Evidently's report embedded."""

from __future__ import annotations

import common
import plotly.express as px
import streamlit as st

from affectgate.dashboard.data import drift_class_metrics, drift_features, drift_windows, result_of
from affectgate.gate.runs import drift_reports

s = common.settings()
st.title("Drift")
runs = [r for r in common.runs(s) if result_of(r.report, "drift") is not None]
if not runs:
    common.empty_state(
        "No drift audit yet: gate with `--suite quarterly_drift` (or run the quarterly drift flow) on data "
        "with a `capture_quarter` column."
    )
common.synthetic_banner(runs)

labels = {common.run_label(r): r for r in runs}
run = labels[st.selectbox("Drift audit run", list(labels))]
res = result_of(run.report, "drift")
if res is None or res.status != "ok":
    st.error(f"The drift evaluator failed in this run: {res.error if res else 'missing'}")
    st.stop()
threshold = float(res.params.get("threshold", 0.05) or 0.05)  # type: ignore[arg-type]
st.caption(
    f"Each capture quarter is compared with the reference quarter ({res.params.get('reference', 'first')}); a "
    f"statistic drifts when its test's p-value is below {threshold}; a quarter drifts when the share of drifted "
    f"statistics reaches {res.params.get('drift_share', 'n/a')}."
)

windows = drift_windows(run.report)
st.subheader("Quarters")
st.dataframe(
    windows.style.apply(
        lambda row: ["background-color:#fecaca" if row["drift detected"] == 1.0 else "" for _ in row], axis=1
    ).format({"share drifted": "{:.0%}", "drift detected": lambda v: "yes" if v == 1.0 else "no"}, na_rep="not judged"),
    hide_index=True,
)

features = drift_features(run.report)
if not features.empty:
    st.subheader("Input statistics: p-value per quarter (drifted in red)")
    fig = px.line(features, x="window", y="p_value", color="feature", markers=True, log_y=True)
    fig.add_hline(y=threshold, line_dash="dot", line_color="red", annotation_text=f"p = {threshold}")
    drifted = features[features["drifted"]]
    if not drifted.empty:
        fig.add_scatter(
            x=drifted["window"],
            y=drifted["p_value"],
            mode="markers",
            marker={"color": "red", "size": 12},
            name="drifted",
            text=drifted["feature"],
        )
    st.plotly_chart(fig, key="drift-features")
    pivot = features.pivot_table(index="feature", columns="window", values="p_value")
    flags = features.pivot_table(index="feature", columns="window", values="drifted", aggfunc="max")
    st.dataframe(
        pivot.style.format("{:.3g}").apply(
            lambda col: ["background-color:#fecaca" if flags.loc[i, col.name] else "" for i in col.index]
        )
    )

labels_df = drift_class_metrics(run.report)
if not labels_df.empty:
    st.subheader("Per-class precision and recall per quarter")
    long = labels_df.melt(id_vars=["window", "class"], value_vars=["precision", "recall"], var_name="metric")
    fig = px.line(long, x="window", y="value", color="class", line_dash="metric", markers=True)
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, key="drift-classes")

reports = drift_reports(run=run)
st.subheader("Evidently report")
if not reports:
    st.info("No Evidently HTML in this run folder (drift/drift_<quarter>.html).")
else:
    chosen = st.selectbox("Quarter", reports, format_func=lambda p: p.stem.removeprefix("drift_"))
    size_mb = chosen.stat().st_size / 1e6
    # embedded on demand: each report is megabytes of HTML and script that the browser would otherwise
    # receive and render on every visit of this page
    if st.toggle(f"Show Evidently's report for this quarter ({size_mb:.1f} MB)", key="drift-show-evidently"):
        st.iframe(chosen, height=900)  # our own run artefact (Evidently HTML written by the gate)
