"""Evaluators: one module each, registered by name, pure functions of stored predictions."""

from affectgate.evaluators.registry import (
    EvaluatorFn,
    get_evaluator,
    list_evaluators,
    register_evaluator,
    run_evaluator,
)
from affectgate.evaluators.suite import Suite, SuiteEntry, load_suite

__all__ = [
    "EvaluatorFn",
    "Suite",
    "SuiteEntry",
    "get_evaluator",
    "list_evaluators",
    "load_suite",
    "register_evaluator",
    "run_evaluator",
]
