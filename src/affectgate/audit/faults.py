"""TEST-ONLY fault points: ``AFFECTGATE_FAULT_POINT=<name>[:<n>]`` kills the process (SIGKILL) at the n-th hit.

Inert in production: with the setting unset (the default) :func:`hit` returns at once. The fault-injection
suite (``make faults``, ``tests/faults/``) sets it on a gate subprocess to die exactly at a step boundary,
as a power cut or an OOM kill would. Points (see docs/reliability.md): ``evaluation.done`` (after the
evaluation was logged, before MLflow registration), ``registration.done`` (after the version was
registered, before ``evaluation.completed``), ``decision.done`` (after ``decision.made``),
``alias.intent`` (after the intent event, before the alias moves), ``alias.moved`` (after the alias
moved, before ``promotion``), ``audit.torn`` (half an event line written), ``audit.anchor`` (the line
written, the head not yet re-signed), ``mlflow.init`` (inside MLflow's first-use schema creation).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

#: Every fault point the code defines (an unknown name in the setting never fires: a typo is visible here).
POINTS: tuple[str, ...] = (
    "evaluation.done",
    "registration.done",
    "decision.done",
    "alias.intent",
    "alias.moved",
    "audit.torn",
    "audit.anchor",
    "mlflow.init",
)

_hits: Counter[str] = Counter()


def armed(setting: str | None, name: str) -> bool:
    """True when ``setting`` (``name`` or ``name:n``) asks to fail at this hit of ``name`` (counts the hit)."""
    if not setting:
        return False
    want, _, nth = setting.partition(":")
    if want != name:
        return False
    _hits[name] += 1
    return _hits[name] == (int(nth) if nth.isdigit() else 1)


def die() -> None:
    """SIGKILL this process (no cleanup, no atexit, no finally: what a power cut leaves)."""
    os.kill(os.getpid(), signal.SIGKILL)


def hit(setting: str | None, name: str) -> None:
    """Die here when the fault setting names this point (TEST-ONLY; a no-op when unset)."""
    if armed(setting, name):
        die()
