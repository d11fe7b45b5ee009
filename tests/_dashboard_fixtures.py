"""A real dashboard workspace: the real gate run on the tiny trained model (conftest ``built``), once per session.

Runs in the workspace (``gated_workspace``), each one real ``run_gate`` call:
1. suite ``release`` for eu-telehealth, us-ad-testing and eu-classroom (Art. 5(1)(f): always blocked);
2. suite ``quarterly_drift`` for eu-telehealth and us-ad-testing, submitted by ``engineer`` (Drift content;
   it measures no fairness, so the quality pack's fairness rules err and, being block rules, block);
3. suite ``quick`` for eu-telehealth and us-ad-testing, submitted by ``engineer``, in a project whose
   contexts of those ids tighten ``max_group_gap`` to 0.05 (a project overlay): the tiny model's gap
   interval (about 0.012-0.071) reaches it, so the fairness finding is inconclusive and goes to review;
4. the same for us-ad-testing, submitted by ``officer``;
5. suite ``full`` (abstention, robustness) for eu-classroom, so the drill-down has a robustness table.
The queue holds items of two submitters, one of them a compliance officer who may not approve their own.
Tests read verdicts from the decision files rather than assuming the policy packs' outcome for the
release run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import affectgate
from affectgate.project.settings import Settings, get_settings

ROOT = Path(affectgate.__file__).resolve().parents[2]  # the project (tests may be copied elsewhere)


@dataclass(frozen=True)
class DashWorkspace:
    """A gated workspace and the settings that point at it."""

    settings: Settings
    workspace: Path
    data_root: Path


_CACHE: dict[str, DashWorkspace] = {}


@contextmanager
def mlflow_uri_restored() -> Iterator[None]:
    """MlflowRegistry sets mlflow's process-global tracking URI; put back whatever was there before."""
    import mlflow

    tracking, reg = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(reg)


def settings_for(*, workspace: Path, data_root: Path, actor: str = "affectgate-gate", project: Path = ROOT) -> Settings:
    """Settings of a workspace outside the project (tiny data root of the conftest ``built`` fixture)."""
    # the demo workspace: the actor is the demo --submitter (the session's CI token is not used here)
    submitter = None if actor == "affectgate-gate" else actor
    return Settings(
        project_root=project,
        workspace=workspace,
        data_root=data_root,
        actor=actor,
        submitter=submitter,
        oidc_token=None,
    )


def strict_project(base: Path) -> Path:
    """A user project whose eu-telehealth and us-ad-testing contexts tighten max_group_gap to 0.05 (an overlay)."""
    import yaml

    from affectgate.project.content import builtin_dir

    project = base / "strict_project"
    (project / "contexts").mkdir(parents=True, exist_ok=True)
    (project / "affectgate.toml").write_text("", encoding="utf-8")
    for ctx in ("eu-telehealth", "us-ad-testing"):
        data = yaml.safe_load((builtin_dir("contexts") / f"{ctx}.yaml").read_text(encoding="utf-8"))
        data["thresholds"] = {**(data.get("thresholds") or {}), "max_group_gap": 0.05}
        (project / "contexts" / f"{ctx}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return project


def gated_workspace(*, built, base: Path) -> DashWorkspace:  # noqa: ANN001 - conftest.Workspace
    """Build (once per session) the gated workspace described in the module docstring."""
    if "ws" in _CACHE:
        return _CACHE["ws"]
    from affectgate.gate.run import run_gate

    workspace = base / "dash_ws"
    data_root = built.settings.data_dir
    from affectgate.oversight.identity import mark_demo_workspace

    mark_demo_workspace(settings_for(workspace=workspace, data_root=data_root))  # the dashboard's demo users
    strict = strict_project(base)
    with mlflow_uri_restored():
        for actor, suite, contexts, project in (
            ("affectgate-gate", "release", ["eu-telehealth", "us-ad-testing", "eu-classroom"], ROOT),
            ("engineer", "quarterly_drift", ["eu-telehealth", "us-ad-testing"], ROOT),
            ("engineer", "quick", ["eu-telehealth", "us-ad-testing"], strict),
            ("officer", "quick", ["us-ad-testing"], strict),
            ("affectgate-gate", "full", ["eu-classroom"], ROOT),
        ):
            s = settings_for(workspace=workspace, data_root=data_root, actor=actor, project=project)
            run_gate(settings=s, model=str(built.model), contexts=contexts, data=str(built.data), suite=suite)
    ws = DashWorkspace(
        settings=settings_for(workspace=workspace, data_root=data_root), workspace=workspace, data_root=data_root
    )
    from affectgate.oversight.queue import review_items

    submitters = {i.submitter for i in review_items(settings=ws.settings)}
    assert {"engineer", "officer"} <= submitters, (
        f"the strict-overlay gates produced no review decision for {sorted({'engineer', 'officer'} - submitters)}: "
        "the policy packs changed; pick another run that yields `review` in tests/_dashboard_fixtures.py"
    )
    _CACHE["ws"] = ws
    return ws


def copy_workspace(ws: DashWorkspace, dest: Path) -> DashWorkspace:
    """An independent copy (run folders, audit log and anchor, mlflow.db) to change without touching ``ws``."""
    shutil.copytree(ws.workspace, dest, ignore=shutil.ignore_patterns("prefect", "*.lock"))
    return DashWorkspace(
        settings=settings_for(workspace=dest, data_root=ws.data_root), workspace=dest, data_root=ws.data_root
    )


@contextmanager
def dashboard_env(ws: DashWorkspace | None, *, empty: Path | None = None) -> Iterator[None]:
    """Point get_settings() (what the app reads) at ``ws`` (or an empty workspace) for the duration."""
    keys = ("AFFECTGATE_WORKSPACE", "AFFECTGATE_DATA_ROOT", "AFFECTGATE_PROJECT_ROOT")
    old = {k: os.environ.get(k) for k in keys}
    os.environ["AFFECTGATE_PROJECT_ROOT"] = str(ROOT)
    if ws is not None:
        os.environ["AFFECTGATE_WORKSPACE"] = str(ws.workspace)
        os.environ["AFFECTGATE_DATA_ROOT"] = str(ws.data_root)
    else:
        assert empty is not None
        os.environ["AFFECTGATE_WORKSPACE"] = str(empty)
    get_settings.cache_clear()
    try:
        with mlflow_uri_restored():
            yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def item_by(ws: DashWorkspace, submitter: str, context_id: str | None = None):  # noqa: ANN201 - ReviewItem
    """The first open review item submitted by ``submitter`` (optionally for one context)."""
    from affectgate.oversight.queue import review_items

    return next(
        i
        for i in review_items(settings=ws.settings)
        if i.submitter == submitter and (context_id is None or i.context_id == context_id)
    )
