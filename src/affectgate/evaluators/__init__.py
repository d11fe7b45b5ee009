"""Evaluators: one module each, registered by name, pure functions of stored predictions."""

from affectgate.evaluators.lookup import get_evaluator, list_evaluators, needs_model, run_evaluator
from affectgate.evaluators.registry import EvaluatorFn, ModelInputs, register_evaluator
from affectgate.evaluators.suite import Suite, SuiteEntry, load_suite

__all__ = [
    "EvaluatorFn",
    "ModelInputs",
    "Suite",
    "SuiteEntry",
    "get_evaluator",
    "list_evaluators",
    "needs_model",
    "load_suite",
    "register_evaluator",
    "run_evaluator",
]
