"""Look up and run registered evaluators: the built-ins are one table of modules, imported on first use.

Running one turns any crash into a failed :class:`~affectgate.core.records.EvalResult` (a crash is data,
not a lost run).
"""

from __future__ import annotations

import difflib
import inspect
import traceback
from collections.abc import Mapping
from typing import Any

import pandas as pd

from affectgate.core.records import EvalResult
from affectgate.evaluators.registry import EvaluatorFn, ModelInputs, registered


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
    if name not in registered():
        close = difflib.get_close_matches(name, list(registered()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(registered()))}"
        raise KeyError(f"unknown evaluator {name!r}{hint}")
    return registered()[name]


def list_evaluators() -> tuple[str, ...]:
    """Names of every registered evaluator."""
    _load_builtins()
    return tuple(sorted(registered()))


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
