"""Candidates: leaderboard across techniques, datasets and targets; drill-down to one candidate run."""

from __future__ import annotations

import common
import plotly.express as px
import streamlit as st

from affectgate.dashboard.data import (
    LEADERBOARD_METRICS,
    SYNTHETIC_LABEL,
    abstention_curve_of,
    clip_frames,
    evaluator_status,
    leaderboard,
    per_class_table,
    result_of,
)
from affectgate.evaluators.plots import abstention_figure, confusion_figure, robustness_figure, robustness_table

s = common.settings()
user = common.current_user()
st.title("Candidates")
runs = common.runs(s)
if not runs:
    common.empty_state("No candidate has been evaluated yet.")
common.synthetic_banner(runs)

index = common.run_index(s)
board = leaderboard(runs=runs, index=index, techniques=common.techniques(s, index))
st.subheader("Leaderboard")
st.caption(
    f"One row per evaluation run. Rows marked **{SYNTHETIC_LABEL}** were measured on generated faces, not real "
    "people. Empty cells: the run's suite did not measure it (latency, throughput and cost need the latency "
    "evaluator; CCC needs valence/arousal labels; kappa needs annotator labels)."
)
st.dataframe(
    board.style.apply(
        lambda row: ["background-color: #fef3c7" if row["data"] == SYNTHETIC_LABEL else "" for _ in row], axis=1
    ).format({c: "{:.3f}" for c in LEADERBOARD_METRICS}, na_rep="n/a"),
    hide_index=True,
)
metric = st.selectbox("Compare on", [c for c in LEADERBOARD_METRICS if board[c].notna().any()] or ["WAR"])
if board[metric].notna().any():
    fig = px.bar(
        board.dropna(subset=[metric]),
        x="run",
        y=metric,
        color="technique",
        pattern_shape="data",
        hover_data=["candidate", "dataset", "target"],
        title=f"{metric} per run",
    )
    st.plotly_chart(fig)

st.subheader("Drill-down")
labels = {common.run_label(r): r for r in runs}
run = labels[st.selectbox("Run", list(labels))]
rep = run.report
if rep.synthetic_data:
    st.warning(f"{SYNTHETIC_LABEL} DATA: {rep.dataset.name} is generated; these numbers say nothing about real people.")
cols = st.columns(4)
for col, (name, key) in zip(
    cols,
    [("WAR", "war"), ("UAR", "uar"), ("max group gap", "fairness.accuracy_max_gap"), ("clips", None)],
    strict=True,
):
    if key is None:
        col.metric(name, rep.dataset.n_samples)
    else:
        m = rep.metric(key)
        col.metric(name, "n/a" if m is None or m.value is None else f"{m.value:.3f}")
st.dataframe(evaluator_status(rep), hide_index=True)

tab_cm, tab_cls, tab_abs, tab_rob, tab_frames = st.tabs(
    ["Confusion matrix", "Per-class recall", "Abstention", "Robustness", "Sample frames"]
)
acc = result_of(rep, "accuracy")
with tab_cm:
    if acc is not None and acc.confusion is not None:
        st.plotly_chart(confusion_figure(acc))
    else:
        st.info("No confusion matrix: the accuracy evaluator did not run or failed in this run.")
with tab_cls:
    per_class = per_class_table(rep)
    if per_class.empty:
        st.info("No per-class numbers in this run.")
    else:
        st.plotly_chart(
            px.bar(
                per_class, x="class", y="recall", hover_data=["precision", "f1", "n"], title="Recall per class"
            ).update_yaxes(tickformat=".0%", range=[0, 1]),
        )
        st.dataframe(per_class, hide_index=True)
with tab_abs:
    preds = common.run_predictions(run)
    if preds is None:
        st.info("predictions.parquet is missing from the run folder.")
    else:
        st.plotly_chart(abstention_figure(abstention_curve_of(preds)))
        if result_of(rep, "abstention") is None:
            st.caption(
                "The run's suite had no abstention evaluator (use suite `full`); the curve is drawn from "
                "the stored predictions and judges nothing."
            )
with tab_rob:
    rob = result_of(rep, "robustness")
    if rob is None or rob.status != "ok":
        st.info("No robustness result in this run: gate with `--suite full` to measure WAR under corruptions.")
    else:
        st.plotly_chart(robustness_figure(rob))
        st.dataframe(robustness_table(rob), hide_index=True)
with tab_frames:
    if not common.may_see_biometrics(user, s):
        st.info(
            f"Raw face frames are biometric data (GDPR Art. 9); your role ({user.role}) may not see them. "
            f"Roles allowed: {', '.join(s.dashboard_biometric_roles)}."
        )
    else:
        preds = common.run_predictions(run)
        if preds is None or preds.empty:
            st.info("No stored predictions in this run.")
        else:
            # misclassified clips first: what a reviewer wants to look at
            order = preds.assign(_ok=preds["target"] == preds["pred"]).sort_values("_ok", kind="stable")
            st.caption("First frame per clip (true → predicted), misclassified clips first.")
            frames = clip_frames(report=rep, sample_ids=order["sample_id"].astype(str).tolist(), data_root=s.data_dir)
            if not frames:
                st.info("The dataset's frames are not reachable from here (moved, or outside the data root).")
            for c, path in zip(st.columns(len(frames)) if frames else [], frames, strict=True):
                row = order[order["sample_id"].astype(str) == path.parent.name].iloc[0]
                c.image(str(path), caption=f"{row['target']} → {row['pred']}", width="stretch")
