"""The dashboard's OIDC login (AFFECTGATE_DASHBOARD_AUTH=oidc, Streamlit's st.login) and its role mapping.

Three levels:
- :func:`affectgate.dashboard.data.oidc_role`, the pure mapping from an identity's claims to a role;
- the app under AppTest with a seeded ``st.user`` and ``[auth]`` secrets: login button, configuration
  errors, the role shown and what the role may do on the Review queue page;
- end to end in headless Debian Chromium: a real local OpenID Connect provider (``oidc-provider-mock``,
  Authlib-based, started here on 127.0.0.1), ``streamlit run`` with an ``[auth]`` secrets file pointing
  at it, the provider's login form filled in, the redirect back, and the role-dependent Review queue.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from streamlit.testing.v1 import AppTest

from _dashboard_fixtures import ROOT, copy_workspace, dashboard_env, gated_workspace, mlflow_uri_restored
from _dashboard_server import CHROMIUM, CHROMIUM_ARGS, free_port, open_page, streamlit_server, wait_idle, wait_title
from affectgate.dashboard.data import oidc_role
from affectgate.gate.workspace import audit_log

APP = str(ROOT / "dashboards" / "app.py")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
ROLE_FILE = """\
# OIDC role file: roles by verified e-mail, else by the `groups` claim, else viewer
oidc:
  role_claim: groups
  claim_roles: {ai-compliance: compliance-officer, ml-platform: ml-engineer}
credentials:
  usernames:
    olga:
      name: Olga Officer
      email: olga@corp.test
      roles: [compliance-officer]
    eric:
      email: eric@corp.test
      roles: [viewer]
"""
USERS = {"olga": {"email": "olga@corp.test", "roles": ["compliance-officer"]}, "eric": {"email": "eric@corp.test"}}
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789abcdef",
    "client_id": "affectgate-dashboard",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
FILE, CLAIM, UNMAPPED = "role file (e-mail)", "claim `groups`", "default (not mapped)"
GROUPS = {"ai-compliance": "compliance-officer", "ml-platform": "ml-engineer"}


# -- the pure mapping ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("claims", "role", "source"),
    [
        ({"email": "olga@corp.test"}, "compliance-officer", "role file (e-mail)"),
        ({"email": "OLGA@corp.test", "email_verified": True}, "compliance-officer", "role file (e-mail)"),
        # the provider does not vouch for the address: the role file does not apply
        ({"email": "olga@corp.test", "email_verified": False}, "viewer", "default (not mapped)"),
        ({"email": "olga@corp.test", "email_verified": "false"}, "viewer", "default (not mapped)"),
        ({"email": "x@corp.test", "groups": ["ml-platform"]}, "ml-engineer", "claim `groups`"),
        ({"email": "x@corp.test", "groups": ["ml-platform", "ai-compliance"]}, "compliance-officer", "claim `groups`"),
        ({"email": "x@corp.test", "groups": "ai-compliance"}, "compliance-officer", "claim `groups`"),
        # with a claim mapping only mapped values count, not a group that happens to be named like a role
        ({"email": "x@corp.test", "groups": ["compliance-officer"]}, "viewer", "default (not mapped)"),
        ({"email": "x@corp.test", "groups": ["unknown"]}, "viewer", "default (not mapped)"),
        # an explicit role-file entry wins over the claim, also downwards
        ({"email": "eric@corp.test", "groups": ["ai-compliance"]}, "viewer", "role file (e-mail)"),
        ({"sub": "no-email"}, "viewer", "default (not mapped)"),
    ],
)
def test_oidc_role_least_privilege(claims, role, source):
    """Role file by verified e-mail, else the mapped claim, else viewer; unknown values grant nothing."""
    assert oidc_role(claims, users=USERS, role_claim="groups", claim_roles=GROUPS) == (role, source)


def test_oidc_role_claim_without_mapping_takes_role_names():
    """Without claim_roles the claim's values are role names; anything else is ignored."""
    claims = {"roles": ["admin", "ml-engineer"]}
    assert oidc_role(claims, users={}, role_claim="roles") == ("ml-engineer", "claim `roles`")
    assert oidc_role(claims, users={}) == ("viewer", "default (not mapped)")


# -- the app under AppTest ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(built, tmp_path_factory):
    """The session's gated dashboard workspace (read-only here)."""
    return gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))


@pytest.fixture()
def role_file(tmp_path) -> Path:
    path = tmp_path / "roles.yaml"
    path.write_text(ROLE_FILE, encoding="utf-8")
    return path


@pytest.fixture()
def oidc_env(base, role_file, monkeypatch):
    """The app in OIDC mode over the gated workspace, with the test role file."""
    monkeypatch.setenv("AFFECTGATE_DASHBOARD_AUTH", "oidc")
    monkeypatch.setenv("AFFECTGATE_DASHBOARD_CREDENTIALS", str(role_file))
    with dashboard_env(base):
        yield base


def _oidc_app(claims: dict | None, *, page: str = "overview", auth: dict | None = None) -> AppTest:  # type: ignore[type-arg]
    """The app with ``[auth]`` secrets and ``st.user`` = ``claims`` (None: logged out)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = AUTH if auth is None else auth
    at.user = {"is_logged_in": False} if claims is None else {"is_logged_in": True, **claims}
    at.run()
    if page != "overview" and claims is not None:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _sidebar(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.sidebar.markdown) + "\n" + "\n".join(c.value for c in at.sidebar.caption)


def test_logged_out_user_sees_only_the_login_button(oidc_env):
    """Before login: the title and one button per configured provider, no page."""
    at = _oidc_app(None)
    assert [b.label for b in at.button] == ["Log in with your identity provider"]
    assert "Overview" not in [t.value for t in at.title]
    named = {
        "redirect_uri": AUTH["redirect_uri"],
        "cookie_secret": AUTH["cookie_secret"],
        "okta": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
        "corp": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
    }
    at = _oidc_app(None, auth=named)
    assert [b.label for b in at.button] == ["Log in with corp", "Log in with okta"]


def test_missing_auth_section_says_how_to_configure(oidc_env):
    """OIDC selected without [auth] (or without a cookie secret): an error with the fix, no login button."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("no [auth] section" in e.value for e in at.error)
    assert any("secrets.toml" in i.value for i in at.info) and not at.button
    at = _oidc_app(None, auth={k: v for k, v in AUTH.items() if k != "cookie_secret"})
    assert any("lacks cookie_secret" in e.value for e in at.error) and not at.button


@pytest.mark.parametrize(
    ("claims", "role", "source"),
    [
        ({"sub": "1", "email": "olga@corp.test", "email_verified": True, "name": "Olga"}, "compliance-officer", FILE),
        ({"sub": "2", "email": "olga@corp.test", "email_verified": False}, "viewer", UNMAPPED),
        ({"sub": "3", "email": "gus@corp.test", "groups": ["ai-compliance"]}, "compliance-officer", CLAIM),
        ({"sub": "4", "email": "mia@corp.test", "groups": ["ml-platform"]}, "ml-engineer", CLAIM),
        ({"sub": "5", "email": "nobody@corp.test"}, "viewer", UNMAPPED),
    ],
)
def test_identity_maps_to_role_and_sign_off_follows(oidc_env, claims, role, source):
    """The sidebar shows the mapped role and its source; only a compliance officer gets the sign-off form."""
    at = _oidc_app(claims)
    side = _sidebar(at)
    assert f"(`{claims['email']}`) — role: **{role}**" in side and f"role from: {source}" in side
    assert "Log out" in [b.label for b in at.sidebar.button]
    at.switch_page("pages/review.py").run()
    assert not at.exception and [t.value for t in at.title] == ["Review queue"]
    if role == "compliance-officer":
        assert "Sign off" in [b.label for b in at.button]
    else:
        assert "Sign off" not in [b.label for b in at.button]
        assert any("Only the compliance-officer role" in i.value for i in at.info)


def test_demo_file_grants_no_role_to_oidc_identities(base, monkeypatch):
    """In OIDC mode the public demo credentials file is ignored: its officer's e-mail gets viewer."""
    monkeypatch.setenv("AFFECTGATE_DASHBOARD_AUTH", "oidc")
    monkeypatch.delenv("AFFECTGATE_DASHBOARD_CREDENTIALS", raising=False)
    with dashboard_env(base):
        at = _oidc_app({"sub": "o", "email": "officer@example.org", "email_verified": True})
        assert "role: **viewer**" in _sidebar(at)
        at.switch_page("pages/review.py").run()
    assert not at.exception and "Sign off" not in [b.label for b in at.button]


def test_malformed_role_file_is_refused(oidc_env, role_file):
    """A claim mapping to an unknown role stops the app with the file named."""
    role_file.write_text(ROLE_FILE.replace("ml-platform: ml-engineer", "ml-platform: admin"), encoding="utf-8")
    at = _oidc_app({"sub": "1", "email": "olga@corp.test"})
    assert any("unknown roles" in e.value and str(role_file) in e.value for e in at.error)
    assert "Review queue" not in [t.value for t in at.title]


# -- end to end: a real OIDC provider, streamlit run, headless Chromium -------------------------------
@pytest.fixture(scope="module")
def provider():
    """oidc-provider-mock on a free port of 127.0.0.1 (any client id/secret; users typed in its form)."""
    try:
        import oidc_provider_mock
    except ImportError as exc:
        pytest.skip(f"oidc-provider-mock is not installed (pip install -e '.[dev]'): {exc}")
    try:
        server_cm = oidc_provider_mock.run_server_in_thread(port=free_port())
        server = server_cm.__enter__()
    except OSError as exc:
        pytest.skip(f"the local OIDC provider cannot start: {exc}")
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=10) as resp:
            assert json.load(resp)["issuer"] == url
        yield url
    finally:
        server_cm.__exit__(None, None, None)


def _set_claims(provider: str, sub: str, claims: dict) -> None:  # type: ignore[type-arg]
    """Register a user's claims with the provider (its PUT /users/<sub> API)."""
    req = urllib.request.Request(
        f"{provider}/users/{quote(sub)}",
        data=json.dumps(claims).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204


@pytest.fixture(scope="module")
def oidc_server(built, provider, tmp_path_factory):
    """`streamlit run` in OIDC mode: [auth] secrets pointing at the provider, the test role file."""
    with mlflow_uri_restored():
        base = gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))
        ws = copy_workspace(base, tmp_path_factory.mktemp("oidc") / "ws")
    conf = tmp_path_factory.mktemp("oidc-conf")
    (conf / "roles.yaml").write_text(ROLE_FILE, encoding="utf-8")
    port = free_port()
    (conf / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "browser-test-cookie-secret-0123456789"\n'
        'client_id = "affectgate-dashboard"\n'
        'client_secret = "browser-test-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    env = {"AFFECTGATE_DASHBOARD_AUTH": "oidc", "AFFECTGATE_DASHBOARD_CREDENTIALS": str(conf / "roles.yaml")}
    args = ["--secrets.files", str(conf / "secrets.toml")]
    with streamlit_server(ws, log=conf / "streamlit.log", port=port, env=env, args=args) as url:
        yield url, ws


def _oidc_login(browser, url: str, sub: str):  # noqa: ANN001, ANN202 - playwright Browser -> Page
    """A fresh browser context logs in through the provider's form as ``sub``; returns the page on Overview."""
    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    page.goto(url)
    wait_idle(page)
    page.get_by_role("button", name="Log in with your identity provider").click()
    page.get_by_placeholder("sub").fill(sub)  # the provider's own authorization form
    page.get_by_role("button", name="Authorize", exact=True).click()
    wait_title(page, "Overview")
    return page


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_oidc_login_in_a_browser_maps_roles(oidc_server, provider):
    """Officer (role file), engineer (groups claim) and an unknown user (viewer) log in through the provider."""
    from playwright.sync_api import sync_playwright

    url, ws = oidc_server
    _set_claims(provider, "olga", {"email": "olga@corp.test", "email_verified": True, "name": "Olga Officer"})
    _set_claims(provider, "mia", {"email": "mia@corp.test", "name": "Mia Platform", "groups": ["ml-platform"]})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    n_events = len(audit_log(ws.settings).events())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # an e-mail the provider knows nothing else about: claims {"email": sub}, not mapped -> viewer
            page = _oidc_login(browser, url, "vic@corp.test")
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_text("role: viewer").wait_for(timeout=10_000)
            sidebar.get_by_text("role from: default (not mapped)").wait_for(timeout=10_000)
            open_page(page, "Review queue")
            page.get_by_text("Only the compliance-officer role can sign off").wait_for(timeout=10_000)
            assert page.get_by_role("button", name="Sign off").count() == 0
            page.screenshot(path=str(ARTIFACTS / "oidc-viewer-review.png"))

            page = _oidc_login(browser, url, "mia")
            page.get_by_test_id("stSidebar").get_by_text("role: ml-engineer").wait_for(timeout=10_000)
            page.get_by_test_id("stSidebar").get_by_text("role from: claim groups").wait_for(timeout=10_000)

            page = _oidc_login(browser, url, "olga")
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_text("Olga Officer").wait_for(timeout=10_000)
            sidebar.get_by_text("role: compliance-officer").wait_for(timeout=10_000)
            open_page(page, "Review queue")
            page.get_by_label("Reason (mandatory, written to the audit log)").fill("OIDC officer: evidence reviewed")
            page.screenshot(path=str(ARTIFACTS / "oidc-officer-review.png"))
            page.get_by_role("button", name="Sign off").click()
            page.get_by_text("Signed off: approve").wait_for(timeout=30_000)
            wait_idle(page)
        finally:
            browser.close()
    new = audit_log(ws.settings).events()[n_events:]
    assert [e.action for e in new] == ["signoff.approved", "alias.moved"]
    assert new[0].actor == "olga@corp.test" and new[0].payload["reason"] == "OIDC officer: evidence reviewed"
    assert audit_log(ws.settings).verify().ok
