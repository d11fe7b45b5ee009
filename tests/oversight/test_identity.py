"""Who submits a gate run: CI OIDC tokens and `affectgate login` tokens verified, bare names refused outside the demo.

And the credentials the dashboard and `affectgate login` accept outside the demo workspace: never the demo
file, a copy of its users, its cookie key or a default password.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import bcrypt
import pytest
import yaml
from typer.testing import CliRunner

from _identity import make_issuer, oidc_token
from affectgate.cli import app
from affectgate.oversight.identity import (
    IdentityError,
    check_credentials_allowed,
    demo_credentials_file,
    mark_demo_workspace,
    mint_login_token,
    resolve_submitter,
    verify_login_token,
)
from affectgate.project.settings import Settings, get_settings

runner = CliRunner()


def _settings(tmp: Path, **kw) -> Settings:  # noqa: ANN003
    base = {"workspace": tmp / "ws", "oidc_token": None, "oidc_jwks_file": None, "login_token": None}
    return Settings(**{**base, **kw})


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("issuer")
    return make_issuer(folder), folder / "jwks.json"


def test_oidc_token_names_the_human_actor(tmp_path, issuer):
    """A CI token verified against the issuer's JWKS file names its `actor` as a human submitter."""
    key, jwks = issuer
    who = resolve_submitter(_settings(tmp_path, oidc_token=oidc_token(key, actor="alice"), oidc_jwks_file=jwks))
    assert (who.subject, who.kind, who.method) == ("alice", "human", "oidc")
    assert who.claims["repository"] == "acme/emotion-models"


def test_oidc_token_without_an_actor_is_a_service(tmp_path, issuer):
    """A token with no person in it (only `sub`) is a service identity."""
    key, jwks = issuer
    who = resolve_submitter(_settings(tmp_path, oidc_token=oidc_token(key, actor=None), oidc_jwks_file=jwks))
    assert who.kind == "service" and who.subject.startswith("repo:")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("other-key", "Signature verification failed"),
        ("audience", "Audience"),
        ("expired", "expired"),
        ("no-keys", "no issuer keys are configured"),
    ],
)
def test_bad_oidc_token_is_an_error_never_a_fallback(tmp_path, issuer, change, match):
    """A forged, mis-addressed or expired CI token stops the gate (IdentityError) instead of falling back."""
    key, jwks = issuer
    token = oidc_token(key)
    if change == "other-key":
        token = oidc_token(make_issuer(tmp_path / "other"))
    elif change == "audience":
        token = oidc_token(key, aud="someone-else")
    elif change == "expired":
        token = oidc_token(key, ttl_s=-10)
    settings = _settings(tmp_path, oidc_token=token, oidc_jwks_file=None if change == "no-keys" else jwks)
    with pytest.raises(IdentityError, match=match):
        resolve_submitter(settings)


def test_login_token_round_trip_and_forgery(tmp_path):
    """A login token names its user in its own workspace; an edited one, another workspace's or an old one fails."""
    s = _settings(tmp_path)
    token = mint_login_token(settings=s, user="alice", role="ml-engineer")
    assert verify_login_token(settings=s, token=token).subject == "alice"
    assert resolve_submitter(_settings(tmp_path, login_token=token)).method == "login-token"
    with pytest.raises(IdentityError, match="does not verify"):
        verify_login_token(settings=s, token=token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"))
    with pytest.raises(IdentityError, match="does not verify"):  # another installation's key
        verify_login_token(settings=_settings(tmp_path / "other"), token=token)
    with pytest.raises(IdentityError, match="expired"):
        time.sleep(1.1)
        verify_login_token(settings=_settings(tmp_path, login_token_hours=0.0001), token=token)


def test_bare_submitter_only_in_the_demo_workspace(tmp_path):
    """--submitter / AFFECTGATE_SUBMITTER is refused outside the demo and accepted (as demo-flag) inside it."""
    s = _settings(tmp_path, submitter="mallory")
    with pytest.raises(IdentityError, match="accepted only in the demo workspace"):
        resolve_submitter(s)
    mark_demo_workspace(s)
    assert resolve_submitter(s).method == "demo-flag"
    assert resolve_submitter(_settings(tmp_path / "svc")).kind == "service"


def _credentials(path: Path, users: dict[str, str], *, cookie_key: str = "a-long-random-installation-secret") -> Path:
    data = {
        "cookie": {"name": "affectgate_dashboard", "key": cookie_key, "expiry_days": 1},
        "credentials": {
            "usernames": {
                u: {"name": u, "password": bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode(), "roles": ["viewer"]}
                for u, p in users.items()
            }
        },
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("demo-file", "public demo credentials file"),
        ("demo-copy", "has a demo password"),
        ("demo-cookie", "public demo cookie key"),
        ("user-name", "has a default password"),
        ("changeme", "has a default password"),
    ],
)
def test_demo_and_default_credentials_are_refused_outside_the_demo(tmp_path, kind, match):
    """Outside the demo: the demo file, a copy of it, its cookie key and guessable passwords are refused."""
    path = tmp_path / "users.yaml"
    if kind == "demo-file":
        path = demo_credentials_file()
    elif kind == "demo-copy":
        shutil.copy(demo_credentials_file(), path)
        text = path.read_text().replace("demo-cookie-key-change-me-in-a-real-deployment", "x" * 40)
        path.write_text(text)
    elif kind == "demo-cookie":
        _credentials(path, {"olga": "a sound passphrase"}, cookie_key="demo-cookie-key-change-me-in-a-real-deployment")
    elif kind == "user-name":
        _credentials(path, {"olga": "olga"})
    else:
        _credentials(path, {"olga": "changeme"})
    s = _settings(tmp_path, dashboard_credentials=path)
    with pytest.raises(IdentityError, match=match):
        check_credentials_allowed(settings=s)
    check_credentials_allowed(settings=s, demo=True)  # the demo workspace takes them


def test_login_command_writes_a_token_the_gate_uses(tmp_path, monkeypatch):
    """`affectgate login` checks the password, stores a signed token; later runs are submitted by that person."""
    path = _credentials(tmp_path / "users.yaml", {"olga": "a sound passphrase"})
    monkeypatch.setenv("AFFECTGATE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("AFFECTGATE_DASHBOARD_CREDENTIALS", str(path))
    monkeypatch.delenv("AFFECTGATE_OIDC_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        bad = runner.invoke(app, ["login", "--user", "olga", "--password", "wrong"])
        assert bad.exit_code == 3 and "wrong password" in bad.output
        ok = runner.invoke(app, ["login", "--user", "olga", "--password", "a sound passphrase"])
        assert ok.exit_code == 0, ok.output
        who = resolve_submitter(get_settings())
        assert (who.subject, who.method) == ("olga", "login-token")
        assert (tmp_path / "ws" / "identity" / "login.token").stat().st_mode & 0o077 == 0
        monkeypatch.delenv("AFFECTGATE_DASHBOARD_CREDENTIALS")
        get_settings.cache_clear()
        demo = runner.invoke(app, ["login", "--user", "officer", "--password", "officer-demo"])
        assert demo.exit_code == 3 and "outside the demo workspace" in demo.output, demo.output
    finally:
        get_settings.cache_clear()
