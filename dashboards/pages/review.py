"""Review queue: releases awaiting sign-off with all evidence on one screen; approve or reject with a reason."""

from __future__ import annotations

import common
import pandas as pd
import streamlit as st

from affectgate.core.errors import AffectgateError
from affectgate.dashboard.data import gap_table, outcomes_table, result_of
from affectgate.evaluators.plots import confusion_figure
from affectgate.orchestration.review_flow import waiting_flows
from affectgate.oversight.queue import SIGNOFF_ROLE, can_sign, review_items, signoffs
from affectgate.oversight.signoff import sign_off

s = common.settings()
user = common.current_user()
st.title("Review queue")
flash = st.session_state.pop("review_flash", None)
if flash:
    st.success(flash)

if not common.runs(s):
    common.empty_state("No evaluation runs, so nothing to review.")
try:
    items = review_items(settings=s)
except AffectgateError as exc:  # an audit log that does not verify: nothing can be signed off
    st.error(exc.what)
    st.info(exc.fix or "")
    st.stop()
tampered = [(r.report.run_id, f) for r in common.runs(s) for f in r.findings]
if tampered:
    st.error(
        "Run folders that disagree with the audit log (their decisions count as **block**, nothing can be signed "
        "off on them):\n\n" + "\n".join(f"- run `{run_id}`: {why}" for run_id, why in tampered)
    )
if not items:
    st.info(
        "No release awaits sign-off. Items appear here when the policy sends a decision to **review** "
        "(e.g. inconclusive fairness, missing evidence) and stay until a compliance officer approves or rejects."
    )
else:
    st.caption(
        f"{len(items)} item(s) await sign-off. Approving moves the context's registry alias to the version; "
        "rejecting leaves the alias where it is. Both need a reason and are written to the audit chain."
    )
    labels = {
        f"{i.context_id} — {i.model} v{i.version} — run {i.run_id}" + (" [SYNTHETIC]" if i.synthetic_data else ""): i
        for i in items
    }
    item = labels[st.selectbox("Item", list(labels))]
    run = next(r for r in common.runs(s) if r.report.run_id == item.run_id)
    decision = next(d for d in run.decisions if d.context_id == item.context_id)
    rep = run.report
    if item.synthetic_data:
        st.warning("The evidence for this item comes from SYNTHETIC data.")
    paused_flow = waiting_flows(common.events(s)).get(item.run_id)
    if paused_flow:
        st.info(
            f"The release-gate flow run `{paused_flow}` is paused waiting for this decision; signing off "
            "resumes it (approve: exit 0, reject: exit 1)."
        )

    st.subheader(f"{item.context_id}: {item.model} v{item.version}")
    holder = common.alias_holder(s, model=item.model, context_id=item.context_id) if item.model else None
    c1, c2, c3, c4 = st.columns(4)
    service = " (service)" if item.submitter_kind == "service" else ""
    c1.metric("submitted by", f"{item.submitter or 'unknown'}{service}")
    c2.metric("alias holder now", f"v{holder}" if holder else "none")
    war, uar = rep.metric("war"), rep.metric("uar")
    c3.metric("WAR", "n/a" if war is None or war.value is None else f"{war.value:.3f}")
    c4.metric("UAR", "n/a" if uar is None or uar.value is None else f"{uar.value:.3f}")
    st.markdown("**Why it needs a human decision**")
    for reason in item.reasons:
        st.markdown(f"- {reason}")

    left, right = st.columns(2)
    with left:
        st.markdown("**All rule outcomes**")
        st.dataframe(outcomes_table(decision)[["rule", "status", "severity", "article"]], hide_index=True)
        if result_of(rep, "fairness") is not None:
            st.markdown("**Fairness gaps**")
            threshold = common.gap_threshold(s, common.context(s, item.context_id))
            st.dataframe(
                gap_table(rep, threshold=threshold)[["attribute", "gap", "ci_low", "ci_high", "finding"]],
                hide_index=True,
            )
    with right:
        acc = result_of(rep, "accuracy")
        if acc is not None and acc.confusion is not None:
            st.plotly_chart(confusion_figure(acc), key="review-confusion")
        ctx = common.context(s, item.context_id)
        if ctx is not None:
            st.markdown(
                f"**Context:** {ctx.title} — sector {ctx.sector}, purpose {ctx.purpose}, "
                f"oversight plan {ctx.oversight_plan or 'none'}"
            )

    st.divider()
    allowed, why = can_sign(item=item, user=user.username, role=user.role)
    if user.role != SIGNOFF_ROLE:
        st.info(f"Only the {SIGNOFF_ROLE} role can sign off. You are logged in as {user.role}.")
    elif not allowed:
        st.warning(f"You cannot sign this item off: {why}.")
    else:
        with st.form(key=f"signoff-{item.run_id}-{item.context_id}"):
            choice = st.radio("Decision", ["approve", "reject"], horizontal=True)
            reason = st.text_area("Reason (mandatory, written to the audit log)")
            submitted = st.form_submit_button("Sign off", type="primary")
        if submitted:
            try:
                done = sign_off(
                    settings=s,
                    run_id=item.run_id,
                    context_id=item.context_id,
                    approver=user.username,
                    role=user.role,
                    decision=choice,
                    reason=reason,
                )
            except AffectgateError as exc:
                st.error(exc.what + (f" — {exc.fix}" if exc.fix else ""))
            else:
                moved = f"; alias {item.context_id} now points to v{done.version}" if done.alias_moved else ""
                st.session_state["review_flash"] = (
                    f"Signed off: {done.decision} {item.context_id} {done.model} v{done.version} "
                    f"(audit #{done.seq}){moved}. Gate flow: {done.flow}."
                )
                st.rerun()

st.subheader("Sign-off history")
done = signoffs(settings=s)
if not done:
    st.caption("No sign-offs yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "time": x.time.strftime("%Y-%m-%d %H:%M"),
                    "context": x.context_id,
                    "model": f"{x.model} v{x.version}",
                    "decision": x.decision,
                    "by": x.approver,
                    "reason": x.reason,
                    "alias moved": x.alias_moved,
                    "audit #": x.seq,
                }
                for x in reversed(done)
            ]
        ),
        hide_index=True,
    )
