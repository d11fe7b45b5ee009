"""Policy: per context every rule outcome (article, severity, evidence, effective_from) beside the declaration."""

from __future__ import annotations

import common
import streamlit as st

from affectgate.dashboard.data import context_table, outcomes_table
from affectgate.gate.runs import latest_decisions

s = common.settings()
st.title("Policy")
runs = common.runs(s)
latest = latest_decisions(settings=s)
if not latest:
    common.empty_state("No policy decision yet.")
common.synthetic_banner(runs)

ctx_id = st.selectbox("Deployment context", sorted(latest))
history = [(r, d) for r in runs for d in r.decisions if d.context_id == ctx_id]
choice = st.selectbox(
    "Decision",
    range(len(history)),
    format_func=lambda i: (
        f"{history[i][1].verdict.upper()} — run {history[i][0].report.run_id} (as of {history[i][1].as_of.isoformat()})"
    ),
)
run, decision = history[choice]
verdict_box = {"allow": st.success, "block": st.error, "review": st.warning}[decision.verdict]
verdict_box(f"Verdict for {ctx_id}: **{decision.verdict}** — {len(decision.reasons)} failed or errored rule(s).")

left, right = st.columns([3, 2])
with left:
    st.subheader("Rule outcomes")
    table = outcomes_table(decision)
    colour = {"fail": "#fecaca", "error": "#fef3c7", "pass": "#dcfce7"}
    st.dataframe(
        table.style.apply(lambda row: [f"background-color:{colour.get(row['status'], '')}" for _ in row], axis=1),
        hide_index=True,
    )
    st.markdown("**Evidence**")
    st.caption(
        f"Run folder: `{run.folder}` — policy pack digests: "
        + ", ".join(f"{k} {v[:12]}" for k, v in decision.pack_digests.items())
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        "report.json (evaluation evidence)",
        (run.folder / "report.json").read_bytes(),
        file_name=f"{run.report.run_id}.report.json",
        mime="application/json",
        key="dl-report",
    )
    c2.download_button(
        f"decision.{ctx_id}.json",
        (run.folder / f"decision.{ctx_id}.json").read_bytes(),
        file_name=f"{run.report.run_id}.decision.{ctx_id}.json",
        mime="application/json",
        key="dl-decision",
    )
with right:
    st.subheader("Context declaration")
    ctx = common.context(s, ctx_id)
    if ctx is None:
        st.warning(f"policies/contexts/{ctx_id}.yaml no longer exists; the decision above used its earlier version.")
    else:
        st.markdown(f"*{ctx.title}*")
        st.dataframe(context_table(ctx), hide_index=True)
