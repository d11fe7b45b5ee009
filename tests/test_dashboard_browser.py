"""The dashboard in a real browser: `streamlit run` + headless Debian Chromium driven by Playwright.

Logs in, opens every page, approves one review item and saves a screenshot per step under
``test-artifacts/dashboard/`` (with ``timings.json``: seconds from click to rendered page; reported,
never asserted). No browser is downloaded: Playwright launches ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _dashboard_fixtures import ROOT, copy_workspace, gated_workspace, mlflow_uri_restored
from affectgate.pipeline import audit_log, registry

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PAGES = ["Overview", "Candidates", "Fairness", "Drift", "Policy", "Review queue", "Audit trail", "Export"]
TITLES = {"Export": "Export an audit report"}

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    """`streamlit run dashboards/app.py` on a free port over a private copy of the gated workspace."""
    with mlflow_uri_restored():
        base = gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))
        ws = copy_workspace(base, tmp_path_factory.mktemp("browser") / "ws")
    port = _free_port()
    env = {
        **os.environ,
        "AFFECTGATE_PROJECT_ROOT": str(ROOT),
        "AFFECTGATE_WORKSPACE": str(ws.workspace),
        "AFFECTGATE_DATA_ROOT": str(ws.data_root),
        "OMP_NUM_THREADS": "1",
    }
    log = (tmp_path_factory.mktemp("streamlit") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboards" / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail(f"streamlit did not start on port {port}; log: {log.name}")
    yield url, ws
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _wait_idle(page) -> None:  # noqa: ANN001 - playwright Page
    """Wait until the script run that rendered the page has finished (Streamlit's own test attribute)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=30_000)


def _wait_title(page, title: str) -> None:  # noqa: ANN001 - playwright Page
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)
    _wait_idle(page)


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
