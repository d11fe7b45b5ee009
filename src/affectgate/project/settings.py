"""The one entry point for settings (pydantic-settings, ``AFFECTGATE_`` prefix)."""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from affectgate.core.errors import AffectgateError

#: The settings file of a user project (``affectgate init`` writes it); a ``[tool.affectgate]`` table in
#: ``pyproject.toml`` does the same.
SETTINGS_FILE = "affectgate.toml"
#: The demo credentials file (built in, demo users only).
DEFAULT_CREDENTIALS = Path("dashboards/credentials.example.yaml")
PYPROJECT = "pyproject.toml"


def _has_tool_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(data.get("tool"), dict) and "affectgate" in data["tool"]


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) with an affectgate settings file.

    A settings file is ``affectgate.toml`` or a ``pyproject.toml`` holding a ``[tool.affectgate]`` table.
    None when there is none (affectgate then uses only its built-in content).
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if settings_file(folder) is not None:
            return folder
    return None


def settings_file(root: Path | None) -> Path | None:
    """The settings file of the project at ``root``: ``affectgate.toml``, else its ``pyproject.toml`` table."""
    if root is None:
        return None
    if (root / SETTINGS_FILE).is_file():
        return root / SETTINGS_FILE
    if (root / PYPROJECT).is_file() and _has_tool_table(root / PYPROJECT):
        return root / PYPROJECT
    return None


def _root_from_env_or_cwd() -> Path | None:
    explicit = os.environ.get("AFFECTGATE_PROJECT_ROOT")
    return Path(explicit).expanduser().resolve() if explicit else find_project_root()


class Settings(BaseSettings):
    """affectgate settings; every field can be set as ``AFFECTGATE_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="AFFECTGATE_", extra="forbid", frozen=True)

    project_root: Path | None = Field(
        default_factory=_root_from_env_or_cwd,
        description="The user project: the folder of its affectgate.toml (or pyproject.toml with [tool.affectgate]), "
        "found at or above the working directory. Its contexts/, policies/, suites/ and model_zoo/ overlay the "
        "built-in content. None outside a project: built-in content only, and commands that write a workspace "
        "ask for `affectgate init`.",
    )
    workspace: Path = Field(
        default=Path(".affectgate"),
        description="Run folders, mlflow.db, MLflow artifacts, exported models and the audit log.",
    )
    data_root: Path = Field(default=Path("data"), description="Root of all datasets; paths may not leave it.")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default: SQLite file mlflow.db in the workspace."
    )
    prefect_api_url: str | None = Field(
        default=None, description="Prefect API URL; default: Prefect's ephemeral server (nothing to start)."
    )
    dask_address: str | None = Field(
        default=None,
        description="Address of an existing Dask scheduler (tcp://host:8786) for the benchmark fan-out; "
        "default: a local Dask cluster started per flow run.",
    )
    dask_workers: int | None = Field(
        default=None, ge=1, description="Worker processes of the local Dask cluster; default: one per CPU core."
    )
    audit_hmac_key: str | None = Field(default=None, description="Optional key that HMAC-signs the audit chain head.")
    audit_signing: bool = Field(
        default=True,
        description="Ed25519-sign every audit event and the chain head (the key is made on first use); a regulator "
        "verifies with the public key alone (`affectgate audit verify --public-key`).",
    )
    audit_signing_key: Path | None = Field(
        default=None,
        description="The Ed25519 private key (PKCS#8 PEM, mode 0600) that signs the audit chain; default "
        "<workspace>/audit/signing/ed25519.pem. Put it outside the workspace, readable only by the gate's account, "
        "so that write access to the log is not enough to forge it.",
    )
    fault_point: str | None = Field(
        default=None,
        description="TEST-ONLY (the fault-injection suite, `make faults`): kill the process at this fault point "
        "(affectgate.audit.faults.POINTS, `name` or `name:n`). Never set it in production.",
    )
    audit_retention_days: int = Field(
        default=365,
        ge=183,
        description="Minimum days audit events are kept (EU AI Act Art. 12/19: at least six months). The chain is "
        "append-only: nothing deletes events, so this is a floor that exports and operators must respect.",
    )
    actor: str = Field(default="affectgate-gate", description="Actor name written into audit events.")
    debug: bool = Field(default=False, description="Show the Python traceback of an unexpected error (bug reports).")
    ort_threads: int = Field(default=2, ge=1, description="onnxruntime intra-op threads.")
    batch_size: int = Field(default=16, ge=1, description="Clips per onnxruntime batch.")
    seed: int = Field(default=0, description="Seed for data generation and training.")
    clip_cache: bool = Field(
        default=True,
        description="Keep decoded clips (uint8 .npy, keyed by frame files' names, sizes and mtimes) in "
        "<workspace>/cache/clips so repeated evaluations of the same frames skip JPEG decoding.",
    )
    face_detector: Literal["mtcnn", "haar"] = Field(
        default="mtcnn",
        description="Face detector for sets that are not face crops: MTCNN (onnxruntime on colour frames, five "
        "landmarks, eyes-level crops; the default) or OpenCV's Haar cascade (`--face-detector haar`, for comparison).",
    )
    clip_cache_max_bytes: int = Field(
        default=2 * 1024**3,
        ge=0,
        description="Size bound of the clip cache (decoded clips and face crops: biometric data, GDPR Art. 9); "
        "the oldest entries are purged past it at every gate and by `affectgate cache purge`. 0 = no bound.",
    )
    clip_cache_retention_days: float = Field(
        default=30.0,
        ge=0,
        description="Retention period of cached clips and face crops, in days since last written; older entries "
        "are purged at every gate and by `affectgate cache purge`. 0 = kept until purged by hand.",
    )
    dashboard_credentials: Path = Field(
        default=DEFAULT_CREDENTIALS,
        description="streamlit-authenticator YAML (bcrypt-hashed passwords, roles per user) the dashboard logs in "
        "against; the default ships demo users only: point it at your own file in a real deployment.",
    )
    dashboard_auth: Literal["password", "oidc"] = Field(
        default="password",
        description="Dashboard login: 'password' (the credentials file) or 'oidc' (Streamlit's st.login with the "
        "[auth] section of .streamlit/secrets.toml; roles are looked up by e-mail in the credentials file).",
    )
    dashboard_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        description="Minutes without a page interaction after which a dashboard login ends (the re-authentication "
        "cookie survives a reload and a deep link until then).",
    )
    submitter: str | None = Field(
        default=None,
        description="Demo workspace only (`affectgate gate --submitter NAME`): the human submitting a gate run, "
        "unauthenticated. Refused outside the demo workspace: use `affectgate login` or a CI OIDC token there.",
    )
    login_token: str | None = Field(
        default=None,
        description="A signed token from `affectgate login` (default: the token file that command writes in the "
        "workspace). It names the authenticated submitter of gate runs.",
    )
    login_token_hours: float = Field(default=12.0, gt=0, description="Hours an `affectgate login` token is valid.")
    oidc_token: str | None = Field(
        default=None,
        description="A CI provider's OIDC ID token (JWT, e.g. GitHub Actions' token fetched by the workflow before "
        "the gate), verified offline against oidc_jwks_file, oidc_issuer and oidc_audience.",
    )
    oidc_token_file: Path | None = Field(default=None, description="A file holding the CI OIDC token (JWT).")
    oidc_jwks_file: Path | None = Field(
        default=None, description="The CI issuer's public keys (a JWKS JSON file kept in the project; no fetch)."
    )
    oidc_issuer: str = Field(
        default="https://token.actions.githubusercontent.com", description="Required `iss` of a CI OIDC token."
    )
    oidc_audience: str = Field(default="affectgate", description="Required `aud` of a CI OIDC token.")
    oidc_actor_claim: str = Field(
        default="actor",
        description="Claim naming the human who started the CI job (GitHub Actions: actor); a token without it "
        "is a service identity.",
    )
    dashboard_biometric_roles: tuple[str, ...] = Field(
        default=("ml-engineer", "compliance-officer"),
        description="Dashboard roles allowed to see raw face frames (biometric data, GDPR Art. 9); others never do.",
    )

    @classmethod
    def settings_customise_sources(  # noqa: PLR0913 - pydantic-settings' signature
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then ``AFFECTGATE_*`` variables, then the project's settings file, then defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = settings_file(_root_from_env_or_cwd())
        if path is not None:
            header = ("tool", "affectgate") if path.name == PYPROJECT else None
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path, toml_table_header=header))
        return tuple(sources)

    @property
    def root(self) -> Path:
        """The folder relative paths resolve against: the project root, else the working directory."""
        return self.project_root if self.project_root is not None else Path.cwd().resolve()

    @property
    def in_project(self) -> bool:
        """True inside a user project (a settings file was found, or AFFECTGATE_PROJECT_ROOT is set)."""
        return self.project_root is not None

    @property
    def has_workspace(self) -> bool:
        """True when a workspace is known: inside a project, or AFFECTGATE_WORKSPACE given."""
        return self.project_root is not None or "workspace" in self.model_fields_set

    def require_project(self, *, what: str = "a workspace") -> None:
        """Refuse to keep ``what`` outside a project, unless the workspace and data root were given explicitly."""
        if self.project_root is None and not {"workspace", "data_root"} & self.model_fields_set:
            raise AffectgateError(
                f"affectgate needs a project for {what}: no {SETTINGS_FILE} (or pyproject.toml with "
                f"[tool.affectgate]) in {Path.cwd()} or any folder above",
                fix="run `affectgate init` here (or in your repository's root), or set AFFECTGATE_PROJECT_ROOT "
                "(or AFFECTGATE_WORKSPACE and AFFECTGATE_DATA_ROOT)",
            )

    def resolve(self, path: Path) -> Path:
        """A path relative to the project root (outside a project: the working directory) made absolute."""
        return path if path.is_absolute() else (self.root / path).resolve()

    @property
    def credentials_file(self) -> Path:
        """The dashboard credentials file in force: the configured one, else the built-in demo file (default only)."""
        path = self.resolve(self.dashboard_credentials)
        if not path.is_file() and self.dashboard_credentials == DEFAULT_CREDENTIALS:
            from affectgate.project.content import builtin_dir

            return builtin_dir("dashboards") / DEFAULT_CREDENTIALS.name
        return path

    @property
    def workspace_dir(self) -> Path:
        """Absolute workspace folder (outside a project only when AFFECTGATE_WORKSPACE names it)."""
        if "workspace" not in self.model_fields_set:
            self.require_project(what="its workspace (runs, MLflow store, models, audit log)")
        return self.resolve(self.workspace)

    @property
    def data_dir(self) -> Path:
        """Absolute data root (outside a project only when AFFECTGATE_DATA_ROOT names it)."""
        if "data_root" not in self.model_fields_set:
            self.require_project(what="its data root")
        return self.resolve(self.data_root)

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI in force."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.workspace_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        """Local MLflow artifact folder used with the SQLite default."""
        return self.workspace_dir / "mlartifacts"

    @property
    def audit_path(self) -> Path:
        """The audit log (JSONL)."""
        return self.workspace_dir / "audit" / "audit.jsonl"

    @property
    def audit_signing_key_path(self) -> Path:
        """The Ed25519 private key file that signs the audit chain."""
        if self.audit_signing_key is not None:
            return self.resolve(self.audit_signing_key)
        return self.workspace_dir / "audit" / "signing" / "ed25519.pem"

    @property
    def runs_dir(self) -> Path:
        """Run folders, one per (candidate, dataset, target) evaluation."""
        return self.workspace_dir / "runs"

    @property
    def models_dir(self) -> Path:
        """Exported models (ONNX + card + lock) per architecture."""
        return self.workspace_dir / "models"

    @property
    def clip_cache_dir(self) -> Path | None:
        """Folder of decoded clips, or None when the cache is off."""
        return self.workspace_dir / "cache" / "clips" if self.clip_cache else None

    @property
    def prefect_home(self) -> Path:
        """Prefect's home (its SQLite database for the ephemeral server) inside the workspace."""
        return self.workspace_dir / "prefect"


class SettingsError(AffectgateError):
    """The settings file or an AFFECTGATE_* variable holds a value affectgate cannot use."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment and the project's settings file; a bad value is a SettingsError."""
    try:
        return Settings()
    except ValidationError as exc:
        where = settings_file(_root_from_env_or_cwd())
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '?'}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise SettingsError(
            f"invalid affectgate settings ({problems})",
            fix=f"correct the field in {where or 'the environment'} or the matching AFFECTGATE_<FIELD> variable "
            "(see docs/project.md for every field)",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"{settings_file(_root_from_env_or_cwd())} is not valid TOML: {exc}", fix="correct the file"
        ) from None
