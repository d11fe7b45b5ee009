"""Dashboard page load times in a real browser: first visit in a fresh server process vs warm revisits.

Builds (or reuses, with ``--workspace``) the gated test workspace of ``tests/_dashboard_fixtures.py``:
the tiny synthetic DFEW set, the demo CNN trained and exported on it, and the four real gate runs.
Then starts ``streamlit run dashboards/app.py`` on a free port, drives the Debian ``/usr/bin/chromium``
with Playwright (no browser download), logs in as ``--user`` and times, per page, the seconds from
the click in the sidebar to the rendered page (its title shown and the script run finished):

- ``first``: the first visit to the page in that server process (what the issue's "under 2 s" is about);
- ``warm``: the median of ``--rounds`` later visits.

It also prints the server's start (process launch to health check), the login form's first load and the
login (button click to the Overview page, after ``--think`` seconds on the form as a person typing).
Nothing is asserted; the issue's target is 2 s per page.

    nice -n 10 .venv/bin/python benchmarks/dashboard_load.py --workspace /tmp/affectgate-dash --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
PAGES = ["Overview", "Candidates", "Fairness", "Drift", "Policy", "Review queue", "Audit trail", "Export"]
TITLES = {"Export": "Export an audit report"}
PASSWORDS = {"viewer": "viewer-demo", "engineer": "engineer-demo", "officer": "officer-demo", "dpo": "dpo-demo"}
TARGET_S = 2.0


def build_workspace(base: Path) -> tuple[Path, Path]:
    """The gated workspace under ``base`` (built once; a later run with the same ``base`` reuses it)."""
    workspace, data = base / "dash_ws", base / "data" / "synth_dfew_tiny"
    done = base / ".built"
    if done.is_file():
        return workspace, data.parent
    os.environ.update(
        {
            "AFFECTGATE_PROJECT_ROOT": str(ROOT),
            "AFFECTGATE_WORKSPACE": str(base / ".affectgate"),
            "AFFECTGATE_DATA_ROOT": str(base / "data"),
            "PREFECT_HOME": str(base / ".affectgate" / "prefect"),
        }
    )
    sys.path.insert(0, str(ROOT / "tests"))
    from _dashboard_fixtures import gated_workspace
    from affectgate.datasets.synth import generate_dfew
    from affectgate.demo.tiny import TINY_TRAIN_CONFIG, tiny_synth_config
    from affectgate.project.settings import get_settings
    from affectgate.zoo.build import export_zoo_model, train_zoo_model

    get_settings.cache_clear()
    settings = get_settings()
    print(f"building the gated workspace under {base} (tiny set, demo model, 4 gate runs) ...", flush=True)
    generate_dfew(root=data, config=tiny_synth_config(seed=0))
    out = settings.models_dir / "mobilenet_v2_frame"
    train_zoo_model(
        project_root=ROOT, arch="mobilenet_v2_frame", data=data, fold=1, out=out, seed=0, config=TINY_TRAIN_CONFIG
    )
    export_zoo_model(project_root=ROOT, arch="mobilenet_v2_frame", out=out)

    class _Built:  # what gated_workspace reads of the conftest ``built`` fixture
        pass

    built = _Built()
    built.settings, built.data, built.model = settings, data, out  # type: ignore[attr-defined]
    ws = gated_workspace(built=built, base=base)
    assert ws.workspace == workspace
    done.write_text("ok\n", encoding="utf-8")
    return workspace, data.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    workspace: Path, data_root: Path, log: Path, app: Path = ROOT / "dashboards" / "app.py"
) -> tuple[subprocess.Popen[bytes], str, float]:
    """``streamlit run`` on a free port; returns the process, its URL and the seconds until it answered."""
    port = _free_port()
    env = {
        **os.environ,
        "AFFECTGATE_PROJECT_ROOT": str(ROOT),
        "AFFECTGATE_WORKSPACE": str(workspace),
        "AFFECTGATE_DATA_ROOT": str(data_root),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "streamlit", "run", str(app)]
    cmd += ["--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1"]
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() - start < 90:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url, time.monotonic() - start
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"streamlit did not start; log: {log}")


def measure(url: str, *, user: str, rounds: int, order: list[str] = PAGES, think: float = 0.0) -> dict[str, object]:
    """Seconds per page: login, first visit and warm revisits."""
    from playwright.sync_api import sync_playwright

    def idle(page) -> None:  # noqa: ANN001 - playwright Page
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)

    def visit(page, name: str) -> float:  # noqa: ANN001 - playwright Page
        start = time.monotonic()
        page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
        page.get_by_role("heading", name=TITLES.get(name, name), exact=True).first.wait_for(timeout=60_000)
        idle(page)
        return time.monotonic() - start

    out: dict[str, object] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            start = time.monotonic()
            page.goto(url)
            page.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
            idle(page)
            out["login form"] = time.monotonic() - start
            page.get_by_role("textbox", name="Username").fill(user)
            page.get_by_role("textbox", name="Password").fill(PASSWORDS[user])
            page.wait_for_timeout(think * 1000)  # a person typing
            start = time.monotonic()
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("heading", name="Overview", exact=True).first.wait_for(timeout=60_000)
            idle(page)
            out["login -> Overview"] = time.monotonic() - start
            # first visits: Overview was just rendered by the login, so it comes last
            first = {name: visit(page, name) for name in [*[p for p in order if p != "Overview"], "Overview"]}
            warm: dict[str, list[float]] = {name: [] for name in PAGES}
            for _ in range(rounds):
                for name in PAGES:
                    warm[name].append(visit(page, name))
            out["pages"] = {
                name: {"first": first[name], "warm": statistics.median(warm[name]), "warm_max": max(warm[name])}
                for name in PAGES
            }
        finally:
            browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="build the workspace here once and reuse it (default: temp)")
    parser.add_argument("--rounds", type=int, default=3, help="warm revisits per page (median reported)")
    parser.add_argument("--user", default="dpo", choices=sorted(PASSWORDS))
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument(
        "--order", default=",".join(PAGES), help="comma-separated order of the first visits (page titles)"
    )
    parser.add_argument("--think", type=float, default=5.0, help="seconds on the login form, as a person types")
    parser.add_argument("--app", type=Path, default=ROOT / "dashboards" / "app.py", help="e.g. a copy of an older app")
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        base = args.workspace or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        workspace, data_root = build_workspace(base.resolve())
        proc, url, started = start_server(workspace, data_root, Path(tmp) / "streamlit.log", args.app)
        try:
            result = measure(url, user=args.user, rounds=args.rounds, order=args.order.split(","), think=args.think)
        except Exception:
            print((Path(tmp) / "streamlit.log").read_text(encoding="utf-8")[-4000:], file=sys.stderr)
            raise
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result["server start"] = started
    print(f"server start (launch -> health): {started:5.2f} s")
    print(f"login form (first request)     : {result['login form']:5.2f} s")
    print(f"login -> Overview              : {result['login -> Overview']:5.2f} s (after {args.think:g} s on the form)")
    print(f"{'page':<14}{'first visit':>13}{'warm (median)':>15}{'warm max':>10}  under {TARGET_S:.0f} s")
    pages: dict[str, dict[str, float]] = result["pages"]  # type: ignore[assignment]
    for name, t in pages.items():
        ok = "yes" if t["first"] < TARGET_S and t["warm_max"] < TARGET_S else "NO"
        print(f"{name:<14}{t['first']:>12.2f}s{t['warm']:>14.2f}s{t['warm_max']:>9.2f}s  {ok}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
