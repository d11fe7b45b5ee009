"""Prefect adapter: configures Prefect from our settings and loads the flows in the project's ``flows/``.

Prefect reads its own settings from the environment, so this module exports them (workspace-local
PREFECT_HOME, the API URL when one is configured, else Prefect's ephemeral server) before
importing Prefect.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from affectgate.project.settings import Settings


def configure_prefect(settings: Settings) -> None:
    """Point Prefect at the workspace (ephemeral server by default) before it is imported."""
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    else:
        os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
        # Prefect waits 20 s for its ephemeral server by default; a loaded 2-core machine can need more
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def load_flow_module(*, settings: Settings, name: str) -> ModuleType:
    """Import the built-in ``flows/<name>.py`` (package data of the installed affectgate)."""
    from affectgate.project.content import find

    path = find(project_root=None, kind="flows", name=f"{name}.py")
    configure_prefect(settings)
    mod_name = f"affectgate_flows_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def get_flow(*, settings: Settings, module: str, flow: str) -> Callable[..., Any]:
    """A flow object from ``flows/<module>.py``."""
    return getattr(load_flow_module(settings=settings, name=module), flow)
