"""The one entry point for settings (pydantic-settings, ``AFFECTGATE_`` prefix)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _find_project_root() -> Path:
    """The nearest folder at or above the working directory holding ``policies/`` and ``model_zoo/``."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "policies").is_dir() and (folder / "model_zoo").is_dir():
            return folder
    return here


class Settings(BaseSettings):
    """affectgate settings; every field can be set as ``AFFECTGATE_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="AFFECTGATE_", extra="forbid", frozen=True)

    project_root: Path = Field(
        default_factory=_find_project_root,
        description="Folder holding the declarative content: model_zoo/, evaluators/, policies/, flows/.",
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
    audit_retention_days: int = Field(
        default=365,
        ge=183,
        description="Minimum days audit events are kept (EU AI Act Art. 12/19: at least six months). The chain is "
        "append-only: nothing deletes events, so this is a floor that exports and operators must respect.",
    )
    actor: str = Field(default="affectgate-gate", description="Actor name written into audit events.")
    ort_threads: int = Field(default=2, ge=1, description="onnxruntime intra-op threads.")
    batch_size: int = Field(default=16, ge=1, description="Clips per onnxruntime batch.")
    seed: int = Field(default=0, description="Seed for data generation and training.")
    clip_cache: bool = Field(
        default=True,
        description="Keep decoded clips (uint8 .npy, keyed by frame files' names, sizes and mtimes) in "
        "<workspace>/cache/clips so repeated evaluations of the same frames skip JPEG decoding.",
    )
    dashboard_credentials: Path = Field(
        default=Path("dashboards/credentials.example.yaml"),
        description="streamlit-authenticator YAML (bcrypt-hashed passwords, roles per user) the dashboard logs in "
        "against; the default ships demo users only: point it at your own file in a real deployment.",
    )
    dashboard_auth: Literal["password", "oidc"] = Field(
        default="password",
        description="Dashboard login: 'password' (the credentials file) or 'oidc' (Streamlit's st.login with the "
        "[auth] section of .streamlit/secrets.toml; roles are looked up by e-mail in the credentials file).",
    )
    dashboard_biometric_roles: tuple[str, ...] = Field(
        default=("ml-engineer", "compliance-officer"),
        description="Dashboard roles allowed to see raw face frames (biometric data, GDPR Art. 9); others never do.",
    )

    def resolve(self, path: Path) -> Path:
        """A path relative to the project root made absolute."""
        return path if path.is_absolute() else (self.project_root / path).resolve()

    @property
    def workspace_dir(self) -> Path:
        """Absolute workspace folder."""
        return self.resolve(self.workspace)

    @property
    def data_dir(self) -> Path:
        """Absolute data root."""
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
