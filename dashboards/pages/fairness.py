"""Fairness: per attribute and intersection, group accuracy with intervals against the threshold; the finding.

An engagement-signal run has no accuracy: its gap is the per-group MAE of the engagement score (error gap).
"""

from __future__ import annotations

import itertools

import common
import plotly.graph_objects as go
import streamlit as st

from affectgate.dashboard.data import gap_source, gap_table, group_table, intersection_result
from affectgate.evaluators.fairness import evaluate_fairness  # noqa: F401 - registers the evaluator

s = common.settings()
st.title("Fairness")
runs = [r for r in common.runs(s) if gap_source(r.report)[0] is not None]
if not runs:
    common.empty_state("No run with a fairness evaluation yet.")
common.synthetic_banner(runs)


labels = {common.run_label(r): r for r in runs}
run = labels[st.selectbox("Run", list(labels))]
rep = run.report
contexts = [d.context_id for d in run.decisions]
ctx_id = st.selectbox("Judge against the threshold of context", contexts) if contexts else None
ctx = common.context(s, ctx_id) if ctx_id else None
res, kind = gap_source(rep)
threshold = common.gap_threshold(s, ctx, kind)
what = "accuracy gap" if kind == "accuracy" else "gap in engagement-score MAE (0-1 scale)"
st.caption(
    f"Threshold: {what} < {threshold:.2f} between groups, judged on the 95% CI by subject: "
    "**exceeds** when even the CI's lower bound reaches it (block), **inconclusive** when only the upper bound "
    "does or small groups were excluded (review), else **not shown to exceed**."
)
if res is None or res.status != "ok":
    name = "fairness" if kind == "accuracy" else "engagement"
    st.error(f"The {name} evaluator did not produce results in this run: {res.error if res else 'missing'}")
    st.stop()

gaps = gap_table(rep, threshold=threshold)
st.subheader("Findings per attribute")
st.dataframe(
    gaps.style.apply(
        lambda row: [
            {"exceeds": "background-color:#fecaca", "inconclusive": "background-color:#fef3c7"}.get(row["finding"], "")
            for _ in row
        ],
        axis=1,
    ).format({"gap": "{:.3f}", "ci_low": "{:.3f}", "ci_high": "{:.3f}", "threshold": "{:.2f}"}, na_rep="n/a"),
    hide_index=True,
)
if run.decisions and ctx_id:
    decision = next(d for d in run.decisions if d.context_id == ctx_id)
    for o in decision.outcomes:
        if o.rule_id.startswith("quality.fairness"):
            st.markdown(f"- `{o.rule_id}` **{o.status}** ({o.article}): {o.message}")

groups = group_table(rep)
if kind == "error":
    st.subheader("Engagement-score MAE per group and group sizes")
    for attr, sub in groups.groupby("attribute", sort=False):
        fig = go.Figure(go.Bar(x=sub["group"], y=sub["mae"], text=[f"n={n}" for n in sub["n"]], textposition="outside"))
        low = float(sub["mae"].min())
        fig.add_hrect(y0=low, y1=low + threshold, fillcolor="green", opacity=0.08, line_width=0)
        fig.update_layout(title=f"{attr}: MAE per group (band: within {threshold:.2f} of the best group)", height=320)
        st.plotly_chart(fig, key=f"fair-{attr}")
    st.dataframe(groups, hide_index=True)
    st.stop()
st.subheader("Group accuracy (95% exact binomial interval) and group sizes")
for attr, sub in groups.groupby("attribute", sort=False):
    fig = go.Figure(
        go.Bar(
            x=sub["group"],
            y=sub["accuracy"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": sub["accuracy ci_high"] - sub["accuracy"],
                "arrayminus": sub["accuracy"] - sub["accuracy ci_low"],
            },
            text=[f"n={n}" for n in sub["n"]],
            textposition="outside",
        )
    )
    top = float(sub["accuracy"].max())
    fig.add_hrect(y0=top - threshold, y1=top, fillcolor="green", opacity=0.08, line_width=0)
    fig.update_layout(
        title=f"{attr}: accuracy per group (band: within {threshold:.2f} of the best group)",
        yaxis={"tickformat": ".0%", "range": [0, 1.1]},
        height=320,
    )
    st.plotly_chart(fig, key=f"fair-{attr}")
st.dataframe(groups, hide_index=True)

st.subheader("Intersections")
attrs = list(res.params.get("attributes") or [])  # type: ignore[arg-type]
preds = common.run_predictions(run)
pairs = [" x ".join(p) for p in itertools.combinations(attrs, 2)]
if preds is None or not pairs:
    st.info("No stored predictions or fewer than two attributes: intersections cannot be shown.")
else:
    choice = st.selectbox("Intersection", pairs)
    st.caption(
        "Computed here by the release suite's own fairness evaluator on the stored predictions; additional "
        "evidence, not part of the gate decision."
    )

    @st.cache_data(show_spinner=False)
    def _intersection(run_id: str, pair: str, _preds, _params):  # noqa: ANN001, ANN202
        return intersection_result(predictions=_preds, attributes=pair.split(" x "), params=_params)

    inter = _intersection(rep.run_id, choice, preds, dict(res.params))
    if inter.status != "ok":
        st.warning(f"Too few clips per intersection group to judge: {inter.error}")
    else:
        inter_rep = rep.model_copy(update={"results": (inter,)})
        st.dataframe(gap_table(inter_rep, threshold=threshold).query("attribute != 'overall (gated)'"), hide_index=True)
        st.dataframe(group_table(inter_rep), hide_index=True)
