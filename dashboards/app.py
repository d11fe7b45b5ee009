"""Compliance officer's overview (Streamlit). Reads the workspace only; run `make demo` first.

Start with `make dashboard`. The full multipage app (roles, review queue, export) is tracked in the
dashboard issue; this page is the foundation's overview.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from affectgate.pipeline import SYNTHETIC_NOTICE, audit_log, registry
from affectgate.settings import get_settings
from affectgate.store import latest_decisions, list_runs

st.set_page_config(page_title="affectgate — overview", layout="wide")
st.title("affectgate — release overview")
settings = get_settings()

runs = list_runs(settings=settings)
if not runs:
    st.info("No evaluation runs in this workspace yet. Run `make demo` (or `affectgate gate ...`) first.")
    st.stop()

if any(r.report.synthetic_data for r in runs):
    st.warning(SYNTHETIC_NOTICE)

chain = audit_log(settings).verify()
if chain.ok:
    st.success(f"Audit chain verified: {chain.n_events} events.")
else:
    st.error(f"Audit chain BROKEN at event {chain.first_bad_seq}: {chain.problems[0].message}")

st.header("Deployment contexts")
reg = registry(settings)
rows = []
for ctx_id, (run, decision) in sorted(latest_decisions(settings=settings).items()):
    holder = reg.alias_version(name=run.report.candidate, context_id=ctx_id)
    uar = run.report.metric("uar")
    gap = run.report.metric("fairness.accuracy_max_gap")
    rows.append(
        {
            "context": ctx_id,
            "latest verdict": decision.verdict,
            "model": run.report.candidate,
            "alias holder": f"v{holder}" if holder else "none",
            "UAR": None if uar is None else round(uar.value or 0, 3),
            "max group gap": None if gap is None else round(gap.value or 0, 3),
            "reasons": "; ".join(f"{o.rule_id} ({o.article})" for o in decision.reasons) or "all rules pass",
            "decided as of": decision.as_of.isoformat(),
        }
    )
st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)

st.header("Rule outcomes")
for ctx_id, (_run, decision) in sorted(latest_decisions(settings=settings).items()):
    with st.expander(f"{ctx_id}: {decision.verdict}"):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "rule": o.rule_id,
                        "article": o.article,
                        "status": o.status,
                        "severity": o.severity,
                        "effective from": o.effective_from.isoformat(),
                        "message": o.message,
                    }
                    for o in decision.outcomes
                ]
            ),
            hide_index=True,
            use_container_width=True,
        )
