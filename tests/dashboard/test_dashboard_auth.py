"""Dashboard authentication under AppTest: demo users refused outside the demo workspace, idle sessions end."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from _dashboard_fixtures import ROOT, dashboard_env, gated_workspace

APP = str(ROOT / "dashboards" / "app.py")


@pytest.fixture(scope="module")
def base(built, tmp_path_factory):
    """The session's gated demo workspace (read-only here)."""
    return gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))


def _messages(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("error", "info", "warning", "caption") for e in getattr(at, kind))


def test_demo_users_refused_outside_the_demo_workspace(tmp_path):
    """A workspace not marked demo stops the app at start-up, naming the demo file, even with a forged session."""
    with dashboard_env(None, empty=tmp_path / "real"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.session_state["authentication_status"] = True  # as a re-authentication cookie would leave it
        at.session_state["username"] = "officer"
        at.run()
    text = _messages(at)
    assert "refuses to start" in text and "public demo credentials file" in text, text
    assert not at.text_input and "Overview" not in [t.value for t in at.title]


@pytest.mark.xfail(
    reason="known gap (issue 19 item 5 stays open): under AppTest the idle expiry does not end the session yet; "
    "the browser test of reload/deep links is not verified either",
    strict=False,
)
def test_idle_session_ends_and_asks_to_log_in_again(base, monkeypatch):
    """After dashboard_idle_minutes (default 30) without interaction the next run shows the login form and says why.

    The default is used: the app's settings are cached per test process by earlier AppTests.
    """
    from affectgate.project.settings import Settings

    idle = Settings.model_fields["dashboard_idle_minutes"].default
    with dashboard_env(base):
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.text_input[0].input("officer")
        at.text_input[1].input("officer-demo")
        at.button[0].click().run()
        assert [t.value for t in at.title] == ["Overview"]
        assert any("DEMO workspace" in c.value for c in at.sidebar.caption)
        at.session_state["affectgate_last_seen"] = time.time() - (idle + 1) * 60
        at.run()
    assert f"ended after {idle:g} minutes without activity" in _messages(at)
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    key = (base.workspace / "keys" / "dashboard-cookie.key").read_text().strip()
    assert len(key) >= 32 and "demo" not in key  # generated for this installation
