"""The dashboard in a real browser: `streamlit run` + headless Debian Chromium driven by Playwright.

Logs in, opens every page, approves one review item and saves a screenshot per step under
``test-artifacts/dashboard/`` (with ``timings.json``: seconds from click to rendered page; reported,
never asserted). No browser is downloaded: Playwright launches ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import time

import pytest

from _dashboard_fixtures import ROOT, copy_workspace, gated_workspace, mlflow_uri_restored
from _dashboard_server import CHROMIUM, CHROMIUM_ARGS, streamlit_server, wait_idle, wait_title
from affectgate.gate.workspace import audit_log, registry

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
PAGES = ["Overview", "Candidates", "Fairness", "Drift", "Policy", "Review queue", "Audit trail", "Export"]
TITLES = {"Export": "Export an audit report"}

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    """`streamlit run dashboards/app.py` on a free port over a private copy of the gated workspace."""
    with mlflow_uri_restored():
        base = gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))
        ws = copy_workspace(base, tmp_path_factory.mktemp("browser") / "ws")
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with streamlit_server(ws, log=log) as url:
        yield url, ws


_wait_idle = wait_idle
_wait_title = wait_title


def _shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    page.wait_for_timeout(400)  # data grids and plotly draw after the run ends
    page.screenshot(path=str(ARTIFACTS / name))


def test_login_every_page_and_approve_one_item(server):
    """A compliance officer logs in, opens every page, approves one review item; screenshots are saved."""
    from playwright.sync_api import sync_playwright

    url, ws = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    n_events = len(audit_log(ws.settings).events())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url)
            _wait_idle(page)
            page.get_by_role("textbox", name="Username").fill("dpo")
            page.get_by_role("textbox", name="Password").fill("dpo-demo")
            _shot(page, "00-login.png")
            page.get_by_role("button", name="Log in").click()
            _wait_title(page, "Overview")
            for i, name in enumerate(PAGES, start=1):
                start = time.monotonic()
                page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
                _wait_title(page, TITLES.get(name, name))
                timings[name] = round(time.monotonic() - start, 2)
                _shot(page, f"{i:02d}-{name.lower().replace(' ', '-')}.png")
                assert page.get_by_test_id("stException").count() == 0, f"{name} raised an exception"
            # approve the first open item (dpo submitted none of them)
            page.get_by_test_id("stSidebarNav").get_by_text("Review queue", exact=True).click()
            _wait_title(page, "Review queue")
            page.get_by_label("Reason (mandatory, written to the audit log)").fill("browser test: evidence reviewed")
            page.get_by_role("button", name="Sign off").click()
            page.get_by_text("Signed off: approve").wait_for(timeout=30_000)
            _wait_idle(page)
            page.get_by_text("Signed off: approve").scroll_into_view_if_needed()
            _shot(page, "09-approved.png")
        finally:
            browser.close()
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2), encoding="utf-8")
    new = audit_log(ws.settings).events()[n_events:]
    assert [e.action for e in new] == ["signoff.approved", "alias.moved"]
    assert new[0].actor == "dpo" and new[0].payload["reason"] == "browser test: evidence reviewed"
    with mlflow_uri_restored():
        ctx = str(new[0].payload["context"])
        assert registry(ws.settings).alias_version(name=str(new[0].payload["model"]), context_id=ctx) == "1"
    assert audit_log(ws.settings).verify().ok
    assert len(list(ARTIFACTS.glob("*.png"))) >= 10


def test_login_survives_reload_and_a_forged_cookie_fails(server):
    """The re-authentication cookie (per-installation key) keeps the login over a reload;
    a cookie signed with the public demo key logs nobody in."""
    import jwt
    from playwright.sync_api import sync_playwright

    from affectgate.oversight.identity import DEMO_COOKIE_KEY

    url, _ws = server
    forged = jwt.encode({"username": "officer", "exp_date": time.time() + 3600}, DEMO_COOKIE_KEY, algorithm="HS256")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1200})
            context.add_cookies([{"name": "affectgate_dashboard", "value": forged, "url": url}])
            page = context.new_page()
            page.goto(url)
            _wait_idle(page)
            assert page.get_by_role("textbox", name="Username").count() == 1  # the forged cookie was ignored
            page.get_by_role("textbox", name="Username").fill("dpo")
            page.get_by_role("textbox", name="Password").fill("dpo-demo")
            page.get_by_role("button", name="Log in").click()
            _wait_title(page, "Overview")
            page.wait_for_timeout(1500)  # the cookie component runs in the browser
            page.reload()
            _wait_title(page, "Overview")
            assert page.get_by_role("textbox", name="Username").count() == 0
        finally:
            browser.close()


@pytest.mark.xfail(
    reason="known gap (issue 19 item 5 stays open): a deep link opened with the re-authentication cookie logs the "
    "user in but lands on Overview, because the first run (login pending) has no page registry yet",
    strict=False,
)
def test_deep_link_with_the_cookie_opens_its_page(server):
    """Logged in once, a deep link (/review) in the same browser opens the Review queue without a login form."""
    from playwright.sync_api import sync_playwright

    url, _ws = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
            page.goto(url)
            _wait_idle(page)
            page.get_by_role("textbox", name="Username").fill("dpo")
            page.get_by_role("textbox", name="Password").fill("dpo-demo")
            page.get_by_role("button", name="Log in").click()
            _wait_title(page, "Overview")
            page.wait_for_timeout(1500)  # the cookie component runs in the browser
            page.goto(url.rstrip("/") + "/review")
            _wait_title(page, "Review queue")
            assert page.get_by_role("textbox", name="Username").count() == 0
        finally:
            browser.close()
