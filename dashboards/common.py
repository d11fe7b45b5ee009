"""Shared Streamlit plumbing of the dashboard pages: login and roles, cached workspace readers, widgets.

Data shaping lives in :mod:`affectgate.dashboard_data` (pure, unit-tested); this module only loads,
caches and renders. Pages never compute metrics.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from affectgate.audit import AuditEvent, ChainReport
from affectgate.dashboard_data import EMPTY_HINT
from affectgate.errors import AffectgateError
from affectgate.pipeline import SYNTHETIC_NOTICE, audit_log, registry
from affectgate.records import UseContext
from affectgate.review import ROLES
from affectgate.settings import Settings, get_settings
from affectgate.store import RunAudit, RunView, list_runs, run_audit_index


@dataclass(frozen=True)
class User:
    """The logged-in user."""

    username: str
    name: str
    role: str


def settings() -> Settings:
    """The settings in force (environment, ``AFFECTGATE_`` prefix)."""
    return get_settings()


# -- login ------------------------------------------------------------------------------------------
class AuthConfigError(AffectgateError):
    """The dashboard's credentials file is missing or malformed."""


def credentials_path(s: Settings) -> Path:
    """The credentials file in force (relative paths resolve against the project root)."""
    return s.resolve(s.dashboard_credentials)


@st.cache_data(show_spinner=False)
def load_credentials(path: str, mtime: float) -> dict:  # type: ignore[type-arg]
    """The streamlit-authenticator YAML (``cookie`` + ``credentials.usernames``), checked for roles."""
    del mtime  # part of the cache key only
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AuthConfigError(f"cannot read the dashboard credentials {path}: {exc}", fix=_CRED_FIX) from None
    users = (data or {}).get("credentials", {}).get("usernames") if isinstance(data, dict) else None
    if not isinstance(users, dict) or not users:
        raise AuthConfigError(f"{path}: no credentials.usernames section", fix=_CRED_FIX)
    for name, user in users.items():
        roles = (user or {}).get("roles") or []
        bad = [r for r in roles if r not in ROLES]
        if not roles or bad:
            raise AuthConfigError(f"{path}: user {name!r} needs roles from {list(ROLES)}, got {roles}", fix=_CRED_FIX)
        if not str(user.get("password", "")).startswith("$2"):
            raise AuthConfigError(f"{path}: the password of {name!r} is not a bcrypt hash", fix=_CRED_FIX)
    return data


_CRED_FIX = "see docs/dashboard.md (credentials file) or unset AFFECTGATE_DASHBOARD_CREDENTIALS for the demo users"


def _role_of(roles: list[str] | None) -> str:
    """The most privileged of a user's roles (viewer when none)."""
    ranked = [r for r in ROLES if r in (roles or [])]
    return ranked[-1] if ranked else "viewer"


def login(s: Settings) -> User | None:
    """Show the login (password form or OIDC button) until someone is logged in; then the logout button."""
    if s.dashboard_auth == "oidc":
        return _oidc_login(s)
    import streamlit_authenticator as stauth

    path = credentials_path(s)
    if not path.is_file():
        raise AuthConfigError(f"dashboard credentials file {path} not found", fix=_CRED_FIX)
    config = copy.deepcopy(load_credentials(str(path), path.stat().st_mtime))
    cookie = config.get("cookie") or {}
    authenticator = stauth.Authenticate(
        config["credentials"],
        cookie_name=str(cookie.get("name", "affectgate_dashboard")),
        cookie_key=str(cookie.get("key", "")),
        cookie_expiry_days=float(cookie.get("expiry_days", 1)),
        auto_hash=False,
    )
    if not st.session_state.get("authentication_status"):
        slot = st.empty()
        with slot.container():
            st.title("affectgate — compliance dashboard")
            authenticator.login(location="main", fields={"Form name": "Log in", "Login": "Log in"})
            if st.session_state.get("authentication_status") is False:
                st.error("Username or password is incorrect.")
            if not st.session_state.get("authentication_status"):
                st.caption("Demo users: see docs/dashboard.md (viewer / engineer / officer).")
                return None
        slot.empty()
    username = str(st.session_state.get("username"))
    users = config["credentials"]["usernames"]
    roles = st.session_state.get("roles") or (users.get(username) or {}).get("roles")
    user = User(username=username, name=str(st.session_state.get("name") or username), role=_role_of(roles))
    with st.sidebar:
        st.markdown(f"**{user.name}** (`{user.username}`) — role: **{user.role}**")
        authenticator.logout("Log out", location="sidebar")
    return user


def _oidc_login(s: Settings) -> User | None:
    """Streamlit's OIDC login (``[auth]`` in secrets.toml); the role comes from the credentials file by e-mail."""
    if not st.user.is_logged_in:
        st.title("affectgate — compliance dashboard")
        st.button("Log in with your identity provider", on_click=st.login)
        return None
    email = str(st.user.get("email") or "")
    role = "viewer"
    path = credentials_path(s)
    if path.is_file():
        users = load_credentials(str(path), path.stat().st_mtime)["credentials"]["usernames"]
        for u in users.values():
            if str(u.get("email", "")).lower() == email.lower():
                role = _role_of(u.get("roles"))
    user = User(username=email or "unknown", name=str(st.user.get("name") or email), role=role)
    with st.sidebar:
        st.markdown(f"**{user.name}** — role: **{user.role}**")
        st.button("Log out", on_click=st.logout)
    return user


def current_user() -> User:
    """The user app.py logged in (pages run only after login)."""
    user = st.session_state.get("affectgate_user")
    if not isinstance(user, User):
        st.error("Not logged in.")
        st.stop()
    return user


def may_see_biometrics(user: User, s: Settings) -> bool:
    """Whether the user's role may see raw face frames."""
    return user.role in s.dashboard_biometric_roles


# -- cached workspace readers ----------------------------------------------------------------------
def _stamp(path: Path) -> float:
    """A cache key that changes when a file or a folder's entries change."""
    if not path.exists():
        return 0.0
    if path.is_file():
        return path.stat().st_mtime
    return max([path.stat().st_mtime, *(p.stat().st_mtime for p in path.iterdir())])


def runs_stamp(s: Settings) -> tuple[float, float]:
    """Cache key of the run folders and the audit log."""
    return _stamp(s.runs_dir), _stamp(s.audit_path)


@st.cache_data(show_spinner=False)
def _runs(_s: Settings, key: tuple[str, tuple[float, float]]) -> list[RunView]:
    del key
    return list_runs(settings=_s)


def runs(s: Settings) -> list[RunView]:
    """Every run folder, newest first (cached until the workspace changes)."""
    return _runs(s, (str(s.workspace_dir), runs_stamp(s)))


def events(s: Settings) -> list[AuditEvent]:
    """Every audit event (raises AuditError on a malformed log; pages show the chain status instead)."""
    if not s.audit_path.is_file():
        return []
    return audit_log(s).events()


def chain(s: Settings) -> ChainReport:
    """The audit chain verified now."""
    return audit_log(s).verify()


def run_index(s: Settings) -> dict[str, RunAudit]:
    """Submitter and registered version per run id, from the audit log (empty when it is unreadable)."""
    try:
        return run_audit_index(events=events(s))
    except AffectgateError:
        return {}


def alias_holder(s: Settings, *, model: str, context_id: str) -> str | None:
    """The version holding the context alias of ``model`` now."""
    return registry(s).alias_version(name=model, context_id=context_id)


@st.cache_data(show_spinner=False)
def _technique(_s: Settings, workspace: str, model: str, version: str) -> str:
    del workspace  # part of the cache key only
    try:
        return registry(_s).version_tags(name=model, version=version).get("technique", "unknown")
    except Exception:  # noqa: BLE001 - a missing tag only blanks one cell
        return "unknown"


def techniques(s: Settings, index: dict[str, RunAudit]) -> dict[str, str]:
    """Technique per model name, from the registry's version tags."""
    out: dict[str, str] = {}
    for info in index.values():
        if info.model and info.version and info.model not in out:
            out[info.model] = _technique(s, str(s.workspace_dir), info.model, info.version)
    return out


@st.cache_data(show_spinner=False)
def predictions(path: str, mtime: float) -> pd.DataFrame:
    """A run's predictions.parquet."""
    del mtime
    return pd.read_parquet(path)


def run_predictions(run: RunView) -> pd.DataFrame | None:
    """The run's predictions, or None when the file is missing."""
    path = run.folder / "predictions.parquet"
    return predictions(str(path), path.stat().st_mtime) if path.is_file() else None


def context(s: Settings, context_id: str) -> UseContext | None:
    """The declared context (None when its YAML no longer exists)."""
    from affectgate.policy import load_context

    try:
        return load_context(root=s.project_root / "policies", context_id=context_id)
    except AffectgateError:
        return None


# -- widgets ----------------------------------------------------------------------------------------
def empty_state(what: str) -> None:
    """Explain what is missing and what to run, then stop the page."""
    st.info(f"{what} {EMPTY_HINT}")
    st.stop()


def synthetic_banner(runs_: list[RunView]) -> None:
    """The synthetic-data notice whenever any shown evidence is synthetic."""
    if any(r.report.synthetic_data for r in runs_):
        st.warning(SYNTHETIC_NOTICE, icon=":material/warning:")


def run_label(run: RunView) -> str:
    """How a run is named in select boxes."""
    tag = " [SYNTHETIC]" if run.report.synthetic_data else ""
    return f"{run.report.run_id} — {run.report.candidate} on {run.report.dataset.name}{tag}"


@st.cache_data(show_spinner=False)
def _pack_thresholds(project_root: str) -> dict[str, float]:
    from affectgate.policy import load_packs, pack_thresholds

    return pack_thresholds(packs=load_packs(root=Path(project_root) / "policies"))


def gap_threshold(s: Settings, ctx: UseContext | None) -> float:
    """The group-gap threshold in force for a context: its override, else the quality pack's default."""
    if ctx is not None and "max_group_gap" in ctx.thresholds:
        return float(ctx.thresholds["max_group_gap"])
    return float(_pack_thresholds(str(s.project_root))["max_group_gap"])
