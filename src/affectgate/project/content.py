"""Where declarative content comes from: the user's project first, then the content built into affectgate.

Built-in content is the repository's top-level folders (``policies/``, ``evaluators/``, ``model_zoo/``,
``flows/``, ``dashboards/``): the single source, shipped inside the wheel as package data under
``affectgate/_builtin/`` (the build copies them, see ``setup.py``) and read in place from a source
checkout. A user project (``affectgate init``) overlays its own files:

=============  ==============================  =================================
kind           user project                    built-in
=============  ==============================  =================================
contexts       ``contexts/<id>.yaml``          ``policies/contexts/<id>.yaml``
packs          ``policies/<pack>/pack.yaml``   ``policies/<pack>/pack.yaml``
suites         ``suites/<name>.yaml``          ``evaluators/<name>.yaml``
targets        ``suites/targets.yaml``         ``evaluators/targets.yaml``
pricing        ``suites/pricing.yaml``         ``evaluators/pricing.yaml``
model_zoo      ``model_zoo/<arch>/card.yaml``  ``model_zoo/<arch>/card.yaml``
flows          (built-in only)                 ``flows/<name>.py``
dashboards     (built-in only)                 ``dashboards/app.py``
=============  ==============================  =================================

The user's file wins where both have the same id; :func:`origin_of` says where a file came from
("built-in affectgate 0.1.0" or "user project: contexts/x.yaml") so lint and explain can show it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from affectgate import __version__
from affectgate.core.errors import AffectgateError

Kind = Literal["contexts", "packs", "suites", "targets", "pricing", "model_zoo", "flows", "dashboards"]

#: The repository's top-level content folders that the wheel carries.
BUILTIN_FOLDERS: tuple[str, ...] = ("policies", "evaluators", "model_zoo", "flows", "dashboards")

#: kind -> (folder in a user project or None, folder of the built-in content)
_LAYOUT: dict[str, tuple[str | None, str]] = {
    "contexts": ("contexts", "policies/contexts"),
    "packs": ("policies", "policies"),
    "suites": ("suites", "evaluators"),
    "targets": ("suites", "evaluators"),
    "pricing": ("suites", "evaluators"),
    "model_zoo": ("model_zoo", "model_zoo"),
    "flows": (None, "flows"),
    "dashboards": (None, "dashboards"),
}

_PACKAGE = Path(__file__).resolve().parents[1]


class ContentError(AffectgateError):
    """A piece of declarative content (context, pack, suite, card, targets, pricing) that cannot be found."""


@lru_cache(maxsize=1)
def builtin_root() -> Path:
    """The folder holding the built-in content folders: the wheel's ``affectgate/_builtin``, else the checkout.

    An installed wheel carries them as package data; an editable install or a source checkout reads the
    repository's own top-level folders (two levels above ``src/affectgate``).
    """
    packaged = _PACKAGE / "_builtin"
    if (packaged / "policies").is_dir():
        return packaged
    checkout = _PACKAGE.parents[1]
    if all((checkout / name).is_dir() for name in BUILTIN_FOLDERS):
        return checkout
    raise ContentError(
        f"affectgate's built-in content is missing (looked in {packaged} and {checkout})",
        fix="reinstall affectgate from its wheel (pip install --force-reinstall affectgate)",
    )


def builtin_label() -> str:
    """How built-in content is named in lint, explain and reports."""
    return f"built-in affectgate {__version__}"


def builtin_dir(kind: Kind) -> Path:
    """The built-in folder of ``kind``."""
    return builtin_root() / _LAYOUT[kind][1]


@dataclass(frozen=True)
class ContentRoot:
    """One folder content of a kind is looked up in, with the name of where it comes from."""

    path: Path
    origin: Literal["user", "built-in"]


def roots(*, project_root: Path | None, kind: Kind) -> tuple[ContentRoot, ...]:
    """Folders to look in for ``kind``, user project first; a user folder that is the built-in one counts once."""
    user_name, _ = _LAYOUT[kind]
    found: list[ContentRoot] = []
    builtin = builtin_dir(kind)
    if project_root is not None and user_name is not None:
        user = project_root / user_name
        if user.is_dir() and user.resolve() != builtin.resolve():
            found.append(ContentRoot(path=user, origin="user"))
    if builtin.is_dir():
        found.append(ContentRoot(path=builtin, origin="built-in"))
    return tuple(found)


def origin_of(*, path: Path, project_root: Path | None) -> str:
    """``built-in affectgate X.Y.Z`` or ``user project: <path relative to the project>`` for a content file."""
    resolved = path.resolve()
    try:
        rel = resolved.relative_to(builtin_root().resolve())
        return f"{builtin_label()} ({rel.as_posix()})"
    except ValueError:
        pass
    if project_root is not None:
        try:
            return f"user project: {resolved.relative_to(project_root.resolve()).as_posix()}"
        except ValueError:
            pass
    return str(path)


def find(*, project_root: Path | None, kind: Kind, name: str, available: Iterable[str] | None = None) -> Path:
    """The file ``name`` (relative to the kind's folder) from the first root that has it, else a ContentError.

    The error lists the ids available (``available``, default: every file of the same suffix in every root)
    and suggests the closest.
    """
    for root in roots(project_root=project_root, kind=kind):
        candidate = root.path / name
        if candidate.is_file():
            return candidate
    known = sorted(set(available) if available is not None else _available(project_root=project_root, kind=kind))
    close = difflib.get_close_matches(Path(name).stem if "/" not in name else name.split("/")[0], known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    where = " and ".join(str(r.path) for r in roots(project_root=project_root, kind=kind)) or "nowhere"
    raise ContentError(
        f"{_NOUN[kind]} {name!r} not found (looked in {where})",
        fix=f"{hint}available: {', '.join(known) if known else 'none'}",
    )


_NOUN: dict[str, str] = {
    "contexts": "deployment context",
    "packs": "policy pack",
    "suites": "evaluation suite",
    "targets": "targets file",
    "pricing": "pricing file",
    "model_zoo": "model card",
    "flows": "flow",
    "dashboards": "dashboard file",
}


def _available(*, project_root: Path | None, kind: Kind) -> list[str]:
    ids: set[str] = set()
    for root in roots(project_root=project_root, kind=kind):
        if kind in ("packs", "model_zoo"):
            marker = "pack.yaml" if kind == "packs" else "card.yaml"
            ids.update(p.parent.name for p in root.path.glob(f"*/{marker}"))
        elif kind in ("flows",):
            ids.update(p.stem for p in root.path.glob("*.py"))
        else:
            ids.update(p.stem for p in root.path.glob("*.yaml"))
    return sorted(ids)


def available(*, project_root: Path | None, kind: Kind) -> list[str]:
    """Every id of ``kind`` over the user project and the built-in content."""
    return _available(project_root=project_root, kind=kind)
