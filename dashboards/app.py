"""affectgate — the compliance officer's dashboard (Streamlit multipage app). Start with `make dashboard`.

Reads the workspace only (run folders, MLflow registry, audit log); the one write is a compliance
officer's sign-off on the Review queue page, which goes through :func:`affectgate.oversight.signoff.sign_off`.
Login: streamlit-authenticator over a bcrypt-hashed credentials file (AFFECTGATE_DASHBOARD_CREDENTIALS,
demo users by default) or Streamlit's OIDC login (AFFECTGATE_DASHBOARD_AUTH=oidc). See docs/dashboard.md.
The heavy imports of the pages load in a background thread while the login form is on screen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import common  # noqa: E402 - needs the folder on sys.path first

st.set_page_config(page_title="affectgate", layout="wide")

PAGES = HERE / "pages"
pages = [
    st.Page(PAGES / "overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page(PAGES / "candidates.py", title="Candidates", icon=":material/leaderboard:"),
    st.Page(PAGES / "fairness.py", title="Fairness", icon=":material/balance:"),
    st.Page(PAGES / "drift.py", title="Drift", icon=":material/trending_up:"),
    st.Page(PAGES / "policy.py", title="Policy", icon=":material/gavel:"),
    st.Page(PAGES / "review.py", title="Review queue", icon=":material/rate_review:"),
    st.Page(PAGES / "audit.py", title="Audit trail", icon=":material/link:"),
    st.Page(PAGES / "export.py", title="Export", icon=":material/description:"),
]

settings = common.settings()
try:
    user = common.login(settings)
except common.AuthConfigError as exc:
    st.error(exc.what)
    st.info(exc.fix)
    st.stop()
if user is None:
    # while the login form is on screen, the browser loads Plotly's script and the server imports what the
    # pages need (torch via affectgate.gate, MLflow, plotly, scipy, fairlearn: seconds in a fresh process)
    common.preload_chart_script()
    common.start_warmup()
    st.stop()
st.session_state["affectgate_user"] = user
common.wait_warmup()

st.navigation(pages).run()
