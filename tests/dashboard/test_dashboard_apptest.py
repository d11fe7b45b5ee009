"""Every dashboard page under Streamlit's AppTest on a real gated workspace: content, roles, sign-off, empty states."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from _dashboard_fixtures import ROOT, copy_workspace, dashboard_env, gated_workspace
from affectgate.gate.runs import latest_decisions
from affectgate.gate.workspace import audit_log, registry
from affectgate.oversight.queue import review_items
from affectgate.oversight.signoff import sign_off

APP = str(ROOT / "dashboards" / "app.py")
MODEL = "affectgate-mobilenet_v2_frame"
PAGES = ["overview", "candidates", "fairness", "drift", "policy", "review", "audit", "export"]
USERS = {
    "viewer": ("Vera Viewer", "viewer"),
    "engineer": ("Emil Engineer", "ml-engineer"),
    "officer": ("Olivia Officer", "compliance-officer"),
    "dpo": ("Dana Protection-Officer", "compliance-officer"),
}


@pytest.fixture(scope="module")
def base(built, tmp_path_factory):
    """The session's gated dashboard workspace (read-only here)."""
    return gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))


@pytest.fixture()
def app_env(base):
    """The app pointed at the shared gated workspace."""
    with dashboard_env(base):
        yield base


@pytest.fixture()
def own_env(base, tmp_path):
    """The app pointed at a private copy of the workspace (for tests that sign off)."""
    ws = copy_workspace(base, tmp_path / "ws")
    with dashboard_env(ws):
        yield ws


def _app(user: str | None = "officer", page: str = "overview") -> AppTest:
    """The app, logged in as ``user`` (session state as streamlit-authenticator leaves it), on ``page``."""
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        name, role = USERS[user]
        at.session_state["authentication_status"] = True
        at.session_state["username"] = user
        at.session_state["name"] = name
        at.session_state["roles"] = [role]
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("markdown", "caption", "info", "success", "warning", "error", "title", "subheader")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def _frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def _buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def test_login_form_accepts_demo_officer_and_rejects_wrong_password(app_env):
    """The bcrypt credentials file logs the demo officer in with role compliance-officer; a wrong password fails."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert [t.label for t in at.text_input] == ["Username", "Password"] and "Log in" in _buttons(at)
    at.text_input[0].input("officer")
    at.text_input[1].input("wrong-password")
    at.button[0].click().run()
    assert any("incorrect" in e.value for e in at.error)
    assert "Overview" not in [t.value for t in at.title]
    at.text_input[0].input("officer")
    at.text_input[1].input("officer-demo")
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert any("role: **compliance-officer**" in m.value for m in at.sidebar.markdown)


def test_overview_shows_contexts_aliases_review_items_and_chain(app_env):
    """Overview: one row per context with its latest verdict and alias holder, open review count, verified chain."""
    at = _app("viewer")
    table = _frames(at)[0].set_index("context")
    assert set(table.index) == {"eu-telehealth", "us-ad-testing", "eu-classroom"}
    latest = latest_decisions(settings=app_env.settings)
    for ctx, (_run, decision) in latest.items():
        assert table.loc[ctx, "latest verdict"] == decision.verdict
        holder = registry(app_env.settings).alias_version(name=MODEL, context_id=ctx)
        assert table.loc[ctx, "alias holder"] == (f"{MODEL} v{holder}" if holder else "none")
    assert (
        table.loc["eu-classroom", "latest verdict"] == "block" and table.loc["eu-classroom", "alias holder"] == "none"
    )
    assert table["open review items"].sum() == 3
    assert any("Audit chain verified" in s.value for s in at.success)
    assert any("SYNTHETIC" in w.value for w in at.warning)


def test_candidates_leaderboard_and_drilldown(app_env):
    """Candidates: a leaderboard row per run labelled SYNTHETIC, and the drill-down's plots and tables."""
    at = _app("engineer", "candidates")
    board = _frames(at)[0]
    assert len(board) == 5 and set(board["data"]) == {"SYNTHETIC"}  # one row per gate run of the fixture
    for col in ("WAR", "UAR", "CCC", "kappa", "p95 latency (ms)", "throughput (clips/s)", "cost per 1k (USD)"):
        assert col in board.columns
    assert board["WAR"].between(0, 1).all() and board["technique"].eq("2d_cnn_per_frame").all()
    assert len(at.get("plotly_chart")) >= 4  # comparison, confusion, per-class recall, abstention
    assert [t.label for t in at.tabs] == [
        "Confusion matrix",
        "Per-class recall",
        "Abstention",
        "Robustness",
        "Sample frames",
    ]
    # the full-suite run (newest, selected first) has a robustness table
    assert any({"corruption", "severity", "war_delta"} <= set(f.columns) for f in _frames(at))
    assert len(at.get("image")) >= 1  # ml-engineer may see face frames


def test_viewer_never_sees_face_frames(app_env):
    """A viewer gets an explanation instead of raw face frames (biometric data)."""
    at = _app("viewer", "candidates")
    assert len(at.get("image")) == 0
    assert any("biometric data" in i.value and "viewer" in i.value for i in at.info)


def test_fairness_groups_intervals_and_three_state_finding(app_env):
    """Fairness: gap with CI against the threshold and a finding per attribute, group sizes, intersections."""
    at = _app("viewer", "fairness")
    gaps = _frames(at)[0]
    assert {"skin_tone_group", "sex", "age_band", "overall (gated)"} <= set(gaps["attribute"])
    assert set(gaps["finding"]) <= {"exceeds", "inconclusive", "not shown to exceed"}
    assert (gaps["threshold"] == 0.10).all()
    groups = next(f for f in _frames(at) if "accuracy ci_low" in f.columns and "skin_tone_group" in set(f["attribute"]))
    assert (groups["accuracy ci_low"] <= groups["accuracy"]).all() and (
        groups["accuracy"] <= groups["accuracy ci_high"]
    ).all()
    assert (groups["n"] > 0).all()
    assert "Intersection" in [s.label for s in at.selectbox]
    assert any("skin_tone_group x sex" in set(f.get("attribute", [])) for f in _frames(at)) or any(
        "Too few clips" in w.value for w in at.warning
    )


def test_drift_quarters_features_and_evidently(app_env):
    """Drift: per-quarter table, feature p-values and the embedded Evidently report."""
    at = _app("viewer", "drift")
    windows = _frames(at)[0]
    assert len(windows) >= 1 and set(windows.columns) >= {"window", "share drifted", "drift detected"}
    assert len(at.get("plotly_chart")) == 2
    assert len(at.get("iframe")) == 0  # megabytes of HTML: embedded on demand
    at.toggle(key="drift-show-evidently").set_value(True).run()
    assert not at.exception and len(at.get("iframe")) == 1


def test_policy_outcomes_beside_context(app_env):
    """Policy: every rule outcome with article, severity and effective_from, next to the declaration."""
    at = _app("viewer", "policy")
    at.selectbox[0].select("eu-classroom").run()
    outcomes, declaration = _frames(at)[:2]
    assert {"rule", "article", "severity", "status", "effective from", "evidence"} <= set(outcomes.columns)
    row = outcomes.set_index("rule").loc["euaia.art5_1f.workplace_education"]
    assert row["status"] == "fail" and "5(1)(f)" in row["article"]
    assert declaration.set_index("field").loc["sector", "value"] == "education"
    assert any("block" in e.value for e in at.error)
    assert len(at.get("download_button")) == 2


def test_review_queue_buttons_only_for_officers(app_env):
    """Viewer and engineer see the evidence but no sign-off button; an officer who did not submit sees it."""
    for user in ("viewer", "engineer"):
        at = _app(user, "review")
        assert "Sign off" not in _buttons(at)
        assert any("Only the compliance-officer role" in i.value for i in at.info)
        assert "Why it needs a human decision" in _text(at)
    at = _app("officer", "review")
    at.selectbox[0].select(next(o for o in at.selectbox[0].options if o.startswith("eu-telehealth"))).run()
    assert "Sign off" in _buttons(at)


def test_submitter_sees_no_button(app_env):
    """The officer who submitted an evaluation sees why they cannot sign it off, and no button."""
    at = _app("officer", "review")
    at.selectbox[0].select(next(o for o in at.selectbox[0].options if o.startswith("us-ad-testing"))).run()
    assert "Sign off" not in _buttons(at)
    assert any("submitted this evaluation" in w.value for w in at.warning)


def test_officer_approves_in_the_app(own_env):
    """Approving with a reason records the sign-off, moves the alias and removes the item from the queue."""
    model = MODEL
    if registry(own_env.settings).alias_version(name=model, context_id="eu-telehealth"):
        registry(own_env.settings).client.delete_registered_model_alias(model, "eu-telehealth")
    at = _app("dpo", "review")
    at.selectbox[0].select(next(o for o in at.selectbox[0].options if o.startswith("eu-telehealth"))).run()
    at.radio[0].set_value("approve")
    at.text_area[0].input("drift audit reviewed; fairness evidence in the release run")
    next(b for b in at.button if b.label == "Sign off").click().run()
    assert not at.exception
    assert any("Signed off: approve eu-telehealth" in s.value for s in at.success)
    events = audit_log(own_env.settings).events()
    assert [e.action for e in events[-2:]] == ["signoff.approved", "alias.moved"] and events[-1].actor == "dpo"
    assert registry(own_env.settings).alias_version(name=model, context_id="eu-telehealth") == "1"
    assert sorted(i.context_id for i in review_items(settings=own_env.settings)) == ["us-ad-testing"] * 2


def test_empty_reason_is_refused_in_the_app(own_env):
    """Submitting without a reason shows the error and writes nothing."""
    n = len(audit_log(own_env.settings).events())
    at = _app("dpo", "review")
    next(b for b in at.button if b.label == "Sign off").click().run()
    assert any("needs a reason" in e.value for e in at.error)
    assert len(audit_log(own_env.settings).events()) == n


def test_audit_search_and_alias_history(own_env):
    """Audit trail: text search filters events; the alias history names the version holding an alias on a date."""
    item = next(i for i in review_items(settings=own_env.settings) if i.submitter == "engineer")
    sign_off(
        settings=own_env.settings,
        run_id=item.run_id,
        context_id=item.context_id,
        approver="dpo",
        role="compliance-officer",
        decision="approve",
        reason="evidence complete",
    )
    at = _app("viewer", "audit")
    events = _frames(at)[0]
    assert len(events) > 10 and events["seq"].is_monotonic_decreasing
    at.text_input(key="audit-query").input("eu-classroom").run()
    filtered = _frames(at)[0]
    assert 0 < len(filtered) < len(events)
    assert filtered.apply(lambda r: "eu-classroom" in " ".join(map(str, r.values)), axis=1).all()
    at.selectbox(key="alias-name").select(item.context_id).run()
    assert any(f"alias **{item.context_id}**" in s.value and "held by **v1**" in s.value for s in at.success)
    history = next(f for f in _frames(at) if "how" in f.columns)
    assert "sign-off" in set(history["how"])


def test_export_offers_html_and_pdf(app_env):
    """Export: HTML and PDF downloads for the chosen context and period, with a preview."""
    at = _app("officer", "export")
    assert len(at.get("download_button")) == 2
    assert "decision(s)" in _text(at) and "audit chain verified" in _text(at)
    assert len(at.get("html")) == 1


@pytest.mark.parametrize("page", PAGES)
def test_empty_workspace_explains_what_to_run(page, tmp_path):
    """On an empty (demo) workspace every page says what to run instead of failing."""
    from affectgate.oversight.identity import DEMO_MARKER

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / DEMO_MARKER).write_text("demo\n")  # the demo users log in only there
    with dashboard_env(None, empty=tmp_path / "empty"):
        at = _app("viewer", page)
        text = _text(at)
        assert "make demo" in text or "No release awaits" in text, text


# -- the pure data layer behind the pages ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("ci", "small", "state"),
    [
        ((0.12, 0.20), 0, "exceeds"),
        ((0.10, 0.20), 0, "exceeds"),  # lower bound AT the threshold fails (quality.fairness.max_group_gap)
        ((0.02, 0.10), 0, "inconclusive"),  # upper bound at the threshold: doubtful
        ((0.02, 0.08), 1, "inconclusive"),  # small groups were excluded
        ((0.02, 0.08), 0, "not shown to exceed"),
        ((None, None), 0, "inconclusive"),
    ],
)
def test_finding_state_mirrors_the_quality_pack(ci, small, state):
    """The three-state fairness finding follows the quality pack's rules on the CI bounds."""
    from affectgate.dashboard.data import finding_state

    assert finding_state(ci_low=ci[0], ci_high=ci[1], threshold=0.10, small_groups=small) == state


def test_audit_report_html_and_pdf(own_env):
    """The export holds the context's decisions, rule outcomes, sign-offs and chain status, as HTML and PDF."""
    from datetime import UTC, datetime

    from affectgate.dashboard.data import build_audit_report, render_html, render_pdf
    from affectgate.gate.runs import list_runs
    from affectgate.oversight.queue import signoffs
    from affectgate.policy import load_context

    s = own_env.settings
    item = next(i for i in review_items(settings=s) if i.submitter == "engineer")
    sign_off(
        settings=s,
        run_id=item.run_id,
        context_id=item.context_id,
        approver="dpo",
        role="compliance-officer",
        decision="reject",
        reason="needs the <fairness> evidence",
    )
    today = datetime.now(UTC).date()
    report = build_audit_report(
        context_id=item.context_id,
        context=load_context(root=ROOT / "policies", context_id=item.context_id),
        start=today,
        end=today,
        runs=list_runs(settings=s),
        events=audit_log(s).events(),
        signoffs=signoffs(settings=s),
        chain=audit_log(s).verify(),
    )
    assert report.decisions and all(d.context_id == item.context_id for _, d in report.decisions)
    assert [x.reason for x in report.signoffs] == ["needs the <fairness> evidence"] and report.synthetic_data
    html = render_html(report)
    assert "needs the &lt;fairness&gt; evidence" in html and "verified" in html and "SYNTHETIC DATA" in html
    assert item.run_id in html and "effective from" in html
    pdf = render_pdf(report)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 2000
    # an empty period has no decisions but still certifies the chain
    from datetime import date

    empty = build_audit_report(
        context_id=item.context_id,
        context=None,
        start=date(2020, 1, 1),
        end=date(2020, 1, 2),
        runs=list_runs(settings=s),
        events=audit_log(s).events(),
        signoffs=[],
        chain=audit_log(s).verify(),
    )
    assert not empty.decisions and "none in this period" in render_html(empty)
    assert render_pdf(empty, font=None).startswith(b"%PDF-")  # core-font fallback without DejaVu


def test_alias_holder_at_a_date():
    """The alias history answers which version held an alias at a given time (None before the first move)."""
    from datetime import UTC, datetime, timedelta

    from affectgate.audit import make_event
    from affectgate.dashboard.data import alias_history, alias_holder_at

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    e1 = make_event(
        prev=None,
        time=t0,
        actor="gate",
        action="promotion",
        subject=f"model:{MODEL}/1 context:c",
        payload={"alias": "c"},
    )
    e2 = make_event(
        prev=e1,
        time=t0 + timedelta(days=10),
        actor="dpo",
        action="alias.moved",
        subject=f"model:{MODEL}/2 context:c",
        payload={"alias": "c", "model": MODEL, "version": "2"},
    )
    e3 = make_event(
        prev=e2,
        time=t0 + timedelta(days=11),
        actor="gate",
        action="rejection",
        subject=f"model:{MODEL}/3 context:c",
        payload={"alias": None},
    )
    history = alias_history([e1, e2, e3])
    assert list(history["version"]) == ["1", "2"] and list(history["how"]) == ["gate promotion", "sign-off"]
    assert alias_holder_at(history, model=MODEL, alias="c", when=t0 - timedelta(days=1)) is None
    assert alias_holder_at(history, model=MODEL, alias="c", when=t0 + timedelta(days=5))["version"] == "1"
    assert alias_holder_at(history, model=MODEL, alias="c", when=t0 + timedelta(days=30))["version"] == "2"
    assert alias_holder_at(history, model=MODEL, alias="other", when=t0 + timedelta(days=30)) is None
