"""Audit trail: searchable hash-chained events and the alias history (which version held alias X on date T)."""

from __future__ import annotations

from datetime import UTC, datetime

import common
import streamlit as st

from affectgate.core.errors import AffectgateError
from affectgate.dashboard.data import alias_history, alias_holder_at, chain_summary, end_of_day, events_table

s = common.settings()
st.title("Audit trail")
chain = common.chain(s)
ok, text = chain_summary(chain)
(st.success if ok else st.error)(text)
if not ok:
    st.dataframe([p.model_dump() for p in chain.problems], hide_index=True)
try:
    events = common.events(s)
except AffectgateError as exc:
    st.error(f"The audit log cannot be read: {exc.what}")
    st.stop()
if not events:
    common.empty_state("The audit log is empty.")

st.subheader("Events")
c1, c2 = st.columns([2, 3])
query = c1.text_input("Search (actor, action, subject, payload)", key="audit-query")
actions = c2.multiselect("Actions", sorted({e.action for e in events}), key="audit-actions")
table = events_table(events, query=query, actions=actions)
st.caption(f"{len(table)} of {len(events)} events, newest first.")
st.dataframe(table, hide_index=True)

st.subheader("Alias history")
history = alias_history(events)
if history.empty:
    st.info("No alias has moved yet: aliases move on an `allow` verdict or an approved sign-off.")
else:
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Model", sorted(history["model"].unique()), key="alias-model")
    alias = c2.selectbox(
        "Alias (context)", sorted(history[history["model"] == model]["alias"].unique()), key="alias-name"
    )
    day = c3.date_input("On date", value=datetime.now(UTC).date(), key="alias-date")
    holder = alias_holder_at(history, model=model, alias=alias, when=end_of_day(day))
    if holder is None:
        st.warning(f"No version of {model} held alias **{alias}** on {day.isoformat()}.")
    else:
        st.success(
            f"On {day.isoformat()} alias **{alias}** of {model} was held by **v{holder['version']}** "
            f"(since {holder['time']:%Y-%m-%d %H:%M} UTC, {holder['how']} by {holder['actor']}, "
            f"audit #{holder['seq']})."
        )
    st.dataframe(history[(history["model"] == model) & (history["alias"] == alias)], hide_index=True)
