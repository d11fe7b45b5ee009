"""Evaluation suites: versioned YAML files in the project's ``evaluators/`` folder."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from affectgate.core.errors import AffectgateError


class SuiteEntry(BaseModel):
    """One evaluator of a suite with its parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(description="Registered evaluator name.")
    params: dict[str, str | int | float | bool | list[str] | None] = Field(
        default_factory=dict, description="Keyword parameters passed to the evaluator."
    )


class Suite(BaseModel):
    """A versioned list of evaluators."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    suite: str = Field(description="Suite name, equal to the file stem.")
    version: str = Field(description="Suite version; part of every report.")
    description: str = Field(default="", description="What the suite is for.")
    evaluators: tuple[SuiteEntry, ...] = Field(min_length=1, description="Evaluators in run order.")
    training_fit: bool = Field(
        default=False,
        description="A training-fit report: the gate may run it on the model's training data, and every decision "
        "on it is a block (it can never promote).",
    )


def load_suite(*, name: str, project_root: Path | None = None, folder: Path | None = None) -> Suite:
    """Load suite ``name``: from ``folder`` when given, else the user project's ``suites/<name>.yaml``, else the
    built-in ``evaluators/<name>.yaml``. Unknown names and fields are errors naming the file."""
    if folder is None:
        from affectgate.project.content import find

        path = find(project_root=project_root, kind="suites", name=f"{name}.yaml", available=None)
        folder = path.parent
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        close = difflib.get_close_matches(name, known, n=1)
        raise AffectgateError(
            f"unknown suite {name!r} (no {path})",
            fix=f"did you mean {close[0]!r}?" if close else f"known suites: {', '.join(known) or 'none'}",
        )
    try:
        suite = Suite.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise AffectgateError(f"invalid suite {path}: {str(exc).splitlines()[0:3]}") from None
    if suite.suite != name:
        raise AffectgateError(f"suite file {path} declares suite: {suite.suite!r}", fix=f"set suite: {name}")
    return suite
