"""Shared fixtures: an isolated workspace with a tiny synthetic set and a trained, exported demo model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from affectgate.project.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """The session runs as a CI job with an OIDC token naming a person (tests/_identity.py)."""
    from _identity import install_session_identity

    install_session_identity()


@dataclass(frozen=True)
class Workspace:
    """A project wired to temporary workspace and data folders."""

    settings: Settings
    data: Path
    model: Path


def _env_for(tmp: Path) -> dict[str, str]:
    return {
        "AFFECTGATE_PROJECT_ROOT": str(ROOT),
        "AFFECTGATE_WORKSPACE": str(tmp / ".affectgate"),
        "AFFECTGATE_DATA_ROOT": str(tmp / "data"),
        "PREFECT_HOME": str(tmp / ".affectgate" / "prefect"),
    }


@contextmanager
def own_workspace(tmp: Path, mp: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings of a workspace and data root of their own under ``tmp`` (env set on ``mp``), torch on 1 thread."""
    import torch

    for k, v in _env_for(tmp).items():
        mp.setenv(k, v)
    get_settings.cache_clear()
    (tmp / "data").mkdir(exist_ok=True)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield get_settings()
    finally:
        torch.set_num_threads(before)
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Workspace:
    """Tiny synthetic DFEW set, the demo CNN trained on it and exported (once per test session)."""
    from affectgate.datasets.synth import generate_dfew
    from affectgate.demo.tiny import TINY_TRAIN_CONFIG, tiny_synth_config
    from affectgate.zoo.build import export_zoo_model, train_zoo_model

    tmp = tmp_path_factory.mktemp("ws")
    env = _env_for(tmp)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    data = tmp / "data" / "synth_dfew_tiny"
    generate_dfew(root=data, config=tiny_synth_config(seed=0))
    out = settings.models_dir / "mobilenet_v2_frame"
    train_zoo_model(
        project_root=ROOT, arch="mobilenet_v2_frame", data=data, fold=1, out=out, seed=0, config=TINY_TRAIN_CONFIG
    )
    export_zoo_model(project_root=ROOT, arch="mobilenet_v2_frame", out=out)
    yield Workspace(settings=settings, data=data, model=out)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _settings_read_afresh_after_each_test() -> Iterator[None]:
    """The cached settings are dropped after every test, after its monkeypatched environment is restored (an
    autouse fixture is set up first, so torn down last): no test sees another test's workspace or data root."""
    yield
    get_settings.cache_clear()
