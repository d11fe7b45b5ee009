"""``affectgate init``: a user project — settings, an example context, overlay folders, data/, a CI workflow.

The project root is the folder of the settings file (``affectgate.toml``, or a ``[tool.affectgate]`` table
appended to an existing ``pyproject.toml``); every command finds it from there (see
:mod:`affectgate.project.settings`). Existing files are never overwritten: they are listed as kept.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from affectgate.core.errors import AffectgateError
from affectgate.project.content import builtin_dir
from affectgate.project.settings import PYPROJECT, SETTINGS_FILE, _has_tool_table

#: The built-in context the example is made from, and the example's id.
EXAMPLE_SOURCE = "eu-telehealth"
EXAMPLE_ID = "example-telehealth"
WORKFLOW = Path(".github/workflows/model-release.yml")


@dataclass
class InitResult:
    """What ``init`` wrote and what it left alone."""

    root: Path
    settings_file: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def _template(name: str) -> str:
    return resources.files("affectgate.project").joinpath("templates", name).read_text(encoding="utf-8")


def example_context() -> str:
    """The example context: the built-in telehealth context, each field preceded by its schema description."""
    from affectgate.core.records import UseContext

    source = builtin_dir("contexts") / f"{EXAMPLE_SOURCE}.yaml"
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["id"] = EXAMPLE_ID
    data["title"] = "EXAMPLE (edit me): " + str(data.get("title", ""))
    lines = [
        "# An example deployment context, copied from affectgate's built-in eu-telehealth context.",
        "# Edit every field to describe YOUR deployment; `affectgate policy explain --context "
        f"{EXAMPLE_ID}` shows which",
        "# facts decided each rule. Contexts in this folder override built-in ones with the same id.",
        "",
    ]
    for key, value in data.items():
        info = UseContext.model_fields.get(key)
        if info is not None and info.description:
            lines += [f"# {part}" for part in textwrap.wrap(info.description, width=108)]
        lines.append(yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, width=110).rstrip())
    return "\n".join(lines) + "\n"


def _write(result: InitResult, path: Path, text: str) -> None:
    if path.exists():
        result.kept.append(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    result.written.append(path)


def init_project(*, root: Path, use_pyproject: bool = False) -> InitResult:
    """Write a project at ``root`` (created if missing); never overwrites a file.

    ``use_pyproject``: put the settings in a ``[tool.affectgate]`` table of the existing ``pyproject.toml``
    instead of ``affectgate.toml``.
    """
    root = root.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise AffectgateError(f"{root} is a file, not a folder", fix="pass a folder to `affectgate init`")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AffectgateError(f"cannot create {root}: {exc.strerror}", fix="choose a folder you can write") from None
    pyproject = root / PYPROJECT
    if use_pyproject:
        if not pyproject.is_file():
            raise AffectgateError(f"no {pyproject} to add a [tool.affectgate] table to", fix="drop --pyproject")
        settings = pyproject
    else:
        settings = root / SETTINGS_FILE
    result = InitResult(root=root, settings_file=settings)
    try:
        if use_pyproject:
            if _has_tool_table(pyproject):
                result.kept.append(pyproject)
            else:
                body = _template("affectgate.toml")
                with pyproject.open("a", encoding="utf-8") as fh:
                    fh.write("\n[tool.affectgate]\n" + body)
                result.written.append(pyproject)
        else:
            _write(result, settings, _template("affectgate.toml"))
        _write(result, root / "contexts" / f"{EXAMPLE_ID}.yaml", example_context())
        _write(result, root / "policies" / "README.md", _template("policies.README.md"))
        _write(result, root / "suites" / "README.md", _template("suites.README.md"))
        _write(result, root / "data" / ".gitignore", _template("data.gitignore"))
        _write(result, root / WORKFLOW, _template("model-release.yml"))
        gitignore = root / ".gitignore"
        if gitignore.is_file() and ".affectgate/" not in gitignore.read_text(encoding="utf-8").split():
            with gitignore.open("a", encoding="utf-8") as fh:
                fh.write("\n" + _template("project.gitignore"))
            result.written.append(gitignore)
        else:
            _write(result, gitignore, _template("project.gitignore"))
    except OSError as exc:
        raise AffectgateError(
            f"cannot write the project in {root}: {exc.strerror} ({exc.filename})", fix="choose a folder you can write"
        ) from None
    return result
