"""Who submits a gate run, who trained and exported the model, and whether a workspace is the demo.

The submitter of a gate run is an authenticated identity, never a bare name from the environment:

1. a CI provider's OIDC ID token (a JWT such as GitHub Actions' token, fetched by the workflow before the
   gate), verified offline with PyJWT against the issuer's public keys kept in the project
   (``oidc_jwks_file``), the required ``iss`` and ``aud``; the human is the ``oidc_actor_claim`` claim
   (GitHub: ``actor``); a token without it is a *service* identity;
2. a token from ``affectgate login`` (bcrypt password check against the credentials file, then an
   itsdangerous-signed, time-limited token with a key generated per installation);
3. in the demo workspace only (marked by ``affectgate demo``): ``affectgate gate --submitter NAME``;
4. otherwise the gate's service identity (``settings.actor``): the release then goes to human review.

Lineage (who trained / exported the model) comes from the export folder's ``model.lock.json``. The demo
marker is a file in the workspace (:data:`DEMO_MARKER`); the dashboard accepts the public demo credentials
and cookie key only there.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from affectgate.core.errors import AffectgateError
from affectgate.core.records import EvalReport, Record, RuleOutcome
from affectgate.project.settings import Settings

#: The file that marks a workspace as the demo (written by ``affectgate demo``).
DEMO_MARKER = "DEMO_WORKSPACE"
#: The login token ``affectgate login`` writes (inside the workspace).
TOKEN_FILE = Path("identity") / "login.token"
#: The per-installation signing key of login tokens (inside the workspace, mode 0600).
LOGIN_KEY_FILE = Path("keys") / "login.key"
#: The per-installation cookie key of the dashboard's re-authentication cookie.
COOKIE_KEY_FILE = Path("keys") / "dashboard-cookie.key"
_TOKEN_SALT = "affectgate.login.v1"


class IdentityError(AffectgateError):
    """A submitter identity that cannot be established: bad or expired token, --submitter outside the demo."""


class Identity(Record):
    """The submitter of a gate run as established at submission."""

    subject: str = Field(description="The person (or service) name written into the audit log and the registry.")
    kind: Literal["human", "service"] = Field(description="human: an authenticated person; service: no person.")
    method: Literal["oidc", "login-token", "demo-flag", "service"] = Field(description="How it was established.")
    issuer: str | None = Field(default=None, description="Token issuer (OIDC iss, or the login key's fingerprint).")
    claims: dict[str, str] = Field(
        default_factory=dict, description="Selected token claims (repository, workflow, run_id, sub...)."
    )


class Lineage(Record):
    """Who produced a model, from its export folder's ``model.lock.json``."""

    trained_by: str | None = Field(default=None, description="Identity that trained the weights.")
    exported_by: str | None = Field(default=None, description="Identity that exported the ONNX file.")

    @property
    def people(self) -> tuple[str, ...]:
        """Every named producer."""
        return tuple(p for p in (self.trained_by, self.exported_by) if p)


# -- demo workspace ----------------------------------------------------------------------------------
def is_demo_workspace(settings: Settings) -> bool:
    """True when the workspace carries the demo marker (``affectgate demo`` wrote it)."""
    return (settings.workspace_dir / DEMO_MARKER).is_file()


def mark_demo_workspace(settings: Settings) -> Path:
    """Mark the workspace as the demo: public demo users, demo cookie key and ``--submitter`` are accepted there."""
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    path = settings.workspace_dir / DEMO_MARKER
    if not path.is_file():
        path.write_text(
            "This workspace is the affectgate DEMO: synthetic data, public demo users and cookie key, unauthenticated "
            "--submitter names. Never use it for a real release.\n",
            encoding="utf-8",
        )
    return path


# -- per-installation keys ---------------------------------------------------------------------------
def installation_key(settings: Settings, *, name: Path) -> str:
    """A random key generated once per workspace (``keys/<name>``, mode 0600), created on first use."""
    path = settings.workspace_dir / name
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


# -- affectgate login tokens -------------------------------------------------------------------------
def _serializer(settings: Settings):  # noqa: ANN202 - itsdangerous.URLSafeTimedSerializer
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(installation_key(settings, name=LOGIN_KEY_FILE), salt=_TOKEN_SALT)


def mint_login_token(*, settings: Settings, user: str, role: str) -> str:
    """A signed, time-stamped token naming ``user`` (checked by :func:`verify_login_token`)."""
    return _serializer(settings).dumps({"user": user, "role": role, "workspace": str(settings.workspace_dir)})


def verify_login_token(*, settings: Settings, token: str) -> Identity:
    """The identity a login token names; IdentityError when it is forged, expired or for another workspace."""
    from itsdangerous import BadSignature, SignatureExpired

    max_age = int(settings.login_token_hours * 3600)
    try:
        data = _serializer(settings).loads(token.strip(), max_age=max_age)
    except SignatureExpired:
        raise IdentityError(
            f"the affectgate login token expired (valid {settings.login_token_hours:g} h)",
            fix="run `affectgate login --user NAME` again",
        ) from None
    except BadSignature:
        raise IdentityError(
            "the affectgate login token does not verify (forged, or signed by another installation)",
            fix="run `affectgate login --user NAME` in this workspace",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("user"), str) or not data["user"]:
        raise IdentityError("the affectgate login token names no user", fix="run `affectgate login --user NAME`")
    if data.get("workspace") != str(settings.workspace_dir):
        raise IdentityError(
            f"the affectgate login token was issued for workspace {data.get('workspace')!r}",
            fix="run `affectgate login --user NAME` in this workspace",
        )
    return Identity(
        subject=data["user"], kind="human", method="login-token", claims={"role": str(data.get("role", ""))}
    )


def token_path(settings: Settings) -> Path:
    """Where ``affectgate login`` stores its token."""
    return settings.workspace_dir / TOKEN_FILE


def save_login_token(*, settings: Settings, token: str) -> Path:
    """Write the token for later gate runs (mode 0600)."""
    path = token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return path


# -- CI OIDC tokens ----------------------------------------------------------------------------------
def verify_oidc_token(*, settings: Settings, token: str) -> Identity:
    """The identity in a CI provider's OIDC token, verified offline against the configured JWKS file."""
    import jwt

    if settings.oidc_jwks_file is None:
        raise IdentityError(
            "a CI OIDC token was given but no issuer keys are configured",
            fix="set oidc_jwks_file (AFFECTGATE_OIDC_JWKS_FILE) to the issuer's JWKS JSON kept in the project",
        )
    path = settings.resolve(settings.oidc_jwks_file)
    try:
        keyset = jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8"))
    except (OSError, jwt.PyJWTError, ValueError) as exc:
        raise IdentityError(f"cannot read the OIDC issuer keys {path}: {exc}", fix="store the issuer's JWKS") from None
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        candidates = [k for k in keyset.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise jwt.InvalidKeyError(f"no key with kid {kid!r} in {path}")
        claims = jwt.decode(
            token,
            key=candidates[0],
            algorithms=["RS256", "ES256", "EdDSA", "PS256"],
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise IdentityError(
            f"the CI OIDC token does not verify: {exc}",
            fix=f"request a fresh token with audience {settings.oidc_audience!r} from {settings.oidc_issuer}",
        ) from None
    keep = ("sub", "repository", "workflow", "run_id", "ref", "actor", "job_workflow_ref", "event_name")
    picked = {k: str(claims[k]) for k in keep if k in claims}
    actor = claims.get(settings.oidc_actor_claim)
    if isinstance(actor, str) and actor.strip():
        return Identity(subject=actor.strip(), kind="human", method="oidc", issuer=str(claims["iss"]), claims=picked)
    return Identity(subject=str(claims["sub"]), kind="service", method="oidc", issuer=str(claims["iss"]), claims=picked)


# -- the submitter -----------------------------------------------------------------------------------
def resolve_submitter(settings: Settings) -> Identity:
    """The submitter of a gate run: CI OIDC token, else login token, else demo --submitter, else the service.

    A token that is given but does not verify is an IdentityError (the gate exits 3): it never falls
    back silently. ``--submitter`` outside the demo workspace is refused the same way.
    """
    oidc = settings.oidc_token
    if oidc is None and settings.oidc_token_file is not None:
        path = settings.resolve(settings.oidc_token_file)
        try:
            oidc = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise IdentityError(f"cannot read the CI OIDC token {path}: {exc}", fix="write the token file") from None
    if oidc:
        return verify_oidc_token(settings=settings, token=oidc)
    token = settings.login_token
    if token is None and token_path(settings).is_file():
        token = token_path(settings).read_text(encoding="utf-8").strip()
    if token:
        return verify_login_token(settings=settings, token=token)
    if settings.submitter:
        if not is_demo_workspace(settings):
            raise IdentityError(
                f"--submitter {settings.submitter!r} names a person without authenticating them; it is accepted only "
                "in the demo workspace",
                fix="run `affectgate login --user NAME` (or pass the CI provider's OIDC token: "
                "AFFECTGATE_OIDC_TOKEN_FILE) and drop --submitter / AFFECTGATE_SUBMITTER",
            )
        return Identity(subject=settings.submitter.strip(), kind="human", method="demo-flag")
    return Identity(subject=settings.actor, kind="service", method="service")


# -- lineage -----------------------------------------------------------------------------------------
def current_person() -> str:
    """The OS user producing an artefact (training, export), recorded as its lineage."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid-{os.getuid()}"


def lineage_of(*, lock: dict[str, object]) -> Lineage:
    """Who trained and exported a model, from its lock file's ``trained_by`` / ``exported_by``."""

    def name(key: str) -> str | None:
        value = lock.get(key)
        return value if isinstance(value, str) and value else None

    return Lineage(trained_by=name("trained_by"), exported_by=name("exported_by"))


def lineage_of_folder(folder: Path) -> Lineage:
    """:func:`lineage_of` the lock file in an export folder (empty when there is none)."""
    path = folder / "model.lock.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    return lineage_of(lock=data if isinstance(data, dict) else {})


def now_utc() -> datetime:
    """The current UTC time (one place, for tests)."""
    return datetime.now(UTC)


#: Rule id of the gate's own outcome when no person submitted the run.
SUBMITTER_RULE = "gate.submitter_identity"


def submitter_outcome(*, settings: Settings, report: EvalReport) -> RuleOutcome | None:
    """A review-severity outcome when only the service identity submitted the run (outside the demo), else None."""
    if report.submitter_kind == "human" or is_demo_workspace(settings):
        return None
    who = report.submitter or settings.actor
    return RuleOutcome(
        rule_id=SUBMITTER_RULE,
        pack="affectgate",
        title="A person submitted the release",
        article="AI Act Art. 14 (human oversight); Art. 26(2) (assigned persons)",
        status="fail",
        severity="review",
        effective_from=date(2024, 8, 1),
        message=f"submitted by the service identity {who!r} alone (no authenticated person: `affectgate login` "
        "or the CI provider's OIDC token): a compliance officer must review the release",
        evidence={"submitter": who, "submitter_kind": report.submitter_kind or "unknown"},
    )


# -- credentials outside the demo --------------------------------------------------------------------
#: The public demo cookie key of the shipped credentials file.
DEMO_COOKIE_KEY = "demo-cookie-key-change-me-in-a-real-deployment"
_DEFAULT_PASSWORDS = ("password", "changeme")


def demo_credentials_file() -> Path:
    """The shipped demo credentials file (public passwords)."""
    from affectgate.project.content import builtin_dir

    return builtin_dir("dashboards") / "credentials.example.yaml"


def credential_problems(*, path: Path, demo: bool) -> list[str]:
    """Why a credentials file may not be used here: the demo file, demo hashes or cookie key, default passwords.

    Empty in the demo workspace (its users are the public demo users). Each user's bcrypt hash is tried
    against ``<user>``, ``<user>-demo`` and common defaults: a password anyone can guess is refused.
    """
    import bcrypt
    import yaml

    if demo:
        return []
    demo_file = demo_credentials_file()
    if path.resolve() == demo_file.resolve():
        return [f"{path} is the public demo credentials file (its passwords are in the docs)"]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        demo_data = yaml.safe_load(demo_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return [f"cannot read {path}: {exc}"]
    problems: list[str] = []
    cookie = data.get("cookie") if isinstance(data.get("cookie"), dict) else {}
    if str(cookie.get("key", "")) == DEMO_COOKIE_KEY:
        problems.append(f"{path} uses the public demo cookie key")
    demo_hashes = {
        str(u.get("password")) for u in ((demo_data.get("credentials") or {}).get("usernames") or {}).values()
    }
    users = (data.get("credentials") or {}).get("usernames") if isinstance(data.get("credentials"), dict) else {}
    for name, user in (users or {}).items():
        hashed = str((user or {}).get("password", ""))
        if hashed in demo_hashes:
            problems.append(f"user {name!r} has a demo password")
            continue
        if not hashed.startswith("$2"):
            continue  # the loader names a hash that is not bcrypt
        for guess in (str(name), f"{name}-demo", *_DEFAULT_PASSWORDS):
            try:
                hit = bcrypt.checkpw(guess.encode(), hashed.encode())
            except ValueError:
                hit = False
            if hit:
                problems.append(f"user {name!r} has a default password")
                break
    return problems


def check_credentials_allowed(*, settings: Settings, demo: bool | None = None) -> None:
    """IdentityError naming every problem of the credentials file in force outside the demo workspace."""
    demo = is_demo_workspace(settings) if demo is None else demo
    problems = credential_problems(path=settings.credentials_file, demo=demo)
    if problems:
        raise IdentityError(
            "refusing the dashboard credentials outside the demo workspace: " + "; ".join(problems),
            fix="point AFFECTGATE_DASHBOARD_CREDENTIALS at your own file (bcrypt hashes of passwords nobody can "
            "guess; see docs/dashboard.md), or run `affectgate demo` for a demo workspace",
        )


#: Rule id of the block every decision on a training-fit report carries.
TRAINING_FIT_RULE = "gate.training_fit"


def training_fit_outcome(*, suite: str) -> RuleOutcome:
    """The block outcome of a decision taken on a training-fit report (the suite asked for the training data)."""
    return RuleOutcome(
        rule_id=TRAINING_FIT_RULE,
        pack="affectgate",
        title="Evidence from held-out data",
        article="AI Act Art. 15(1) (accuracy), Art. 10(3) (representative test data)",
        status="fail",
        severity="block",
        effective_from=date(2024, 8, 1),
        message=f"suite {suite!r} is a training-fit report on the model's own training data: it can never promote",
        evidence={"suite": suite},
    )
