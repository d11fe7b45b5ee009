"""Build hook: the wheel carries the built-in content folders as package data (``affectgate/_builtin/``).

The top-level folders ``policies/``, ``evaluators/``, ``model_zoo/``, ``flows/`` and ``dashboards/`` stay
the single source of the built-in content; ``build_py`` copies them into the built package, so the
content is versioned with the package and nothing is copied by hand. An editable install reads them
in place (``affectgate.project.content.builtin_root``). Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
CONTENT = ("policies", "evaluators", "model_zoo", "flows", "dashboards")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".streamlit", "node_modules", "*.onnx", "*.pt")


class BuildWithContent(build_py):
    """``build_py`` plus the built-in content folders under ``affectgate/_builtin``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the folders in place
        target = Path(self.build_lib) / "affectgate" / "_builtin"
        for name in CONTENT:
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(HERE / name, dest, ignore=IGNORE)


setup(cmdclass={"build_py": BuildWithContent})
