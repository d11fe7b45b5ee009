"""``affectgate init``: write a user project (settings, an example context, overlays, data/, CI workflow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from affectgate.cli.common import console, fail
from affectgate.core.errors import AffectgateError

commands = typer.Typer()  # top-level commands; attached to the app in affectgate.cli


@commands.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Project folder (created if missing).")] = Path("."),
    pyproject: Annotated[
        bool, typer.Option("--pyproject", help="Settings as [tool.affectgate] in the existing pyproject.toml.")
    ] = False,
) -> None:
    """Create an affectgate project: settings, contexts/ with an example, policies/ and suites/ overlays, data/,
    and a CI workflow. Existing files are kept."""
    from affectgate.project.init import EXAMPLE_ID, init_project

    try:
        result = init_project(root=directory, use_pyproject=pyproject)
    except AffectgateError as exc:
        raise fail(exc) from None
    for path in result.written:
        console.print(f"wrote {path.relative_to(result.root)}", highlight=False)
    for path in result.kept:
        console.print(f"kept  {path.relative_to(result.root)} (exists)", highlight=False)
    console.print(f"affectgate project in {result.root} (settings: {result.settings_file.name})", highlight=False)
    console.print(
        f"next: affectgate policy lint; affectgate policy check --context {EXAMPLE_ID}; "
        "affectgate data synth --tiny; affectgate gate --help",
        highlight=False,
    )


@commands.command("dashboard")
def dashboard(
    port: Annotated[int, typer.Option(help="Port of the Streamlit server.")] = 8501,
    headless: Annotated[bool, typer.Option(help="Do not open a browser.")] = True,
) -> None:
    """The compliance officer's Streamlit app over this project's workspace (the app built into affectgate)."""
    import subprocess
    import sys

    from affectgate.project.content import builtin_dir
    from affectgate.project.settings import get_settings

    try:
        settings = get_settings()
        settings.require_project(what="the dashboard (it reads the workspace)")
        app = builtin_dir("dashboards") / "app.py"
    except AffectgateError as exc:
        raise fail(exc) from None
    console.print(f"dashboard of {settings.workspace_dir} on http://localhost:{port}", highlight=False)
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port)]
    cmd += ["--server.headless", str(headless).lower(), "--browser.gatherUsageStats", "false"]
    raise typer.Exit(subprocess.call(cmd, cwd=settings.root))
