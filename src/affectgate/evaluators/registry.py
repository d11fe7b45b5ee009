"""One loud registry of evaluators; running one turns any crash into a failed EvalResult."""

from __future__ import annotations

import difflib
import inspect
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from affectgate.records import EvalResult

if TYPE_CHECKING:
    from affectgate.datasets.dfew import DFEWSplit
    from affectgate.records import Candidate


@dataclass(frozen=True)
class ModelInputs:
    """What an evaluator that runs the model itself (robustness, latency) gets besides the predictions.

    An evaluator asks for it by having a keyword parameter ``model``; the others never see it.
    """

    candidate: Candidate
    split: DFEWSplit  # the clips the predictions were made on (same order as the predictions' rows)
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


def _load_builtins() -> None:
    from affectgate.evaluators import (  # noqa: F401
        abstention,
        accuracy,
        drift,  # noqa: F401
        engagement,  # noqa: F401
        fairness,
        latency,  # noqa: F401
        quantization,
        robustness,
    )


def get_evaluator(name: str) -> EvaluatorFn:
    """The evaluator registered as ``name``; unknown names raise KeyError with a suggestion."""
    _load_builtins()
    if name not in _EVALUATORS:
        close = difflib.get_close_matches(name, list(_EVALUATORS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(_EVALUATORS))}"
        raise KeyError(f"unknown evaluator {name!r}{hint}")
    return _EVALUATORS[name]


def list_evaluators() -> tuple[str, ...]:
    """Names of every registered evaluator."""
    _load_builtins()
    return tuple(sorted(_EVALUATORS))


def needs_model(name: str) -> bool:
    """True when the evaluator registered as ``name`` runs the model itself (has a ``model`` parameter)."""
    return "model" in inspect.signature(get_evaluator(name)).parameters


def run_evaluator(
    *, name: str, predictions: pd.DataFrame, params: Mapping[str, Any], model: ModelInputs | None = None
) -> EvalResult:
    """Run one evaluator; an exception becomes ``EvalResult(status='failed')`` naming the cause."""
    try:
        fn = get_evaluator(name)
        if needs_model(name):
            if model is None:
                raise ValueError(f"evaluator {name!r} runs the model and was given none")
            return fn(predictions=predictions, params=dict(params), model=model)
        return fn(predictions=predictions, params=dict(params))
    except Exception as exc:  # a crash is data, not a lost run
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})" if last else ""
        return EvalResult(
            evaluator=name,
            status="failed",
            error=f"{type(exc).__name__}: {exc}{where}",
            params={k: v for k, v in params.items() if isinstance(v, str | int | float | bool) or v is None},
        )
