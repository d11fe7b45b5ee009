"""Export: an audit report (HTML and PDF) for one context and period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import common
import streamlit as st

from affectgate.core.errors import AffectgateError
from affectgate.dashboard.data import build_audit_report, render_html, render_pdf
from affectgate.gate.runs import latest_decisions
from affectgate.oversight.queue import signoffs

s = common.settings()
st.title("Export an audit report")
runs = common.runs(s)
latest = latest_decisions(settings=s)
if not latest:
    common.empty_state("No decisions to report on yet.")

c1, c2, c3 = st.columns(3)
ctx_id = c1.selectbox("Context", sorted(latest), key="export-context")
today = datetime.now(UTC).date()
start = c2.date_input("From", value=today - timedelta(days=90), key="export-from")
end = c3.date_input("To", value=today, key="export-to")
if start > end:
    st.error("'From' is after 'To'.")
    st.stop()
try:
    events = common.events(s)
except AffectgateError as exc:
    st.error(f"The audit log cannot be read, so no report can be certified: {exc.what}")
    st.stop()
report = build_audit_report(
    context_id=ctx_id,
    context=common.context(s, ctx_id),
    start=start,
    end=end,
    runs=runs,
    events=events,
    signoffs=signoffs(settings=s),
    chain=common.chain(s),
)
st.markdown(
    f"**{len(report.decisions)}** decision(s), **{len(report.signoffs)}** sign-off(s), "
    f"**{len(report.alias_moves)}** alias movement(s), **{len(report.decision_events)}** audit event(s) in the period; "
    f"audit chain {'verified' if report.chain.ok else 'BROKEN'}."
)
html = render_html(report)
name = f"affectgate-audit-{ctx_id}-{start.isoformat()}-{end.isoformat()}"
d1, d2 = st.columns(2)
d1.download_button("Download HTML", html.encode("utf-8"), file_name=f"{name}.html", mime="text/html", key="dl-html")
d2.download_button("Download PDF", render_pdf(report), file_name=f"{name}.pdf", mime="application/pdf", key="dl-pdf")
with st.expander("Preview", expanded=True):
    st.html(html)
