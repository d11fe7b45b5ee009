"""The table of evaluators and the decorator that fills it (duplicates raise); looking one up and running it is
:mod:`affectgate.evaluators.lookup`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from affectgate.core.records import EvalResult

if TYPE_CHECKING:
    from affectgate.core.records import Candidate
    from affectgate.datasets.selection import EvalSplit


@dataclass(frozen=True)
class ModelInputs:
    """What an evaluator that runs the model itself (robustness, latency) gets besides the predictions.

    An evaluator asks for it by having a keyword parameter ``model``; the others never see it.
    """

    candidate: Candidate
    split: EvalSplit  # the clips the predictions were made on (same order as the predictions' rows)
    threads: int = 2
    batch_size: int = 16
    clip_cache: Path | None = None  # folder of decoded clips shared by every pass over the same frames


EvaluatorFn = Callable[..., EvalResult]
_EVALUATORS: dict[str, EvaluatorFn] = {}


def register_evaluator(name: str) -> Callable[[EvaluatorFn], EvaluatorFn]:
    """Register ``fn(*, predictions, params[, model]) -> EvalResult`` under ``name``; duplicates raise.

    An evaluator with a ``model`` keyword parameter receives :class:`ModelInputs`; run without one it
    fails (the report says why) instead of being skipped.
    """

    def wrap(fn: EvaluatorFn) -> EvaluatorFn:
        if name in _EVALUATORS:
            raise ValueError(f"evaluator {name!r} is registered twice")
        _EVALUATORS[name] = fn
        return fn

    return wrap


def registered() -> dict[str, EvaluatorFn]:
    """The evaluators registered so far (built-ins register on import, see :mod:`affectgate.evaluators.lookup`)."""
    return _EVALUATORS
