"""A user's mistake never ends in a traceback: outside a project, with a missing or wrong file, every command
prints what is wrong and how to fix it and exits non-zero (3 for the gate)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AFFECTGATE_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "affectgate", *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=300
    )


OUTSIDE = [
    (("gate", "--model", "m", "--data", "d", "--context", "eu-telehealth"), 3),
    (("evaluate", "--candidate", "m"), 3),
    (("data", "synth", "--tiny"), None),
    (("data", "validate", "--format", "dfew", "nowhere"), None),
    (("zoo", "card", "no_such_arch"), None),
    (("zoo", "train", "no_such_arch", "--data", "d"), None),
    (("policy", "check", "--context", "no-such-context"), None),
    (("policy", "explain", "no.such.rule"), None),
    (("audit", "verify"), None),
    (("audit", "tail"), None),
    (("review", "list"), None),
    (("registry", "reconcile"), None),
]


@pytest.mark.parametrize(("args", "code"), OUTSIDE, ids=[" ".join(a[:2]) for a, _ in OUTSIDE])
def test_outside_a_project_no_traceback(tmp_path: Path, args: tuple[str, ...], code: int | None) -> None:
    """Each command run in an empty folder names the problem and the fix, exits non-zero, prints no traceback."""
    proc = _run(tmp_path, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    if code is not None:
        assert proc.returncode == code, out
    assert "Traceback" not in out
    assert "error" in out.lower()
    assert "fix" in out.lower() or "did you mean" in out.lower() or "available" in out.lower(), out


def test_init_then_read_only_commands_work_outside_the_checkout(tmp_path: Path) -> None:
    """`init` writes the project; zoo list and the example context's check run from the built-in content."""
    assert _run(tmp_path, "init").returncode == 0
    assert (tmp_path / "affectgate.toml").is_file()
    zoo = _run(tmp_path / "contexts", "zoo", "list")  # from a subfolder: the root is found from the settings file
    assert zoo.returncode == 0 and "mobilenet_v2_frame" in zoo.stdout, zoo.stderr
    again = _run(tmp_path, "init")
    assert again.returncode == 0 and "kept" in again.stdout  # never overwrites


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("workspace = '.affectgate'\nno_such_setting = 1\n", "no_such_setting"),
        ("workspace = [unclosed\n", "not valid TOML"),
        ("ort_threads = 'many'\n", "ort_threads"),
    ],
    ids=["unknown field", "bad toml", "wrong type"],
)
def test_a_bad_settings_file_is_named(tmp_path: Path, content: str, needle: str) -> None:
    """An unknown field, broken TOML or a wrong type in affectgate.toml: exit 3 naming the field and the file."""
    (tmp_path / "affectgate.toml").write_text(content, encoding="utf-8")
    proc = _run(tmp_path, "audit", "verify")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out
    assert "Traceback" not in out
    assert needle in out and "affectgate.toml" in out


def test_settings_file_in_pyproject(tmp_path: Path) -> None:
    """`init --pyproject` adds a [tool.affectgate] table to an existing pyproject.toml; the root is found from it."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n", encoding="utf-8")
    assert _run(tmp_path, "init", "--pyproject").returncode == 0
    assert not (tmp_path / "affectgate.toml").exists()
    assert "[tool.affectgate]" in (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    from affectgate.project.settings import find_project_root

    assert find_project_root(tmp_path / "contexts") == tmp_path.resolve()
