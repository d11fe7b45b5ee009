"""Overview: per deployment context the alias holder, the latest verdict, open review items; audit-chain status."""

from __future__ import annotations

import common
import streamlit as st

from affectgate.dashboard.data import chain_summary, overview_table
from affectgate.gate.runs import latest_decisions
from affectgate.oversight.queue import review_items

s = common.settings()
st.title("Overview")

chain = common.chain(s)
ok, text = chain_summary(chain)
(st.success if ok else st.error)(text)

runs = common.runs(s)
if not runs:
    common.empty_state("No evaluation runs in this workspace yet.")
common.synthetic_banner(runs)

latest = latest_decisions(settings=s)
index = common.run_index(s)
items = review_items(settings=s)
holders = {}
for ctx, (run, _d) in latest.items():
    info = index.get(run.report.run_id)
    model = info.model if info and info.model else run.report.candidate
    holders[(model, ctx)] = common.alias_holder(s, model=model, context_id=ctx)
table = overview_table(latest=latest, holders=holders, index=index, open_items=items)

c1, c2, c3, c4 = st.columns(4)
c1.metric("contexts", len(table))
c2.metric("allowed", int((table["latest verdict"] == "allow").sum()))
c3.metric("blocked", int((table["latest verdict"] == "block").sum()))
c4.metric("open review items", len(items))

st.subheader("Deployment contexts")
st.dataframe(table, hide_index=True)
if items:
    st.info(f"{len(items)} release(s) await a compliance officer's sign-off: open the **Review queue** page.")
st.caption(f"Workspace: `{s.workspace_dir}` — {len(runs)} run folder(s).")
