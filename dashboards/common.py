"""Shared Streamlit plumbing of the dashboard pages: login and roles, cached workspace readers, widgets.

Data shaping lives in :mod:`affectgate.dashboard.data` (pure, unit-tested); this module only loads,
caches and renders. Pages never compute metrics.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from affectgate.audit import AuditEvent, ChainReport
from affectgate.core.errors import AffectgateError
from affectgate.core.records import UseContext
from affectgate.dashboard.data import EMPTY_HINT, highest_role, oidc_role
from affectgate.gate.runs import RunAudit, RunView, list_runs, run_audit_index
from affectgate.oversight.queue import ROLES
from affectgate.project.settings import Settings, get_settings

_log = logging.getLogger("affectgate.dashboard")


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
    """The dashboard's login configuration (credentials file, OIDC settings) is missing or malformed."""


def credentials_path(s: Settings) -> Path:
    """The credentials file in force (relative paths resolve against the project root)."""
    return s.credentials_file


def _is_demo_file(s: Settings) -> bool:
    """Whether the credentials file in force is the shipped demo file (public passwords and e-mails)."""
    from affectgate.project.content import builtin_dir

    return credentials_path(s).resolve() == (builtin_dir("dashboards") / "credentials.example.yaml").resolve()


@st.cache_data(show_spinner=False)
def load_credentials(path: str, mtime: float, *, passwords: bool = True) -> dict:  # type: ignore[type-arg]
    """The streamlit-authenticator YAML (``cookie`` + ``credentials.usernames``), checked for roles.

    With ``passwords=False`` (the OIDC role file) the entries need no password hash, the user list may be
    empty, and an optional ``oidc`` section (``role_claim``, ``claim_roles``) is checked too.
    """
    del mtime  # part of the cache key only
    fix = _CRED_FIX if passwords else _ROLE_FILE_FIX
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AuthConfigError(f"cannot read the dashboard credentials {path}: {exc}", fix=fix) from None
    data = data if isinstance(data, dict) else {}
    users = (data.get("credentials") or {}).get("usernames") if isinstance(data.get("credentials"), dict) else None
    if passwords and (not isinstance(users, dict) or not users):
        raise AuthConfigError(f"{path}: no credentials.usernames section", fix=fix)
    if users is not None and not isinstance(users, dict):
        raise AuthConfigError(f"{path}: credentials.usernames must be a mapping of users", fix=fix)
    for name, user in (users or {}).items():
        roles = (user or {}).get("roles") or []
        bad = [r for r in roles if r not in ROLES]
        if not roles or bad:
            raise AuthConfigError(f"{path}: user {name!r} needs roles from {list(ROLES)}, got {roles}", fix=fix)
        if passwords and not str(user.get("password", "")).startswith("$2"):
            raise AuthConfigError(f"{path}: the password of {name!r} is not a bcrypt hash", fix=fix)
    if not passwords:
        oidc = data.get("oidc") or {}
        claim_roles = oidc.get("claim_roles") or {} if isinstance(oidc, dict) else None
        role_claim = oidc.get("role_claim") if isinstance(oidc, dict) else None
        if not isinstance(claim_roles, dict) or not isinstance(role_claim, str | None):
            raise AuthConfigError(f"{path}: oidc must hold role_claim and a claim_roles mapping", fix=fix)
        bad = {k: v for k, v in claim_roles.items() if v not in ROLES}
        if bad:
            raise AuthConfigError(f"{path}: oidc.claim_roles maps to unknown roles {bad}", fix=fix)
    return data


_CRED_FIX = "see docs/dashboard.md (credentials file) or unset AFFECTGATE_DASHBOARD_CREDENTIALS for the demo users"
_ROLE_FILE_FIX = "see docs/dashboard.md (OIDC login: role file)"
_OIDC_FIX = (
    "add an [auth] section (redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url) to "
    ".streamlit/secrets.toml, see docs/dashboard.md (OIDC login), or unset AFFECTGATE_DASHBOARD_AUTH"
)


def _role_of(roles: list[str] | None) -> str:
    """The most privileged of a user's roles (viewer when none)."""
    return highest_role(roles)


def _check_allowed(s: Settings, demo: bool) -> None:
    """Outside the demo workspace: no demo credentials, no demo cookie key, no default passwords (cached per file)."""
    path = credentials_path(s)
    problems = _credential_problems(str(path), path.stat().st_mtime, demo)
    if problems:
        raise AuthConfigError(
            "the dashboard refuses to start: " + "; ".join(problems) + " — this workspace is not the demo",
            fix="point AFFECTGATE_DASHBOARD_CREDENTIALS at your own credentials file (bcrypt hashes of passwords "
            "nobody can guess), see docs/dashboard.md; or run `affectgate demo` for the demo workspace",
        )


@st.cache_data(show_spinner=False)
def _credential_problems(path: str, mtime: float, demo: bool) -> list[str]:
    del mtime  # part of the cache key only
    from affectgate.oversight.identity import credential_problems

    return credential_problems(path=Path(path), demo=demo)


def _cookie_token(*, username: str, key: str, minutes: float) -> tuple[str, datetime]:
    """The re-authentication cookie streamlit-authenticator honours (HS256 JWT of username and exp_date)."""
    import jwt

    expires = datetime.now() + timedelta(minutes=minutes)
    return jwt.encode({"username": username, "exp_date": expires.timestamp()}, key, algorithm="HS256"), expires


def _idle_expired(s: Settings) -> bool:
    """True when this browser session's last interaction is older than the configured idle time."""
    last = st.session_state.get("affectgate_last_seen")
    return isinstance(last, float) and time.time() - last > s.dashboard_idle_minutes * 60


def _end_session(authenticator, cookie_name: str) -> None:  # noqa: ANN001 - stauth.Authenticate
    """Forget the login of this browser session and delete its re-authentication cookie."""
    for key in ("authentication_status", "username", "name", "roles", "email", "affectgate_last_seen"):
        st.session_state.pop(key, None)
    st.session_state["affectgate_cookie_set"] = None
    manager = authenticator.cookie_controller.cookie_model.cookie_manager
    with contextlib.suppress(KeyError):  # no cookie in this browser
        manager.delete(cookie_name, key="affectgate-cookie-delete")


def login(s: Settings) -> User | None:
    """Show the login (password form or OIDC button) until someone is logged in; then the logout button.

    Password login: outside the demo workspace the demo credentials, the demo cookie key and default
    passwords stop the app with what to fix. The re-authentication cookie is signed with a key generated
    for this installation (``<workspace>/keys/dashboard-cookie.key``, never the file's), set outside the
    login form so that it reaches the browser, and honoured on a reload or a deep link; it lasts
    ``dashboard_idle_minutes`` and is renewed while the user works, so the login ends after that idle time.
    """
    if s.dashboard_auth == "oidc":
        return _oidc_login(s)
    import streamlit_authenticator as stauth

    from affectgate.oversight.identity import COOKIE_KEY_FILE, installation_key, is_demo_workspace

    path = credentials_path(s)
    if not path.is_file():
        raise AuthConfigError(f"dashboard credentials file {path} not found", fix=_CRED_FIX)
    demo = is_demo_workspace(s)
    _check_allowed(s, demo)
    config = copy.deepcopy(load_credentials(str(path), path.stat().st_mtime))
    cookie = config.get("cookie") or {}
    cookie_name = str(cookie.get("name", "affectgate_dashboard"))
    cookie_key = installation_key(s, name=COOKIE_KEY_FILE)
    idle = s.dashboard_idle_minutes
    authenticator = stauth.Authenticate(
        config["credentials"],
        cookie_name=cookie_name,
        cookie_key=cookie_key,
        cookie_expiry_days=idle / (24 * 60),
        auto_hash=False,
    )
    expired = _idle_expired(s) and bool(st.session_state.get("authentication_status"))
    if expired:
        _end_session(authenticator, cookie_name)
    if not st.session_state.get("authentication_status"):
        slot = st.empty()
        with slot.container():
            st.title("affectgate — compliance dashboard")
            if expired or st.session_state.pop("affectgate_expired", False):
                st.warning(f"Your session ended after {idle:g} minutes without activity. Log in again.")
            authenticator.login(location="main", fields={"Form name": "Log in", "Login": "Log in"})
            if st.session_state.get("authentication_status") is False:
                st.error("Username or password is incorrect.")
            if not st.session_state.get("authentication_status"):
                if demo:
                    st.caption("DEMO workspace — demo users: see docs/dashboard.md (viewer / engineer / officer).")
                return None
        slot.empty()
    username = str(st.session_state.get("username"))
    users = config["credentials"]["usernames"]
    if username not in users:  # a cookie for a user the file no longer has
        _end_session(authenticator, cookie_name)
        return None
    now = time.time()
    st.session_state["affectgate_last_seen"] = now
    set_at = st.session_state.get("affectgate_cookie_set")
    if not isinstance(set_at, float) or now - set_at > idle * 60 / 4:  # renew the idle window now and then
        token, expires = _cookie_token(username=username, key=cookie_key, minutes=idle)
        authenticator.cookie_controller.cookie_model.cookie_manager.set(
            cookie_name, token, key="affectgate-cookie-set", expires_at=expires
        )
        st.session_state["affectgate_cookie_set"] = now
    roles = st.session_state.get("roles") or (users.get(username) or {}).get("roles")
    user = User(username=username, name=str(st.session_state.get("name") or username), role=_role_of(roles))
    with st.sidebar:
        if demo:
            st.caption("DEMO workspace: public demo users, synthetic data.")
        st.markdown(f"**{user.name}** (`{user.username}`) — role: **{user.role}**")
        authenticator.logout("Log out", location="sidebar")
    return user


# -- OIDC login ---------------------------------------------------------------------------------------
_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def auth_section() -> dict:  # type: ignore[type-arg]
    """The ``[auth]`` section of Streamlit's secrets (empty when there is no secrets file or no section)."""
    try:
        if "auth" not in st.secrets:
            return {}
        section = st.secrets["auth"]
    except FileNotFoundError:  # no secrets.toml anywhere (StreamlitSecretNotFoundError)
        return {}
    return section.to_dict() if hasattr(section, "to_dict") else dict(section)


def oidc_providers(auth: dict) -> list[str | None]:  # type: ignore[type-arg]
    """The providers ``st.login`` can use: None for a flat ``[auth]`` section, else each ``[auth.<name>]``."""
    named = [k for k, v in auth.items() if isinstance(v, dict) and any(key in v for key in _PROVIDER_KEYS)]
    if named:
        return sorted(named)
    return [None] if any(key in auth for key in _PROVIDER_KEYS) else []


def _check_oidc_config(auth: dict) -> list[str | None]:  # type: ignore[type-arg]
    """The configured providers, or AuthConfigError naming what is missing."""
    import importlib.util

    if importlib.util.find_spec("authlib") is None:
        raise AuthConfigError(
            "OIDC login needs Authlib, which is not installed", fix="pip install -e . (it pins Authlib)"
        )
    if not auth:
        raise AuthConfigError("OIDC login is selected but Streamlit's secrets have no [auth] section", fix=_OIDC_FIX)
    missing = [k for k in ("redirect_uri", "cookie_secret") if not auth.get(k)]
    providers = oidc_providers(auth)
    if not providers:
        missing.append("a provider (client_id, client_secret, server_metadata_url)")
    if missing:
        raise AuthConfigError(f"the [auth] section of Streamlit's secrets lacks {', '.join(missing)}", fix=_OIDC_FIX)
    return providers


def _role_file(s: Settings) -> dict:  # type: ignore[type-arg]
    """The OIDC role file (the credentials file in force; the public demo file never grants a role)."""
    path = credentials_path(s)
    if _is_demo_file(s) or not path.is_file():
        return {}
    return load_credentials(str(path), path.stat().st_mtime, passwords=False)


def oidc_user(claims: dict, s: Settings) -> tuple[User, str]:  # type: ignore[type-arg]
    """The dashboard user of an OIDC identity (``st.user``'s claims) and where the role came from."""
    data = _role_file(s)
    oidc = data.get("oidc") or {}
    role, source = oidc_role(
        claims,
        users=(data.get("credentials") or {}).get("usernames") or {},
        role_claim=oidc.get("role_claim"),
        claim_roles=oidc.get("claim_roles") or None,
    )
    username = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub") or "unknown")
    return User(username=username, name=str(claims.get("name") or username), role=role), source


def _oidc_login(s: Settings) -> User | None:
    """Streamlit's OIDC login (``[auth]`` in secrets.toml); roles from the role file or a claim, else viewer."""
    providers = _check_oidc_config(auth_section())
    if not st.user.is_logged_in:
        st.title("affectgate — compliance dashboard")
        for provider in providers:
            label = f"Log in with {provider}" if provider else "Log in with your identity provider"
            st.button(label, on_click=st.login, args=(provider,) if provider else (), key=f"oidc-login-{provider}")
        st.caption("Your organisation's identity provider decides who you are; docs/dashboard.md says how roles map.")
        return None
    user, source = oidc_user(st.user.to_dict(), s)
    with st.sidebar:
        st.markdown(f"**{user.name}** (`{user.username}`) — role: **{user.role}**")
        st.caption(f"role from: {source}")
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


# -- start-up: the heavy imports in a background thread --------------------------------------------
#: What the pages import or first use that costs seconds in a fresh server process (python -X importtime
#: and cProfile of each page's first visit; docs/dashboard.md has the numbers), in the order the pages need it.
WARM_MODULES: tuple[str, ...] = (
    "affectgate.gate",  # torch and onnx via the zoo runtime: review items, audit log, registry (Overview)
    "mlflow",  # the registry client: alias holders (Overview), techniques (Candidates)
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.tracking",
    "pandas.io.formats.style",  # the Styler (jinja2) of the leaderboard and the findings
    "plotly.express",
    "affectgate.evaluators.plots",
    "affectgate.evaluators.abstention",
    "scipy.stats",  # exact binomial group intervals (Fairness)
    "affectgate.evaluators.fairness",  # fairlearn: intersections (Fairness)
    "fpdf",  # the PDF of the Export page
)
_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def _warm() -> None:
    start = time.monotonic()
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page that needs it shows the real error
            _log.warning("warm-up: importing %s failed", name, exc_info=True)
    try:  # first figure: plotly builds its validators and templates lazily
        import plotly.express as px

        px.bar(pd.DataFrame({"x": ["a"], "y": [1.0]}), x="x", y="y").to_json()
        pd.DataFrame({"a": [1.0]}).style.format("{:.1f}").to_html()
    except Exception:  # noqa: BLE001
        _log.warning("warm-up: plotly/Styler first use failed", exc_info=True)
    _log.info("warm-up done in %.1f s", time.monotonic() - start)


def preload_chart_script() -> None:
    """An empty Plotly chart, hidden, so the browser loads Plotly's script while the login form is on screen.

    Streamlit fetches and compiles its Plotly bundle (megabytes of JavaScript) on the first chart a browser
    tab shows: seconds on a slow machine, which the first page with a chart would otherwise pay.
    """
    import plotly.graph_objects as go

    st.html("<style>.st-key-affectgate-plotly-preload {display: none;}</style>")
    with st.container(key="affectgate-plotly-preload"):
        st.plotly_chart(go.Figure(), key="affectgate-plotly-preload-chart")


def start_warmup() -> None:
    """Start importing what the pages need in a background thread (once per server process).

    Called while the login form is on screen: a fresh server otherwise spends its first seconds per
    page importing torch (via affectgate.gate), MLflow, plotly, scipy and fairlearn.
    """
    global _warm_thread
    with _warm_lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=_warm, name="affectgate-warmup", daemon=True)
            _warm_thread.start()


def wait_warmup(timeout: float = 180.0) -> None:
    """Block until the warm-up imports are done (the pages then import nothing heavy themselves).

    The page script must not import the same packages concurrently with the warm-up thread: two
    threads inside one package's circular imports can see a half-initialised module.
    """
    start_warmup()
    assert _warm_thread is not None
    _warm_thread.join(timeout)


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


def audit_log(s: Settings):  # noqa: ANN201 - affectgate.audit.AuditLog
    """The workspace's audit log (:func:`affectgate.gate.workspace.audit_log`, imported on first use)."""
    from affectgate.gate.workspace import audit_log as _audit_log

    return _audit_log(s)


def registry(s: Settings):  # noqa: ANN201 - affectgate.registry.MlflowRegistry
    """The workspace's MLflow registry client (:func:`affectgate.gate.workspace.registry`, cached per settings there)."""
    from affectgate.gate.workspace import registry as _registry

    return _registry(s)


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
        return load_context(project_root=s.project_root, context_id=context_id)
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
        from affectgate.gate.results import SYNTHETIC_NOTICE

        st.warning(SYNTHETIC_NOTICE, icon=":material/warning:")


def run_label(run: RunView) -> str:
    """How a run is named in select boxes."""
    tag = " [SYNTHETIC]" if run.report.synthetic_data else ""
    return f"{run.report.run_id} — {run.report.candidate} on {run.report.dataset.name}{tag}"


@st.cache_data(show_spinner=False)
def _pack_thresholds(project_root: str) -> dict[str, float]:
    from affectgate.policy import load_packs, pack_thresholds

    return pack_thresholds(packs=load_packs(project_root=Path(project_root) if project_root else None))


def gap_threshold(s: Settings, ctx: UseContext | None, kind: str = "accuracy") -> float:
    """The group-gap threshold in force for a context: its override, else the quality pack's default
    (``max_group_gap`` for the accuracy gap, ``max_group_error_gap`` for an engagement error gap)."""
    name = "max_group_gap" if kind == "accuracy" else "max_group_error_gap"
    if ctx is not None and name in ctx.thresholds:
        return float(ctx.thresholds[name])
    return float(_pack_thresholds(str(s.project_root) if s.project_root is not None else "")[name])
