"""`streamlit run dashboards/app.py` on a free port for the browser tests, and Playwright helpers.

No browser is downloaded: Playwright launches Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _dashboard_fixtures import ROOT, DashWorkspace

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def streamlit_server(
    ws: DashWorkspace,
    *,
    log: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
) -> Iterator[str]:
    """The dashboard over ``ws`` (extra environment ``env``, extra CLI ``args``); yields its URL."""
    port = port or free_port()
    full_env = {
        **os.environ,
        "AFFECTGATE_PROJECT_ROOT": str(ROOT),
        "AFFECTGATE_WORKSPACE": str(ws.workspace),
        "AFFECTGATE_DATA_ROOT": str(ws.data_root),
        "OMP_NUM_THREADS": "1",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboards" / "app.py")]
    cmd += ["--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1"]
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *(args or [])]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"streamlit did not start on port {port}; log: {log}") from None
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_idle(page) -> None:  # noqa: ANN001 - playwright Page
    """Wait until the script run that rendered the page has finished (Streamlit's own test attribute)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=30_000)


def wait_title(page, title: str) -> None:  # noqa: ANN001 - playwright Page
    """Wait for the page heading ``title`` and the end of the script run."""
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)
    wait_idle(page)


def open_page(page, name: str, title: str | None = None) -> None:  # noqa: ANN001 - playwright Page
    """Click ``name`` in the sidebar navigation and wait for the page to render."""
    page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
    wait_title(page, title or name)
